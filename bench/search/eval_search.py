#!/usr/bin/env python3
"""eval_search.py - how well GET /v1/search answers hand-written English and
Chinese queries on the demo catalog, lexical (BM25) only, semantic only and
hybrid (the figures in docs/search.md).

Each query in bench/search/queries.json comes with a regular expression; a
result is relevant when its English title matches it. For each setting a
real ./vitrine server is started on a copy of the database with
search.semantic_weight set (0: BM25 only, 1: semantic only, in between: the
blend), and every query is asked twice: with the attribute boosts (what the
product serves) and without them (ignore= every kind taken from the text),
so the two halves of retrieval are compared on their own.

Usage: bench/search/eval_search.py --db DEMO.db [--weights 0,1,0.3,0.5,0.7]
(make the demo database with scripts/fetch-demo --db DEMO.db). Python 3
standard library only; prints a Markdown table.
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "http"))
from vitrine_client import Server, create_key  # noqa: E402

TEXT_KINDS = ("colour,material,brand,size,category,price,price_min,price_max,"
              "width_cm,depth_cm,height_cm,length_cm,dim_cm")


def run(db, work, weight, queries):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITRINE_")}
    env.update({"VITRINE_MODEL": os.path.join(ROOT, "data", "models", "use-lite"),
                "VITRINE_TEXT_DIR": os.path.join(ROOT, "data", "text"),
                "VITRINE_DATA_DIR": os.path.join(work, "data"),
                "VITRINE_WEB_DIR": work, "VITRINE_LOG_LEVEL": "warn",
                "VITRINE_RATE_PUBLIC_RPS": "1000", "VITRINE_RATE_PUBLIC_BURST": "1000",
                "VITRINE_SEARCH_SEMANTIC_WEIGHT": str(weight)})
    key = create_key(db, "read", env)
    srv = Server(db, work, env).start(timeout=60)
    out = {}
    try:
        c = srv.client(key=key)
        for lang, qs in queries.items():
            for text, rx in qs:
                for boosts in (True, False):
                    path = "/v1/search?n=5&q=" + urllib.parse.quote(text)
                    if not boosts:
                        path += "&ignore=" + TEXT_KINDS
                    r = c.get(path)
                    if r.status != 200:
                        raise RuntimeError("%s: %r" % (path, r))
                    titles = [it["title"].get("en", "") for it in r.json()["items"]]
                    rel = [bool(re.search(rx, t, re.I)) for t in titles]
                    out[(lang, text, boosts)] = rel
    finally:
        srv.stop_quietly()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--weights", default="0,1,0.3,0.5,0.7")
    ap.add_argument("--show", action="store_true", help="list the misses")
    a = ap.parse_args()
    queries = json.load(open(os.path.join(HERE, "queries.json"), encoding="utf-8"))
    queries = {k: v for k, v in queries.items() if k in ("en", "zh")}
    work = tempfile.mkdtemp(prefix="vitrine-search-eval-")
    try:
        db = os.path.join(work, "demo.db")
        shutil.copy(a.db, db)
        rows = []
        for w in [float(x) for x in a.weights.split(",")]:
            res = run(db, work, w, queries)
            for boosts in (False, True):
                cells = []
                for lang in ("en", "zh"):
                    keys = [(lang, t, boosts) for t, _ in queries[lang]]
                    hit = sum(any(res[k]) for k in keys) / len(keys)
                    p5 = sum(sum(res[k]) / 5 for k in keys) / len(keys)
                    cells.append("%.2f | %.2f" % (hit, p5))
                    if a.show:
                        for k in keys:
                            if not any(res[k]):
                                print("miss w=%s boosts=%s %s %s" % (w, boosts, lang, k[1]),
                                      file=sys.stderr)
                rows.append("| %s | %s | %s |" % (
                    {0.0: "BM25 only (w = 0)", 1.0: "semantic only (w = 1)"}.get(
                        w, "hybrid, w = %g" % w) + (", boosts" if boosts else ""),
                    cells[0], cells[1]))
        print("| search | en hit@5 | en P@5 | zh hit@5 | zh P@5 |")
        print("|---|---|---|---|---|")
        print("\n".join(rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
