#!/usr/bin/python3
"""Turns the RESULT lines bench/encoder/run collected into a Markdown table:
one row per model, text set, batch and thread count, with vitrine's and
each peer's texts per second and call latency (p50 / p99 ms), and the
ratio of vitrine's throughput to each peer's measured in the same run.
Each runtime's figures are the medians of its repetitions (one RESULT
line each); "load" is the 1-minute load average when the case started
(compare with the number of CPUs).

A second table gives the concurrent batch-1 callers cases (callers > 1):
vitrine as shipped (concurrent calls gathered into batches) against
vitrine with gathering off, measured in turn in the same run.

Usage: report.py RESULTS_FILE
"""
import statistics
import sys

PEERS = [("torch", "PyTorch"), ("onnxruntime", "ONNX Runtime"), ("tfjs", "TF.js")]
MODELS = {"use-lite": "USE-Lite", "minilm": "MiniLM-L6 shape"}
TEXTS = {"short": "short query", "desc": "description"}


def parse(path):
    """(model, texts, batch, threads) -> runtime -> the RESULT fields, with
    sent_s, p50_ms and p99_ms the medians over that runtime's lines."""
    runs = {}
    for line in open(path):
        if "RESULT" not in line:
            continue
        kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        key = (kv["model"], kv["texts"], int(kv["batch"]), int(kv["threads"]),
               int(kv.get("callers", "1")))
        rt = kv["runtime"]
        if kv.get("gather") == "off":
            rt = kv["runtime"] = "vitrine-nogather"
        runs.setdefault(key, {}).setdefault(rt, []).append(kv)
    rows = {}
    for key, by_rt in runs.items():
        for rt, lines in by_rt.items():
            r = dict(lines[-1])
            for f in ("sent_s", "p50_ms", "p99_ms"):
                r[f] = str(statistics.median(float(x[f]) for x in lines))
            r["reps"] = str(len(lines))
            r["load"] = ",".join(sorted({x.get("load", "?") for x in lines}))
            rows.setdefault(key, {})[rt] = r
    return rows


def cell(r):
    if not r:
        return "–"
    return "%s (%s / %s)" % (fmt_rate(float(r["sent_s"])), fmt_ms(r["p50_ms"]), fmt_ms(r["p99_ms"]))


def fmt_rate(x):
    return "%.0f" % x if x >= 10 else "%.1f" % x


def fmt_ms(s):
    x = float(s)
    return "%.0f" % x if x >= 100 else "%.1f" % x if x >= 10 else "%.2f" % x


def ratio_cell(a, b):
    ratio = float(a["sent_s"]) / float(b["sent_s"])
    # a near tie keeps a third decimal, so 0.997 does not read as 1.00
    return ("%.3f×" if "%.2f" % ratio == "1.00" else "%.2f×") % ratio


def concurrent_table(rows):
    keys = [k for k in rows if k[4] > 1]
    if not keys:
        return
    print()
    print("Concurrent callers, one text per call (vitrine; gathered = as shipped):")
    print()
    print("| model | texts | callers | threads | gathered texts/s (p50 / p99 ms) | "
          "not gathered texts/s (p50 / p99 ms) | gathered ÷ not | load |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for key in sorted(keys, key=lambda k: (list(MODELS).index(k[0]) if k[0] in MODELS else 9, k[4], k[3])):
        r = rows[key]
        on, off = r.get("vitrine"), r.get("vitrine-nogather")
        out = [MODELS.get(key[0], key[0]), TEXTS.get(key[1], key[1]), str(key[4]), str(key[3]),
               cell(on), cell(off), ratio_cell(on, off) if on and off else "–",
               on["load"] if on else "–"]
        print("| " + " | ".join(out) + " |")


def main():
    rows = parse(sys.argv[1])
    concurrent = {k: v for k, v in rows.items() if k[4] > 1}
    rows = {k: v for k, v in rows.items() if k[4] <= 1}
    present = [p for p in PEERS if any(p[0] in r for r in rows.values())]
    head = ["model", "texts", "batch", "threads", "vitrine texts/s (p50 / p99 ms)"]
    head += ["%s texts/s (p50 / p99 ms)" % name for _, name in present]
    head += ["vitrine ÷ %s" % name for _, name in present]
    head += ["load"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * 4 + ["---:"] * (len(head) - 4)) + "|")
    order = lambda k: (list(MODELS).index(k[0]) if k[0] in MODELS else 9,
                       list(TEXTS).index(k[1]) if k[1] in TEXTS else 9, k[2], k[3])
    for key in sorted(rows, key=order):
        r = rows[key]
        v = r.get("vitrine")
        out = [MODELS.get(key[0], key[0]), TEXTS.get(key[1], key[1]), str(key[2]), str(key[3]), cell(v)]
        out += [cell(r.get(p)) for p, _ in present]
        for p, _ in present:
            out.append(ratio_cell(v, r[p]) if v and r.get(p) else "–")
        out.append(v["load"] if v else "–")
        print("| " + " | ".join(out) + " |")
    notes = set()
    for r in list(rows.values()) + list(concurrent.values()):
        for p in r.values():
            if p["runtime"] == "vitrine":
                notes.add("vitrine kernel set: %s" % p.get("kernels"))
            if p["runtime"] == "torch":
                notes.add("PyTorch %s, intra-op threads as in the row, BLAS: %s" % (p.get("torch"), p.get("blas")))
            if p["runtime"] == "onnxruntime":
                notes.add("ONNX Runtime %s (onnxruntime-node), CPU provider, intra-op threads as in the row, inter-op 1" % p.get("ort"))
            if p["runtime"] == "tfjs":
                notes.add("TF.js %s, back-end %s (single-threaded)" % (p.get("tfjs"), p.get("backend")))
    for n in sorted(notes):
        print("\n- " + n, end="")
    print()
    concurrent_table(concurrent)


if __name__ == "__main__":
    main()
