#!/usr/bin/env python3
"""hnswlib_debian.py - Debian's python3-hnswlib as packaged (built without
AVX), for reference next to the natively compiled hnswlib_bench.cpp.

  hnswlib_debian.py BASE.fvecs QUERY.fvecs GT.ivecs M EFC EF1,EF2,... REPS

Same protocol as the other drivers; queries go as one batch on one thread.
"""
import json
import sys
import time

import hnswlib
import numpy as np


def read_vecs(path, dtype=np.float32):
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:].copy().view(dtype)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    base, qs = read_vecs(sys.argv[1]), read_vecs(sys.argv[2])
    gt = read_vecs(sys.argv[3], np.int32)
    try:  # how far the ties with the 10th nearest reach (see ann_bench.c)
        ties = np.clip(read_vecs(sys.argv[3] + ".ties", np.int32)[:, 0], 10, gt.shape[1])
    except FileNotFoundError:
        ties = np.full(len(gt), 10)
    truth = [set(gt[i, :ties[i]]) for i in range(len(gt))]
    M, efc, reps = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[7])
    rss0 = rss_bytes()
    ix = hnswlib.Index(space="ip", dim=base.shape[1])
    ix.init_index(max_elements=len(base), M=M, ef_construction=efc, random_seed=100)
    t0 = time.perf_counter()
    ix.add_items(base, num_threads=1)
    build = time.perf_counter() - t0
    rss = rss_bytes() - rss0
    for ef in (int(x) for x in sys.argv[6].split(",")):
        ix.set_ef(ef)
        qps = []
        for _ in range(reps):
            t = time.perf_counter()
            lab, _ = ix.knn_query(qs, k=10, num_threads=1)
            qps.append(len(qs) / (time.perf_counter() - t))
        hits = sum(len(set(lab[i]) & truth[i]) for i in range(len(qs)))
        qps.sort()
        print(json.dumps({"system": "hnswlib-debian", "M": M, "ef_construction": efc,
                          "ef": ef, "recall": round(hits / (10 * len(qs)), 4),
                          "qps": round(qps[reps // 2], 1), "build_s": round(build, 2),
                          "rss_mb": round(rss / 1048576, 1), "n": len(base)}), flush=True)


if __name__ == "__main__":
    main()
