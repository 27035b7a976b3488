#!/usr/bin/env python3
"""faiss_bench.py - the FAISS peer of bench/ann (Debian python3-faiss).

  faiss_bench.py BASE.fvecs QUERY.fvecs GT.ivecs M EFC EF1,EF2,... REPS

Same protocol as ann_bench.c's "hnsw" mode: IndexHNSWFlat with inner
product, built with one thread (OpenMP limited to 1), then for each efSearch
all queries are searched REPS times; queries/s is the median. The queries
go to FAISS as one batch on one thread, so no Python overhead is paid per
query. Prints one JSON line per ef, like the other drivers.
"""
import json
import sys
import time

import numpy as np
import faiss


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
    faiss.omp_set_num_threads(1)
    rss0 = rss_bytes()
    ix = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    ix.hnsw.efConstruction = efc
    t0 = time.perf_counter()
    ix.add(base)
    build = time.perf_counter() - t0
    rss = rss_bytes() - rss0
    for ef in (int(x) for x in sys.argv[6].split(",")):
        ix.hnsw.efSearch = ef
        qps = []
        for _ in range(reps):
            t = time.perf_counter()
            _, lab = ix.search(qs, 10)
            qps.append(len(qs) / (time.perf_counter() - t))
        hits = sum(len(set(lab[i]) & truth[i]) for i in range(len(qs)))
        qps.sort()
        print(json.dumps({"system": "faiss", "M": M, "ef_construction": efc, "ef": ef,
                          "recall": round(hits / (10 * len(qs)), 4),
                          "qps": round(qps[reps // 2], 1), "build_s": round(build, 2),
                          "rss_mb": round(rss / 1048576, 1), "n": len(base),
                          "build": faiss.get_compile_options()}), flush=True)


if __name__ == "__main__":
    main()
