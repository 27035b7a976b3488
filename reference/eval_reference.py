#!/usr/bin/python3
"""Independent reference for vitrine's offline evaluation (docs/evaluation.md).

Reads the MovieLens files that scripts/fetch-movielens writes, in the import
formats, and evaluates three classic recommenders on the per-user temporal
split, with metric code written here and nowhere else:

  pop      items ranked by their number of training interactions
  itemknn  item-item cosine on the binary user-item matrix, the k nearest
           neighbours of each candidate; score = sum of the similarities to
           the user's training items among those neighbours
  ease     closed form B = I - P diag(1/diag(P)), P = (X'X + lambda I)^-1,
           diag(B) = 0; score = x_u B

Training data: the train ratings >= 4, as binary implicit feedback (the
protocol's choice, made on the validation slice: it beat "every rating" for
all three models; --interactions all reproduces the comparison). Every train
rating, whatever its value, still removes the item from that user's list.

k and lambda are tuned on the validation slice (valid-train / valid-test,
the split rule applied to train), never on test; the chosen values are then
trained on the whole of train and measured on test. The protocol (what an
interaction is, which items are excluded, which users count, tie-breaking,
the metric formulas) is stated in docs/evaluation.md; the comments below
say where each rule is applied.

Writes a table to stdout, the numbers as JSON (build/eval/reference.json)
and, per model, every evaluated user's top-N list as JSON Lines
{"user_id", "items": [...]} (build/eval/rankings/<model>.jsonl), the shape
`vitrine eval --rankings` writes, so the C side can be compared item by item
(--compare MODEL=FILE does that).

Needs Debian's python3-numpy and python3-scipy.

Usage: eval_reference.py [--data DIR] [--out FILE] [--rankings DIR]
                         [--depth N] [--knn-k K] [--ease-lambda L]
                         [--interactions all|positive] [--compare MODEL=FILE]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

POSITIVE_MIN = 4.0          # a held-out rating >= 4 is a relevant item
KS_RECALL = (10, 20)
K_MAIN = 10
KNN_GRID = (5, 10, 20, 50, 100, 200, 500, 1000, 0)        # 0: every neighbour
LAMBDA_GRID = (1, 5, 10, 20, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000)


# ---------------------------------------------------------------------------
# Metrics. Pure Python on lists, so they read as the formulas in
# docs/evaluation.md; reference/test_metrics.py checks them on a hand-worked
# example. `ranked` is a user's list, best first, with excluded items already
# gone; `positives` a set of item ids (never empty: users without a positive
# are not evaluated).

def hits_at(ranked, positives, k):
    return sum(1 for i in ranked[:k] if i in positives)


def recall_at(ranked, positives, k):
    """hits in the top k / min(k, |positives|): 1.0 is reachable by every user."""
    return hits_at(ranked, positives, k) / min(k, len(positives))


def ndcg_at(ranked, positives, k):
    """Binary gains, discount 1/log2(rank + 1); ideal = all positives first."""
    dcg = sum(1.0 / math.log2(r + 2) for r, i in enumerate(ranked[:k]) if i in positives)
    idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(positives))))
    return dcg / idcg


def ap_at(ranked, positives, k):
    """Sum over hit ranks r <= k of precision@r, / min(k, |positives|)."""
    hits, total = 0, 0.0
    for r, i in enumerate(ranked[:k]):
        if i in positives:
            hits += 1
            total += hits / (r + 1)
    return total / min(k, len(positives))


def coverage_at(lists, k, catalog_size):
    """Distinct items in all users' top k / items in the catalog."""
    seen = set()
    for ranked in lists:
        seen.update(ranked[:k])
    return len(seen) / catalog_size


def evaluate(rankings, positives, catalog_size):
    """rankings, positives: dicts user -> list / set over the same users.
    Every per-user metric is averaged over users, each user weighing the same."""
    users = sorted(positives)
    n = len(users)
    out = {}
    for k in KS_RECALL:
        out["recall@%d" % k] = sum(recall_at(rankings[u], positives[u], k) for u in users) / n
    out["ndcg@%d" % K_MAIN] = sum(ndcg_at(rankings[u], positives[u], K_MAIN) for u in users) / n
    out["map@%d" % K_MAIN] = sum(ap_at(rankings[u], positives[u], K_MAIN) for u in users) / n
    out["coverage@%d" % K_MAIN] = coverage_at([rankings[u] for u in users], K_MAIN,
                                              catalog_size)
    return out


# ---------------------------------------------------------------------------
# Data

def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Catalog:
    """Item ids in ascending code-point order (= UTF-8 byte order, strcmp):
    the column order of every matrix, so a stable sort on score alone breaks
    ties by ascending item id."""

    def __init__(self, items):
        self.ids = sorted({it["id"] for it in items})
        self.index = {iid: n for n, iid in enumerate(self.ids)}


class Split:
    """One train/test pair over the catalog."""

    def __init__(self, catalog, train_events, test_events, interactions):
        self.catalog = catalog
        for ev in train_events + test_events:
            if ev["type"] != "rating" or ev["item_id"] not in catalog.index:
                raise SystemExit("eval_reference: unexpected event %r" % (ev,))
        self.users = sorted({ev["user_id"] for ev in train_events})
        uindex = {u: n for n, u in enumerate(self.users)}
        # Excluded from a user's ranking: every item they rated in train,
        # whatever the rating.
        self.seen = {}
        for ev in train_events:
            self.seen.setdefault(ev["user_id"], set()).add(ev["item_id"])
        # The training matrix: one 1 per (user, item) interaction; with
        # interactions == "positive" only ratings >= 4 count.
        keep = [ev for ev in train_events
                if interactions == "all" or ev["value"] >= POSITIVE_MIN]
        rows = np.array([uindex[ev["user_id"]] for ev in keep], dtype=np.int64)
        cols = np.array([catalog.index[ev["item_id"]] for ev in keep], dtype=np.int64)
        x = sp.csr_matrix((np.ones(len(keep)), (rows, cols)),
                          shape=(len(self.users), len(catalog.ids)))
        x.sum_duplicates()
        x.data[:] = 1.0
        self.x = x
        self.uindex = uindex
        # Evaluated users: at least one test rating >= 4. The relevant set
        # is those items; test ratings below 4 are ordinary candidates.
        self.positives = {}
        for ev in test_events:
            if ev["value"] >= POSITIVE_MIN:
                self.positives.setdefault(ev["user_id"], set()).add(ev["item_id"])
        missing = [u for u in self.positives if u not in uindex]
        if missing:
            # Cannot happen with the split rule (every user keeps >= 1 train
            # rating); say so rather than rank for a user with no history.
            raise SystemExit("eval_reference: %d test users have no train ratings"
                             % len(missing))
        self.eval_users = sorted(self.positives)
        self.test_users = len({ev["user_id"] for ev in test_events})

    def user_rows(self):
        return np.array([self.uindex[u] for u in self.eval_users], dtype=np.int64)


def rank(split, scores, depth):
    """scores: (evaluated users x catalog) float64. Returns user -> top-depth
    item ids: score descending, ties by ascending item id, train items out."""
    scores = np.array(scores, dtype=np.float64)
    for n, u in enumerate(split.eval_users):
        cols = [split.catalog.index[i] for i in split.seen.get(u, ())]
        scores[n, cols] = -np.inf
    # Stable sort on -score over columns in id order = the tie rule.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    ids = split.catalog.ids
    out = {}
    for n, u in enumerate(split.eval_users):
        row = order[n]
        if not np.all(np.isfinite(scores[n, row])):
            raise SystemExit("eval_reference: user %s has fewer than %d candidates" % (u, depth))
        out[u] = [ids[j] for j in row]
    return out


# ---------------------------------------------------------------------------
# Models. Each returns a function: rows of X (evaluated users) -> scores.

def pop_scores(split):
    counts = np.asarray(split.x.sum(axis=0)).ravel()
    return np.tile(counts, (len(split.eval_users), 1))


class ItemKNN:
    """Cosine sim(i, j) = c_ij / sqrt(n_i * n_j) in double, c_ij the users
    with both, n_i the users with i; sim(i, i) is not a neighbour and items
    with no interactions have none. N_k(i) = the k items with the highest
    sim(i, .) > 0, ties by ascending item id. score(u, i) = sum over the
    user's train items j in N_k(i) of sim(i, j)."""

    def __init__(self, split):
        x = split.x.tocsc()
        co = (x.T @ x).toarray()
        n = np.diag(co).copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = co / np.sqrt(np.outer(n, n))
        sim[~np.isfinite(sim)] = 0.0
        np.fill_diagonal(sim, 0.0)
        self.sim = sim
        # Column i's neighbours, best first, ties by index (= id) order.
        self.order = np.argsort(-sim, axis=0, kind="stable")
        self.xu = split.x[split.user_rows()]

    def scores(self, k):
        sim = self.sim
        if k and k < sim.shape[0]:
            w = np.zeros_like(sim)
            top = self.order[:k]                        # (k, items)
            cols = np.broadcast_to(np.arange(sim.shape[1]), top.shape)
            w[top, cols] = sim[top, cols]
        else:
            w = sim
        # w[j, i] = sim(i, j) when j is in N_k(i) (sim > 0 holds: zeros add nothing)
        return np.asarray(self.xu @ w)


class EASE:
    """G = X'X over the items with at least one interaction (an item without
    any has a zero row and column in G + lambda I, so its B row and column
    are 0 and its score is 0: computing on the rest is exact)."""

    def __init__(self, split):
        x = split.x.tocsc()
        self.active = np.flatnonzero(np.diff(x.indptr))
        xa = x[:, self.active]
        self.g = (xa.T @ xa).toarray()
        self.xu = xa[split.user_rows()]
        self.n_items = x.shape[1]

    def scores(self, lam):
        g = self.g.copy()
        g[np.diag_indices_from(g)] += lam
        # (G + lambda I)^-1 through Cholesky: G + lambda I is symmetric
        # positive definite for lambda > 0.
        c, info = lapack.dpotrf(g, lower=1, overwrite_a=1)
        if info:
            raise SystemExit("eval_reference: Cholesky failed (%d)" % info)
        p, info = lapack.dpotri(c, lower=1, overwrite_c=1)
        if info:
            raise SystemExit("eval_reference: inverse failed (%d)" % info)
        p = np.tril(p) + np.tril(p, -1).T
        b = p / (-np.diag(p))[None, :]
        np.fill_diagonal(b, 0.0)
        out = np.zeros((self.xu.shape[0], self.n_items))
        out[:, self.active] = np.asarray(self.xu @ b)
        return out


# ---------------------------------------------------------------------------

def run_models(split, depth, knn_ks, lambdas, log):
    """Returns {model: [(param, metrics, rankings)]}."""
    size = len(split.catalog.ids)
    res = {}
    t = time.time()
    r = rank(split, pop_scores(split), depth)
    res["pop"] = [(None, evaluate(r, split.positives, size), r)]
    log("pop", None, res["pop"][0][1], time.time() - t)
    t = time.time()
    knn = ItemKNN(split)
    res["itemknn"] = []
    for k in knn_ks:
        r = rank(split, knn.scores(k), depth)
        res["itemknn"].append((k, evaluate(r, split.positives, size), r))
        log("itemknn", k, res["itemknn"][-1][1], time.time() - t)
        t = time.time()
    del knn
    ease = EASE(split)
    res["ease"] = []
    for lam in lambdas:
        r = rank(split, ease.scores(lam), depth)
        res["ease"].append((lam, evaluate(r, split.positives, size), r))
        log("ease", lam, res["ease"][-1][1], time.time() - t)
        t = time.time()
    return res


COLUMNS = ("recall@10", "recall@20", "ndcg@10", "map@10", "coverage@10")


def table(rows):
    lines = ["| model | " + " | ".join(COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for name, m in rows:
        lines.append("| %s | " % name + " | ".join("%.4f" % m[c] for c in COLUMNS) + " |")
    return "\n".join(lines)


def compare(split_rankings, path, depth):
    """Item-by-item agreement of a rankings file with ours."""
    theirs = {}
    for rec in read_jsonl(path):
        theirs[rec["user_id"]] = rec["items"]
    users = sorted(split_rankings)
    missing = [u for u in users if u not in theirs]
    extra = [u for u in theirs if u not in split_rankings]
    same_list, overlap, first_diff = 0, 0.0, []
    for u in users:
        if u not in theirs:
            continue
        a, b = split_rankings[u][:K_MAIN], theirs[u][:K_MAIN]
        if a == b:
            same_list += 1
        elif len(first_diff) < 5:
            first_diff.append((u, a, b))
        overlap += len(set(a) & set(b)) / K_MAIN
    n = len(users) - len(missing)
    print("compare %s: %d users in both, %d missing there, %d extra there" %
          (path, n, len(missing), len(extra)))
    if n:
        print("  identical top-%d lists: %d of %d (%.1f%%); mean overlap of the sets %.4f" %
              (K_MAIN, same_list, n, 100.0 * same_list / n, overlap / n))
    for u, a, b in first_diff:
        print("  %s\n    reference %s\n    other     %s" % (u, a, b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/movielens")
    ap.add_argument("--out", default="build/eval/reference.json")
    ap.add_argument("--rankings", default="build/eval/rankings",
                    help="folder for <model>.jsonl ('' for none)")
    ap.add_argument("--depth", type=int, default=20, help="items per written ranking")
    ap.add_argument("--knn-k", type=int, help="skip tuning: use this k (0 = all)")
    ap.add_argument("--ease-lambda", type=float, help="skip tuning: use this lambda")
    ap.add_argument("--interactions", choices=("positive", "all"), default="positive",
                    help="train on ratings >= 4 (the protocol) or on every train rating")
    ap.add_argument("--compare", action="append", default=[], metavar="MODEL=FILE")
    args = ap.parse_args()
    started = time.time()
    depth = max(args.depth, max(KS_RECALL))

    d = args.data
    catalog = Catalog(read_jsonl(os.path.join(d, "items.jsonl")))
    train = read_jsonl(os.path.join(d, "train.jsonl"))
    test = read_jsonl(os.path.join(d, "test.jsonl"))
    vtrain = read_jsonl(os.path.join(d, "valid-train.jsonl"))
    vtest = read_jsonl(os.path.join(d, "valid-test.jsonl"))
    pairs = lambda evs: {(e["user_id"], e["item_id"]) for e in evs}
    if pairs(vtrain) | pairs(vtest) != pairs(train) or pairs(vtrain) & pairs(vtest):
        raise SystemExit("eval_reference: valid-train + valid-test is not train")
    if pairs(train) & pairs(test):
        raise SystemExit("eval_reference: a (user, item) pair is in both train and test")

    def log(tag):
        def f(model, param, m, secs):
            print("  %-10s %-8s %-8s ndcg@10 %.4f recall@10 %.4f  (%.1f s)" %
                  (tag, model, "" if param is None else param, m["ndcg@10"],
                   m["recall@10"], secs), file=sys.stderr)
        return f

    # 1. tuning on the validation slice
    tuning = {}
    knn_k, lam = args.knn_k, args.ease_lambda
    if knn_k is None or lam is None:
        vsplit = Split(catalog, vtrain, vtest, args.interactions)
        print("validation: %d users evaluated" % len(vsplit.eval_users), file=sys.stderr)
        res = run_models(vsplit, depth, KNN_GRID if knn_k is None else (knn_k,),
                         LAMBDA_GRID if lam is None else (lam,), log("validation"))
        for model in ("itemknn", "ease"):
            tuning[model] = [{"param": p, **m} for p, m, _ in res[model]]
        # Highest validation NDCG@10; an exact tie goes to the first in the grid.
        knn_k = max(res["itemknn"], key=lambda t: t[1]["ndcg@10"])[0]
        lam = max(res["ease"], key=lambda t: t[1]["ndcg@10"])[0]
        del res, vsplit

    # 2. the test
    split = Split(catalog, train, test, args.interactions)
    print("test: %d users evaluated of %d with test ratings" %
          (len(split.eval_users), split.test_users), file=sys.stderr)
    res = run_models(split, depth, (knn_k,), (lam,), log("test"))
    final = {m: res[m][0] for m in ("pop", "itemknn", "ease")}
    elapsed = time.time() - started

    names = {"pop": "pop", "itemknn": "itemknn (k=%s)" % (knn_k or "all"),
             "ease": "ease (lambda=%g)" % lam}
    print(table([(names[m], final[m][1]) for m in ("pop", "itemknn", "ease")]))
    print("users evaluated %d, catalog %d items, %.1f s" %
          (len(split.eval_users), len(catalog.ids), elapsed))

    report = {
        "data": {
            "items": len(catalog.ids), "train": len(train), "test": len(test),
            "test_positives": sum(len(s) for s in split.positives.values()),
            "users_evaluated": len(split.eval_users),
            "users_with_test_ratings": split.test_users,
        },
        "protocol": {"interactions": args.interactions, "positive_min": POSITIVE_MIN,
                     "exclude": "train items", "ties": "ascending item id"},
        "models": {m: {**final[m][1]} for m in final},
        "params": {"itemknn": {"k": knn_k}, "ease": {"lambda": lam}},
        "tuning": tuning,
        "seconds": round(elapsed, 1),
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    if args.rankings:
        os.makedirs(args.rankings, exist_ok=True)
        for m in final:
            with open(os.path.join(args.rankings, m + ".jsonl"), "w") as f:
                for u in split.eval_users:
                    f.write(json.dumps({"user_id": u, "items": final[m][2][u][:args.depth]})
                            + "\n")
    for spec in args.compare:
        model, _, path = spec.partition("=")
        if model not in final or not path:
            raise SystemExit("eval_reference: --compare wants MODEL=FILE, MODEL one of "
                             "pop, itemknn, ease")
        compare(final[model][2], path, depth)


if __name__ == "__main__":
    main()
