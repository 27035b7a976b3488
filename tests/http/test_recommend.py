#!/usr/bin/env python3
"""test_recommend.py - personal and session recommendations and similar
items against a real ./vitrine server on a loopback port, with a 120-piece
subset of the demo catalog (scripts/fetch-demo --limit 120) and the real
USE-Lite model embedding it at start.

What a shopper would notice:
  1. freshness: placing an item in the room (ar_place) moves the items
     nearest to it up the shopper's very next list, within a second;
  2. hidden, out-of-stock, dismissed and purchased items never appear;
  3. a brand-new user and an anonymous visitor get a non-empty list;
  4. every item has a reason with text; an AR reason names the placed item;
  5. a newly added item has similar items once embedded; unknown and
     hidden items answer 404.
"Nearest" is computed here, independently of the server, from the item
vectors the server stored in the database (the mean of an item's
languages' vectors, as the catalog index holds them).

Python 3 standard library only. The last line of output is
"test_recommend.py: N passed, N failed"; the exit status is non-zero when
any test failed. VITRINE_BIN overrides the binary.
"""
import array
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vitrine_client import ROOT, Server, create_key, run_suite  # noqa: E402

WORK = os.path.join(ROOT, "build", "test-recommend")
MODEL = os.path.join(ROOT, "data", "models", "use-lite")
TEXT_DIR = os.path.join(ROOT, "data", "text")
MODEL_ID = "use-lite@0.2.0"
NITEMS = 120
REASON_CODES = {"ar_place", "tryon", "viewed", "category", "price", "searched", "similar_to_context", "bought",
                "popular", "trending", "explore"}
SOURCES = {"session", "als", "knn", "text", "context", "ar", "trending", "popular", "explore"}
TESTS = []
S = {}


def test(fn):
    TESTS.append(fn)
    return fn


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VITRINE_")}
    e.update({"VITRINE_MODEL": MODEL, "VITRINE_TEXT_DIR": TEXT_DIR,
              "VITRINE_WEB_DIR": os.path.join(WORK, "web"),
              "VITRINE_DATA_DIR": os.path.join(WORK, "data"),
              "VITRINE_LOG_LEVEL": "info", "VITRINE_RATE_PUBLIC_RPS": "1000",
              "VITRINE_RATE_PUBLIC_BURST": "1000", "VITRINE_REC_RETRAIN_INTERVAL_S": "0",
              "VITRINE_REC_REBUILD_DEBOUNCE_S": "0.2"})
    e.update(extra)
    return e


def rows(db, sql, *args):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def wait_for(fn, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else v


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def item_vectors(db):
    """Catalog vectors as the engine builds them: the mean of the item's
    languages' vectors, L2-normalised."""
    acc = {}
    for item_id, blob in rows(db, "SELECT item_id, vector FROM item_embeddings WHERE "
                                  "model_id = ? ORDER BY item_id, lang", MODEL_ID):
        v = array.array("f")
        v.frombytes(blob)
        if sys.byteorder != "little":
            v.byteswap()
        v = unit(list(v))
        if item_id in acc:
            acc[item_id] = [a + b for a, b in zip(acc[item_id], v)]
        else:
            acc[item_id] = v
    return {k: unit(v) for k, v in acc.items()}


def recommend(user=None, n=10, client="read", **params):
    q = {"n": n}
    if user is not None:
        q["user_id"] = user
    q.update(params)
    r = S["c"][client].get("/v1/recommend?" + urllib.parse.urlencode(q))
    eq(r.status, 200, "recommend %r %r" % (q, r))
    return r.json()


def events(evs):
    r = S["c"]["ingest"].post("/v1/events", evs)
    check(r.status in (200, 201, 202), "events %r" % r)


def check_answer(j, what):
    """The shape every answer shares, and (4): a reason with text."""
    for k in ("user_id", "rec_id", "context", "items", "model"):
        check(k in j, "%s: no %s" % (what, k))
    check(j["rec_id"].startswith("r") and len(j["rec_id"]) == 17, "%s: rec_id" % what)
    ids = [it["id"] for it in j["items"]]
    eq(len(ids), len(set(ids)), what + ": no item twice")
    for it in j["items"]:
        for k in ("id", "title", "category", "price", "score", "source", "reason"):
            check(k in it, "%s: item without %s" % (what, k))
        check(it["source"] in SOURCES, "%s: source %r" % (what, it["source"]))
        r = it["reason"]
        check(r.get("code") in REASON_CODES, "%s: reason code %r" % (what, r))
        check(isinstance(r.get("text"), str) and r["text"].strip(),
              "%s: reason without text %r" % (what, r))
        check("item_id" in r, "%s: reason without item_id" % what)
    return ids


def model():
    r = S["c"]["read"].get("/v1/model")
    eq(r.status, 200, "model %r" % r)
    return r.json()


# ---------------------------------------------------------------- set-up

def fetch_data():
    if not os.path.exists(os.path.join(MODEL, "model.json")):
        print("test_recommend.py: %s missing, running scripts/fetch-models" % MODEL)
        subprocess.run([os.path.join(ROOT, "scripts", "fetch-models")], check=True)
    if not (os.path.exists(os.path.join(TEXT_DIR, "jieba", "dict.txt")) and
            os.path.exists(os.path.join(TEXT_DIR, "cedict", "cedict_ts.u8"))):
        print("test_recommend.py: %s missing, running scripts/fetch-text-data" % TEXT_DIR)
        subprocess.run([os.path.join(ROOT, "scripts", "fetch-text-data")], check=True)


def setup():
    fetch_data()
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(os.path.join(WORK, "web"))
    db = os.path.join(WORK, "demo.db")
    # The demo subset, imported with the shared download cache under
    # ./data (the script's default data folder).
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VITRINE_")}
    clean["VITRINE_EMBED_ON_IMPORT"] = "0"
    p = subprocess.run([os.path.join(ROOT, "scripts", "fetch-demo"), "--limit", str(NITEMS),
                        "--db", db], cwd=ROOT, env=clean, capture_output=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("fetch-demo failed: %s" % p.stderr.decode("utf-8", "replace"))
    keys = {s: create_key(db, s, env()) for s in ("admin", "ingest", "read", "public")}
    srv = Server(db, WORK, env()).start()
    S.update(srv=srv, db=db, keys=keys)
    S["c"] = {s: srv.client(keys[s]) for s in keys}
    # The server embeds the catalog at start; wait until the engine's
    # catalog part holds every vector.
    wait_for(lambda: model()["snapshot"]["catalog"]["embedded"] == NITEMS,
             "the catalog embedded", timeout=120)
    S["vec"] = item_vectors(db)
    eq(len(S["vec"]), NITEMS, "vectors in the database")
    S["items"] = {i: (c, h, st) for i, c, h, st in
                  rows(db, "SELECT id, category, hidden, stock FROM items")}


def visible(i):
    c, hidden, stock = S["items"][i]
    return not hidden and (stock is None or stock < 0 or stock > 0)


def nearest(x, k, among=None):
    vx = S["vec"][x]
    cands = [i for i in (among or S["vec"]) if i != x and visible(i)]
    return sorted(cands, key=lambda i: -dot(vx, S["vec"][i]))[:k]


# ---------------------------------------------------------------- (3) cold start

@test
def new_user_and_anonymous_visitor_get_a_list():
    j = recommend("never-seen-before", n=10)
    ids = check_answer(j, "new user")
    eq(len(ids), 10, "a full list for a new user")
    eq(j["user_id"], "never-seen-before", "user echoed")
    eq(j["context"], "home", "default context")
    # The storefront's key without a session token: an anonymous visitor.
    j = recommend(None, n=8, client="public")
    ids = check_answer(j, "anonymous")
    eq(len(ids), 8, "a full list for an anonymous visitor")
    eq(j["user_id"], None, "anonymous user_id")
    for i in ids:
        check(visible(i), "anonymous: %s is not visible" % i)
    # A category restricts the list, cold or not.
    cat = S["items"][ids[0]][0]
    j = recommend("never-seen-before", n=5, category=cat)
    ids = check_answer(j, "category")
    check(ids, "a category with visible items gives a list")
    for i in ids:
        c = S["items"][i][0] or ""
        check(c == cat or c.startswith(cat + "/"), "category %r: %s is in %r" % (cat, i, c))


@test
def bad_requests():
    c = S["c"]["read"]
    r = c.get("/v1/recommend?context=garden")
    eq(r.status, 422, "unknown context %r" % r)
    eq(r.json()["error"].get("field"), "context", "field named")
    r = c.get("/v1/recommend?context=product:no-such-item")
    eq(r.status, 404, "context naming an unknown item %r" % r)
    eq(c.get("/v1/recommend?n=0").status, 422, "n=0")
    eq(c.get("/v1/recommend?n=101").status, 422, "n=101")


# ---------------------------------------------------------------- (1) freshness

def mean_score(j, items):
    """Mean ranker score of items in a list; those not listed count the
    lowest score the list shows (they ranked below it)."""
    got = {it["id"]: it["score"] for it in j["items"]}
    low = min(got.values())
    return sum(got.get(i, low) for i in items) / float(len(items))


def rank_of(ids, items, n):
    return [ids.index(i) + 1 if i in ids else n + 1 for i in items]


@test
def ar_place_pulls_neighbours_up_within_a_second():
    vis = sorted(i for i in S["vec"] if visible(i))
    by_cat = {}
    for i in vis:
        by_cat.setdefault(S["items"][i][0], []).append(i)
    cats = sorted(by_cat, key=lambda c: (-len(by_cat[c]), c))
    n = 100
    # Three shoppers, each browsing one category and then placing an item
    # of another in their room.
    for trial in range(3):
        browsed = by_cat[cats[trial]][:4]
        x = by_cat[cats[trial + 1]][-1]
        nn = nearest(x, 5)
        user = "fresh-shopper-%d" % trial
        now = time.time()
        events([{"user_id": user, "item_id": i, "type": "view",
                 "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60 + k))}
                for k, i in enumerate(browsed)])
        before_j = recommend(user, n=n)
        before = check_answer(before_j, "before")
        t0 = time.time()
        events([{"user_id": user, "item_id": x, "type": "ar_place",
                 "context": {"surface": "floor"}}])
        after_j = recommend(user, n=n)
        elapsed = time.time() - t0
        after = check_answer(after_j, "after")
        check(elapsed < 1.0, "event and next list took %.3f s" % elapsed)
        rb, ra = rank_of(before, nn, n), rank_of(after, nn, n)
        mb, ma = sum(rb) / 5.0, sum(ra) / 5.0
        sb = mean_score(before_j, nn)
        sa = mean_score(after_j, nn)
        print("     neighbours of %s: mean rank %.1f -> %.1f (%s -> %s), mean score %.3f -> "
              "%.3f, %.0f ms" % (x, mb, ma, rb, ra, sb, sa, elapsed * 1000))
        check(mb - ma >= 3, "%s: the neighbours moved up: %.1f -> %.1f" % (x, mb, ma))
        check(sa > sb * 1.1, "%s: the neighbours score higher: %.3f -> %.3f" % (x, sb, sa))
        # The list a page shows (10): some neighbours there now, fewer before
        # (at most rec.category_cap of one category share it).
        top_b, top_a = sum(r <= 10 for r in rb), sum(r <= 10 for r in ra)
        check(top_a >= 2 and top_a > top_b,
              "%s: neighbours in the first ten: %d -> %d" % (x, top_b, top_a))
        # (4) the AR reasons name the placed item.
        ar = [it for it in after_j["items"] if it["reason"]["code"] == "ar_place"]
        check(ar, "some item is there because of the placement")
        title = json.loads(rows(S["db"], "SELECT title FROM items WHERE id = ?", x)[0][0])
        for it in ar:
            eq(it["reason"]["item_id"], x, "ar_place reason names the placed item")
            eq(it["reason"]["text"], "Because you placed %s in your room" % title["en"],
               "ar_place text")
            if "zh" in title:
                check(title["zh"] in it["reason"].get("text_zh", ""),
                      "the Chinese text names the Chinese title: %r" % it["reason"])
        check(not any(it["reason"]["code"] == "ar_place" for it in before_j["items"]),
              "no AR reason before any AR event")


# ---------------------------------------------------------------- (2) rules

@test
def hidden_out_of_stock_dismissed_and_purchased_never_appear():
    c = S["c"]["ingest"]
    vis = sorted(i for i in S["vec"] if visible(i))
    # Hide three items and sell out three, among those a shopper would be
    # shown first (the anonymous list's top).
    top = check_answer(recommend(None, n=12, client="public"), "top")
    hide, sold = top[0:3], top[3:6]
    for i in hide:
        eq(c.request("PATCH", "/v1/items/" + i, body={"hidden": True}).status, 200, "hide")
    for i in sold:
        eq(c.request("PATCH", "/v1/items/" + i, body={"stock": 0}).status, 200, "sell out")
    for i in hide:
        S["items"][i] = (S["items"][i][0], 1, S["items"][i][2])
    for i in sold:
        S["items"][i] = (S["items"][i][0], S["items"][i][1], 0)
    want = sum(1 for i in S["items"] if visible(i))
    wait_for(lambda: model()["snapshot"]["catalog"]["visible"] == want,
             "the catalog rebuilt with %d visible items" % want)
    banned_all = set(hide) | set(sold)
    shown = 0
    for u in range(12):
        user = "rules-%d" % u
        pick = [vis[(u * 7 + k * 11) % len(vis)] for k in range(8)]
        dismissed, bought = pick[0:2], pick[2:4]
        evs = [{"user_id": user, "item_id": i, "type": "view"} for i in pick]
        evs += [{"user_id": user, "item_id": i, "type": "dismiss"} for i in dismissed]
        evs += [{"user_id": user, "item_id": i, "type": "purchase"} for i in bought]
        evs.append({"user_id": user, "item_id": pick[4], "type": "ar_place"})
        evs.append({"user_id": user, "item_id": pick[5], "type": "add_to_cart"})
        evs.append({"user_id": user, "type": "search", "context": {"text": "wooden chair"}})
        # the hidden and sold-out items were engaged with too
        evs += [{"user_id": user, "item_id": i, "type": "view"} for i in hide + sold]
        events(evs)
        banned = banned_all | set(dismissed) | set(bought)
        for ctx in ("home", "cart", "showroom", "product:" + pick[6], "product:" + pick[0]):
            j = recommend(user, n=50, context=ctx)
            ids = check_answer(j, "%s %s" % (user, ctx))
            check(ids, "%s %s: a list" % (user, ctx))
            bad = banned & set(ids)
            check(not bad, "%s %s: %s shown" % (user, ctx, sorted(bad)))
            if ctx.startswith("product:"):
                check(ctx[8:] not in ids, "the page's own product is not recommended")
            shown += len(ids)
    for k in range(10):
        ids = check_answer(recommend(None, n=50, client="public"), "anonymous")
        check(not (banned_all & set(ids)), "anonymous: banned shown")
    print("     %d recommended items checked" % shown)
    S["banned"] = banned_all


# ---------------------------------------------------------------- (5) similar

@test
def similar_items_for_a_new_item_and_404s():
    c = S["c"]["ingest"]
    sofa = {"id": "new-grey-sofa", "title": {"en": "Grey fabric three-seat sofa",
                                              "zh": "灰色布艺三人沙发"},
            "category": "Living room", "price": 899, "currency": "EUR", "stock": 3}
    r = c.post("/v1/items", [sofa])
    eq(r.status, 201, "create %r" % r)

    def ready():
        r = S["c"]["public"].get("/v1/items/new-grey-sofa/similar?n=10")
        return r.status == 200 and r.json()["items"] and r.json()

    j = wait_for(ready, "similar items of the new item", timeout=30)
    eq(j["item_id"], "new-grey-sofa", "item_id echoed")
    ids = [it["id"] for it in j["items"]]
    eq(len(ids), 10, "ten similar items")
    check("new-grey-sofa" not in ids, "not similar to itself")
    for it in j["items"]:
        for k in ("score", "content", "cf"):
            check(isinstance(it.get(k), (int, float)), "similar item without %s" % k)
        check(it["id"] not in S.get("banned", set()), "hidden or sold out: %s" % it["id"])
    scores = [it["score"] for it in j["items"]]
    eq(scores, sorted(scores, reverse=True), "best first")
    # The content neighbours agree with the stored vectors.
    vec = wait_for(lambda: item_vectors(S["db"]).get("new-grey-sofa"), "the new vector")
    S["vec"]["new-grey-sofa"] = vec
    S["items"]["new-grey-sofa"] = ("Living room", 0, 3)
    # Nobody has engaged with it: no CF signal, so the order is the
    # content order, the nearest by embedding first.
    top = nearest("new-grey-sofa", 3)
    eq(ids[:3], top, "the nearest by embedding lead the list")
    check(all(it["cf"] == 0 for it in j["items"]), "no co-interaction for a new item")
    for it in j["items"]:
        check(abs(it["content"] - dot(vec, S["vec"][it["id"]])) < 1e-3,
              "content is the cosine of %s" % it["id"])
    r = S["c"]["public"].get("/v1/items/no-such-item/similar")
    eq(r.status, 404, "unknown item %r" % r)
    hidden = sorted(i for i in S["items"] if S["items"][i][1])
    check(hidden, "a hidden item to ask about")
    r = S["c"]["public"].get("/v1/items/%s/similar" % hidden[0])
    eq(r.status, 404, "hidden item %r" % r)
    eq(S["c"]["public"].get("/v1/items/new-grey-sofa/similar?n=0").status, 422, "n=0")


@test
def model_versions_in_the_answer():
    j = recommend("never-seen-before", n=3)
    m = model()
    check(j["model"]["snapshot_version"] <= m["snapshot"]["version"], "snapshot version")
    check(isinstance(j["model"]["ranker_version"], int), "ranker version")


def main():
    return run_suite("test_recommend.py", setup, TESTS, S)


if __name__ == "__main__":
    sys.exit(main())
