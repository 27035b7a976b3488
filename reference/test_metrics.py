#!/usr/bin/python3
"""Checks the evaluation reference (reference/eval_reference.py) on examples
small enough to work out by hand: the metric formulas, the ranking rules
(train items excluded, ties by ascending item id compared as strings), Pop
and ItemKNN scores, and EASE against a column-by-column ridge regression.

Prints "test_metrics.py: N passed, N failed"; exits 1 on a failure.
Needs Debian's python3-numpy and python3-scipy, like the reference.
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_reference as ref  # noqa: E402

passed = failed = 0


def check(name, got, want, tol=5e-5):
    global passed, failed
    if isinstance(want, float):
        ok = isinstance(got, float) and abs(got - want) <= tol
    else:
        ok = got == want
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL %s: got %r, want %r" % (name, got, want))


# ---------------------------------------------------------------------------
# 1. Metrics: 3 users, 6 items a..f, lists already without train items.
#
# 1/log2(r+1) for r = 1..7: 1, 0.630930, 0.5, 0.430677, 0.386853, 0.356207
#
# u1  ranked a b c d e f    positives {a, c}
#   @3   hits 2 (ranks 1, 3)          recall 2/min(3,2) = 1
#        DCG 1 + 0.5 = 1.5; IDCG 1 + 0.630930 = 1.630930; NDCG 0.919721
#        AP (1/1 + 2/3) / 2 = 0.833333
#   @2   hits 1                       recall 1/2 = 0.5
#   @10  hits 2: recall 1, NDCG 0.919721, AP 0.833333 (nothing past rank 3)
# u2  ranked d e f b          positives {f, b}
#   @3   hits 1 (rank 3)              recall 1/2 = 0.5
#        DCG 0.5; IDCG 1.630930; NDCG 0.306574
#        AP (1/3) / 2 = 0.166667
#   @10  hits 2 (ranks 3, 4)          recall 1
#        DCG 0.5 + 0.430677 = 0.930677; NDCG 0.930677 / 1.630930 = 0.570646
#        AP (1/3 + 2/4) / 2 = 0.416667
# u3  ranked f a b c d e    positives {a, b, c, d, e}: more than k = 3
#   @3   hits 2 (ranks 2, 3)          recall 2/min(3,5) = 0.666667
#        DCG 0.630930 + 0.5 = 1.130930; IDCG 1 + 0.630930 + 0.5 = 2.130930
#        NDCG 0.530721
#        AP (1/2 + 2/3) / min(3,5) = 1.166667 / 3 = 0.388889
#   @10  hits 5 (ranks 2..6)          recall 5/5 = 1
#        DCG 0.630930+0.5+0.430677+0.386853+0.356207 = 2.304667
#        IDCG 1+0.630930+0.5+0.430677+0.386853 = 2.948460; NDCG 0.781651
#        AP (1/2 + 2/3 + 3/4 + 4/5 + 5/6) / 5 = 3.55 / 5 = 0.71
# Means @3: recall (1 + 0.5 + 0.666667)/3 = 0.722222
#           NDCG (0.919721 + 0.306574 + 0.530721)/3 = 0.585672
#           MAP (0.833333 + 0.166667 + 0.388889)/3 = 0.462963
# Coverage: top-1 {a, d, f} = 3/6 = 0.5; top-2 {a,b,d,e,f} = 5/6 = 0.833333;
#           top-3 all six = 1.0
ranked = {"u1": list("abcdef"), "u2": list("defb"), "u3": list("fabcde")}
pos = {"u1": set("ac"), "u2": set("fb"), "u3": set("abcde")}

want = {  # user: (k, recall, ndcg, ap)
    "u1": [(3, 1.0, 0.919721, 0.833333), (2, 0.5, None, None), (10, 1.0, 0.919721, 0.833333)],
    "u2": [(3, 0.5, 0.306574, 0.166667), (10, 1.0, 0.570646, 0.416667)],
    "u3": [(3, 0.666667, 0.530721, 0.388889), (10, 1.0, 0.781651, 0.71)],
}
for u, rows in want.items():
    for k, rec, ndcg, ap in rows:
        check("%s recall@%d" % (u, k), ref.recall_at(ranked[u], pos[u], k), rec)
        if ndcg is not None:
            check("%s ndcg@%d" % (u, k), ref.ndcg_at(ranked[u], pos[u], k), ndcg)
            check("%s ap@%d" % (u, k), ref.ap_at(ranked[u], pos[u], k), ap)

users = sorted(ranked)
check("mean recall@3", sum(ref.recall_at(ranked[u], pos[u], 3) for u in users) / 3, 0.722222)
check("mean ndcg@3", sum(ref.ndcg_at(ranked[u], pos[u], 3) for u in users) / 3, 0.585672)
check("mean ap@3", sum(ref.ap_at(ranked[u], pos[u], 3) for u in users) / 3, 0.462963)
lists = [ranked[u] for u in users]
check("coverage@1", ref.coverage_at(lists, 1, 6), 0.5)
check("coverage@2", ref.coverage_at(lists, 2, 6), 5 / 6)
check("coverage@3", ref.coverage_at(lists, 3, 6), 1.0)
check("coverage@3 of 12", ref.coverage_at(lists, 3, 12), 0.5)
# A miss-only list scores 0 everywhere; a perfect one 1.
check("ndcg all misses", ref.ndcg_at(list("xyz"), {"a"}, 3), 0.0)
check("ap perfect", ref.ap_at(list("abx"), set("ab"), 3), 1.0)
check("log2 table", round(1 / math.log2(5), 6), 0.430677)

# evaluate(): the same means at k = 10 (recall@20 equals recall@10 here).
m = ref.evaluate(ranked, pos, 6)
check("evaluate recall@10", m["recall@10"], 1.0)
check("evaluate ndcg@10", m["ndcg@10"], (0.919721 + 0.570646 + 0.781651) / 3)
check("evaluate map@10", m["map@10"], (0.833333 + 0.416667 + 0.71) / 3)
check("evaluate coverage@10", m["coverage@10"], 1.0)

# ---------------------------------------------------------------------------
# 2. Ranking and models on a tiny data set. Items m1 m2 m3 m4 m10 m9: the
# ids sort as strings, m1 < m10 < m2 < m3 < m4 < m9, which is the tie order.
#
# train  u1: m1 m2        u2: m1 m3        u3: m2 m3 m4
# test   u1: m3 (5), m10 (3)   u2: m4 (4)   u3: m10 (4.5)
#
# Pop counts: m1 2, m2 2, m3 2, m4 1, m10 0, m9 0.
#   u1 (m1, m2 out): m3 2, m4 1, then m10, m9 at 0      -> m3 m4 m10 m9
#   u2 (m1, m3 out): m2 2, m4 1, m10, m9                -> m2 m4 m10 m9
#   u3 (m2, m3, m4 out): m1 2, m10, m9                  -> m1 m10 m9
#   u1 has one positive (m3 at rank 1; m10, rated 3, is not one).
#
# Cosine: users per item m1 {u1,u2} m2 {u1,u3} m3 {u2,u3} m4 {u3}.
#   sim(m1,m2) = sim(m1,m3) = sim(m2,m3) = 1/sqrt(2*2) = 0.5
#   sim(m2,m4) = sim(m3,m4) = 1/sqrt(2*1) = 0.707107; sim(m1,m4) = 0
# k = 1: N(m1) = {m2} (m2, m3 tie at 0.5: m2 first), N(m2) = {m4},
#        N(m3) = {m4}, N(m4) = {m2} (tie with m3), m10, m9 none.
#   u1 (has m1, m2): m3 0 (m4 not his), m4 sim(m4,m2) = 0.707107
#       -> m4, then m10 m3 m9 tied at 0 in id order
#   u2 (has m1, m3): m2 0, m4 0 -> m10 m2 m4 m9, all tied
#   u3 (has m2 m3 m4): m1 sim(m1,m2) = 0.5 -> m1 m10 m9
# k = all: u1: m3 = 0.5 + 0.5 = 1, m4 = 0 + 0.707107 -> m3 m4 m10 m9
#          u2: m2 = 1, m4 = 0.707107 -> m2 m4 m10 m9
items = [{"id": i} for i in ("m1", "m2", "m3", "m4", "m10", "m9")]
ev = lambda u, i, v: {"user_id": u, "item_id": i, "type": "rating", "value": v}
train = [ev("u1", "m1", 4), ev("u1", "m2", 2), ev("u2", "m1", 5), ev("u2", "m3", 1),
         ev("u3", "m2", 3), ev("u3", "m3", 4), ev("u3", "m4", 5)]
test = [ev("u1", "m3", 5), ev("u1", "m10", 3), ev("u2", "m4", 4), ev("u3", "m10", 4.5)]
cat = ref.Catalog(items)
check("catalog order", cat.ids, ["m1", "m10", "m2", "m3", "m4", "m9"])
split = ref.Split(cat, train, test, "all")
check("evaluated users", split.eval_users, ["u1", "u2", "u3"])
check("u1 positives", split.positives["u1"], {"m3"})

r = ref.rank(split, ref.pop_scores(split), 3)
check("pop u1", r["u1"], ["m3", "m4", "m10"])
check("pop u2", r["u2"], ["m2", "m4", "m10"])
check("pop u3", r["u3"], ["m1", "m10", "m9"])

knn = ref.ItemKNN(split)
r1 = ref.rank(split, knn.scores(1), 3)
check("knn k=1 u1", r1["u1"], ["m4", "m10", "m3"])
check("knn k=1 u2", r1["u2"], ["m10", "m2", "m4"])
check("knn k=1 u3", r1["u3"], ["m1", "m10", "m9"])
s = knn.scores(1)
check("knn k=1 u1 score m4", float(s[0, cat.index["m4"]]), 0.707107)
check("knn k=1 u3 score m1", float(s[2, cat.index["m1"]]), 0.5)
rall = ref.rank(split, knn.scores(0), 3)
check("knn all u1", rall["u1"], ["m3", "m4", "m10"])
check("knn all u2", rall["u2"], ["m2", "m4", "m10"])
s = knn.scores(0)
check("knn all u1 score m3", float(s[0, cat.index["m3"]]), 1.0)
check("knn k >= items equals all", knn.scores(50).tolist(), s.tolist())

# Only ratings >= 4 train: u1 m1, u2 m1, u3 m3 m4. Pop: m1 2, m3 1, m4 1,
# m2 0; u2's m3 (rated 1) is still excluded from the list:
#   u2: m4 1, then m10 m2 m9 tied at 0   (with every rating: m2 m4 m10)
psplit = ref.Split(cat, train, test, "positive")
r = ref.rank(psplit, ref.pop_scores(psplit), 3)
check("pop positive-only u2", r["u2"], ["m4", "m10", "m2"])

# EASE column j is the ridge regression of item j on the other items:
# B[-j, j] = (G[-j,-j] + lambda I)^-1 G[-j, j], B[j, j] = 0. Solved here
# column by column, independently of the closed form.
x = split.x.toarray()
for lam in (0.5, 3.0):
    g = x.T @ x
    n = g.shape[0]
    b = np.zeros((n, n))
    for j in range(n):
        o = [i for i in range(n) if i != j]
        b[o, j] = np.linalg.solve(g[np.ix_(o, o)] + lam * np.eye(n - 1), g[o, j])
    want_s = x[split.user_rows()] @ b
    got_s = ref.EASE(split).scores(lam)
    check("ease lambda=%g" % lam, float(np.max(np.abs(got_s - want_s))) < 1e-10, True)
# With lambda = 1, by hand for u3 (m2 m3 m4) on m1: columns m1..m4 of X over
# u1..u3 are (1,1,0) (1,0,1) (0,1,1) (0,0,1); the system for m1 on m2, m3, m4
#   [[3,1,1],[1,3,1],[1,1,2]] b = [1,1,0]; by symmetry b = (t, t, s) with
#   4t + s = 1 and 2t + 2s = 0, so t = 1/3, s = -1/3 (m10 and m9 have no
#   users and get 0), and the score is 1/3 + 1/3 - 1/3 = 1/3.
check("ease by hand", float(ref.EASE(split).scores(1.0)[2, cat.index["m1"]]), 1 / 3, 1e-12)

print("test_metrics.py: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
