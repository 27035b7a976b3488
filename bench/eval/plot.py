#!/usr/bin/env python3
"""Draws the offline-evaluation figures of docs/evaluation.md as SVG.

Reads every build/eval/*.json: the last line of `vitrine eval` saved as a
file (it has "k" and "models" with "params"), and the reference's report
(reference/eval_reference.py writes build/eval/reference.json; it has
"protocol"). Writes

  docs/img/eval-models.svg   Recall@10, Recall@20, NDCG@10 and MAP@10 of
                             every model, best NDCG@10 first
  docs/img/eval-by-k.svg     NDCG@k for k = 5, 10, 20, one line per model

It also prints the user-by-user (paired) difference of NDCG@10 between the
best vitrine model and the best reference model, with its standard error,
from the two ranking files (vitrine's: build/eval/vitrine-rankings.<model>.jsonl,
what `vitrine eval --rankings build/eval/vitrine-rankings.jsonl` writes).

The reference reports NDCG at 10 only; its NDCG@5 and @20 are computed here
from its ranking files (build/eval/rankings/<model>.jsonl) and the test
split (--data), with the definition of docs/evaluation.md, when both are
there; otherwise its line has the one point.

Standard library only; the SVG is written by hand.

Usage: bench/eval/plot.py [--eval DIR] [--data DIR] [--out DIR]
"""
import argparse
import glob
import json
import math
import os
import sys

METRICS = ("recall@10", "recall@20", "ndcg@10", "map@10")
COLOURS = ("#4e79a7", "#a0cbe8", "#e15759", "#f28e2b")
LINE_COLOURS = ("#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2",
                "#edc948", "#ff9da7", "#9c755f", "#bab0ac")
KS = (5, 10, 20)
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


def esc(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def positives(data_dir):
    """user -> set of relevant test items (rating >= 4, not among train items)."""
    seen, pos = {}, {}
    with open(os.path.join(data_dir, "train.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                seen.setdefault(e["user_id"], set()).add(e["item_id"])
    with open(os.path.join(data_dir, "test.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                if (e["type"] == "rating" and e["value"] >= 4.0
                        and e["item_id"] not in seen.get(e["user_id"], ())):
                    pos.setdefault(e["user_id"], set()).add(e["item_id"])
    return pos


def ndcg_by_user(path, pos, k):
    """user -> NDCG@k of the user's list in a rankings file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            p = pos.get(r["user_id"])
            if not p:
                continue
            dcg = sum(1 / math.log2(i + 2) for i, it in enumerate(r["items"][:k]) if it in p)
            idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(p))))
            out[r["user_id"]] = dcg / idcg
    return out


def ndcg_from_rankings(path, pos, k):
    by_user = ndcg_by_user(path, pos, k)
    return sum(by_user.values()) / len(by_user) if by_user else None


def paired(eval_dir, data_dir, rows):
    """The best vitrine model against the best reference model, user by
    user: the mean difference of NDCG@10 and its standard error."""
    best = {}
    for label, vals in rows:
        side, _, name = label.partition(" ")
        if side not in best and vals.get("ndcg@10") is not None:
            best[side] = name
    if len(best) < 2:
        return None
    files = {"vitrine": os.path.join(eval_dir, "vitrine-rankings.%s.jsonl" % best["vitrine"]),
             "reference": os.path.join(eval_dir, "rankings", best["reference"] + ".jsonl")}
    if not all(os.path.exists(f) for f in files.values()) or not os.path.isdir(data_dir):
        return None
    pos = positives(data_dir)
    a = ndcg_by_user(files["vitrine"], pos, 10)
    b = ndcg_by_user(files["reference"], pos, 10)
    users = sorted(set(a) & set(b))
    if len(users) < 2:
        return None
    d = [a[u] - b[u] for u in users]
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1))
    return ("vitrine %s - reference %s: NDCG@10 difference %+.4f, standard error %.4f over "
            "%d users (paired)" % (best["vitrine"], best["reference"], mean,
                                   sd / math.sqrt(len(d)), len(users)))


def load(eval_dir, data_dir):
    """[(label, {metric: value})] from every report in eval_dir."""
    rows = []
    pos = None
    for path in sorted(glob.glob(os.path.join(eval_dir, "*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                rep = json.load(f)
        except (OSError, ValueError) as e:
            print("plot: skipping %s: %s" % (path, e), file=sys.stderr)
            continue
        if not isinstance(rep, dict) or "models" not in rep:
            continue
        is_ref = "protocol" in rep
        for name, m in rep["models"].items():
            vals = {k: v for k, v in m.items() if isinstance(v, (int, float))}
            if is_ref:
                rk = os.path.join(eval_dir, "rankings", name + ".jsonl")
                if os.path.exists(rk) and os.path.isdir(data_dir):
                    if pos is None:
                        pos = positives(data_dir)
                    for k in KS:
                        vals.setdefault("ndcg@%d" % k, ndcg_from_rankings(rk, pos, k))
            label = ("reference " if is_ref else "vitrine ") + name
            rows.append((label, vals))
    rows.sort(key=lambda r: -(r[1].get("ndcg@10") or 0))
    return rows


def nice_max(v):
    """A round axis end a little above v."""
    if v <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(v))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * step >= v * 1.05:
            return m * step
    return 10 * step


def bars_svg(rows):
    left, right, top, row_h, bar_h = 190, 30, 50, 64, 13
    width = 820
    plot_w = width - left - right
    height = top + row_h * len(rows) + 40
    vmax = nice_max(max((r[1].get(m) or 0) for r in rows for m in METRICS))
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" %s font-size="12">' % (width, height, width, height, FONT),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14" font-weight="bold">Offline evaluation on '
           'MovieLens: every metric by model (higher is better)</text>' % left]
    # legend
    x = left
    for m, c in zip(METRICS, COLOURS):
        out.append('<rect x="%d" y="30" width="12" height="12" fill="%s"/>' % (x, c))
        out.append('<text x="%d" y="40">%s</text>' % (x + 16, esc(m)))
        x += 110
    # grid
    for t in range(6):
        v = vmax * t / 5
        gx = left + plot_w * t / 5
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' %
                   (gx, top, gx, top + row_h * len(rows)))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%.3f</text>' %
                   (gx, top + row_h * len(rows) + 16, v))
    for i, (label, vals) in enumerate(rows):
        y0 = top + i * row_h + 5
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' %
                   (left - 8, y0 + 2 * bar_h + 2, esc(label)))
        for j, (m, c) in enumerate(zip(METRICS, COLOURS)):
            v = vals.get(m)
            if v is None:
                continue
            w = plot_w * v / vmax
            y = y0 + j * bar_h
            out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s">'
                       '<title>%s %s = %.4f</title></rect>' %
                       (left, y, w, bar_h - 2, c, esc(label), m, v))
            out.append('<text x="%.1f" y="%d" font-size="10" fill="#333">%.4f</text>' %
                       (left + w + 3, y + bar_h - 3, v))
    out.append('</svg>')
    return "\n".join(out) + "\n"


def by_k_svg(rows):
    left, right, top, bottom = 70, 230, 40, 50
    width, height = 820, 420
    plot_w, plot_h = width - left - right, height - top - bottom
    pts = [(label, [(k, vals.get("ndcg@%d" % k)) for k in KS]) for label, vals in rows]
    vmax = nice_max(max((v or 0) for _, p in pts for _, v in p))
    kx = {k: left + plot_w * i / (len(KS) - 1) for i, k in enumerate(KS)}

    def ypos(v):
        return top + plot_h * (1 - v / vmax)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" %s font-size="12">' % (width, height, width, height, FONT),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14" font-weight="bold">NDCG@k by cut-off k '
           '(MovieLens, higher is better)</text>' % left]
    for t in range(6):
        v = vmax * t / 5
        y = ypos(v)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' %
                   (left, y, left + plot_w, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end" fill="#555">%.3f</text>' %
                   (left - 6, y + 4, v))
    for k, x in kx.items():
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' %
                   (x, top, x, top + plot_h))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">k = %d</text>' %
                   (x, top + plot_h + 18, k))
    for i, (label, p) in enumerate(pts):
        c = LINE_COLOURS[i % len(LINE_COLOURS)]
        dash = ' stroke-dasharray="5,3"' if label.startswith("reference") else ""
        have = [(kx[k], ypos(v), k, v) for k, v in p if v is not None]
        if len(have) > 1:
            out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' %
                       (c, dash, " ".join("%.1f,%.1f" % (x, y) for x, y, _, _ in have)))
        for x, y, k, v in have:
            out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s NDCG@%d = '
                       '%.4f</title></circle>' % (x, y, c, esc(label), k, v))
        ly = top + 14 + i * 18
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>' %
                   (left + plot_w + 20, ly - 4, left + plot_w + 44, ly - 4, c, dash))
        out.append('<text x="%d" y="%d">%s</text>' % (left + plot_w + 50, ly, esc(label)))
    out.append('</svg>')
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--eval", default="build/eval", help="folder of the JSON reports")
    ap.add_argument("--data", default="data/movielens", help="the split, for reference NDCG@5/20")
    ap.add_argument("--out", default="docs/img")
    args = ap.parse_args()
    rows = load(args.eval, args.data)
    if not rows:
        sys.exit("plot: no reports with models in %s" % args.eval)
    os.makedirs(args.out, exist_ok=True)
    for name, svg in (("eval-models.svg", bars_svg(rows)), ("eval-by-k.svg", by_k_svg(rows))):
        path = os.path.join(args.out, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg)
        print("plot: wrote %s (%d models)" % (path, len(rows)))
    line = paired(args.eval, args.data, rows)
    if line:
        print("plot: " + line)


if __name__ == "__main__":
    main()
