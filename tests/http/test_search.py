#!/usr/bin/env python3
"""test_search.py - search, the fit check and categories against a real
./vitrine server on a loopback port, with a 160-piece subset of the demo
catalog (scripts/fetch-demo --limit 160), a few pieces of our own (English
names only, a hidden one, a sold-out one) and the real USE-Lite model
embedding it all at start.

What a shopper would notice:
  1. "沙发" and "sofa" both list sofas first, English-named ones included;
  2. "black leather sofa under 2000" shows its chips: the price is a filter
     every result respects, colour and material are boosts; removing a chip
     (ignore=) drops it; a parameter beats the same words in the text;
  3. fits_* lists only pieces that fit the space (checked here with the
     clearance rule, independently of the server);
  4. hidden and out-of-stock pieces never appear; an empty query with a
     filter lists everything that passes it;
  5. bad parameters and bodies answer 422 naming the field;
  6. POST /v1/fit: a piece that fits, one that does not (by how much), one
     that fits only turned; alternatives all fit and are not the piece;
  7. GET /v1/categories counts the visible pieces of each category.

Python 3 standard library only. The last line of output is
"test_search.py: N passed, N failed"; the exit status is non-zero when any
test failed. VITRINE_BIN overrides the binary.
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vitrine_client import (ROOT, BIN, Server, create_key, run_suite,  # noqa: E402
                            stored_impressions)

WORK = os.path.join(ROOT, "build", "test-search")
MODEL = os.path.join(ROOT, "data", "models", "use-lite")
TEXT_DIR = os.path.join(ROOT, "data", "text")
NITEMS = 160
CLEARANCE = 2.0  # fit.clearance_cm's default
SOFA = re.compile(r"sofa|couch", re.I)
OURS = [
    {"id": "t-velvet-sofa", "title": {"en": "Velvet sofa"}, "category": "Living room",
     "price": 3500, "currency": "CNY", "stock": 4, "dims_cm": {"w": 180, "d": 85, "h": 80},
     "attributes": {"colour": "green", "material": "velvet"}},
    {"id": "t-black-leather-sofa", "title": {"en": "Black leather sofa"},
     "category": "Living room", "price": 1800, "currency": "CNY", "stock": 3,
     "dims_cm": {"w": 200, "d": 90, "h": 85},
     "attributes": {"colour": "black", "material": "leather"}},
    {"id": "t-grey-fabric-sofa", "title": {"en": "Grey fabric sofa"},
     "category": "Living room", "price": 1500, "currency": "CNY", "stock": 3,
     "dims_cm": {"w": 190, "d": 88, "h": 82},
     "attributes": {"colour": "grey", "material": "fabric"}},
    {"id": "t-hidden-sofa", "title": {"en": "Hidden sofa"}, "category": "Living room",
     "price": 900, "currency": "CNY", "hidden": True, "dims_cm": {"w": 150, "d": 80, "h": 80}},
    {"id": "t-sold-out-sofa", "title": {"en": "Sold-out sofa"}, "category": "Living room",
     "price": 950, "currency": "CNY", "stock": 0, "dims_cm": {"w": 150, "d": 80, "h": 80}},
    {"id": "t-long-bench", "title": {"en": "Long bench"}, "category": "Living room",
     "price": 700, "currency": "CNY", "stock": 9, "dims_cm": {"w": 60, "d": 190, "h": 45}},
]
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
              "VITRINE_RATE_PUBLIC_BURST": "1000", "VITRINE_REC_RETRAIN_INTERVAL_S": "0"})
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


def fetch_data():
    if not os.path.exists(os.path.join(MODEL, "model.json")):
        print("test_search.py: %s missing, running scripts/fetch-models" % MODEL)
        subprocess.run([os.path.join(ROOT, "scripts", "fetch-models")], check=True)
    if not (os.path.exists(os.path.join(TEXT_DIR, "jieba", "dict.txt")) and
            os.path.exists(os.path.join(TEXT_DIR, "cedict", "cedict_ts.u8"))):
        print("test_search.py: %s missing, running scripts/fetch-text-data" % TEXT_DIR)
        subprocess.run([os.path.join(ROOT, "scripts", "fetch-text-data")], check=True)


def setup():
    fetch_data()
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(os.path.join(WORK, "web"))
    db = os.path.join(WORK, "demo.db")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VITRINE_")}
    clean["VITRINE_EMBED_ON_IMPORT"] = "0"
    p = subprocess.run([os.path.join(ROOT, "scripts", "fetch-demo"), "--limit", str(NITEMS),
                        "--db", db], cwd=ROOT, env=clean, capture_output=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("fetch-demo failed: %s" % p.stderr.decode("utf-8", "replace"))
    f = os.path.join(WORK, "ours.jsonl")
    with open(f, "w", encoding="utf-8") as out:
        for it in OURS:
            out.write(json.dumps(it, ensure_ascii=False) + "\n")
    p = subprocess.run([BIN, "import", "items", f, "--db", db], cwd=WORK, env=env(**clean),
                       capture_output=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("import failed: %s" % p.stderr.decode("utf-8", "replace"))
    keys = {s: create_key(db, s, env()) for s in ("read", "public")}
    srv = Server(db, WORK, env()).start()
    S.update(srv=srv, db=db)
    S["c"] = {s: srv.client(keys[s]) for s in keys}
    total = NITEMS + len(OURS)

    def embedded():
        r = S["c"]["read"].get("/v1/model")
        return r.status == 200 and r.json()["snapshot"]["catalog"].get("embedded") == total
    wait_for(embedded, "the catalog embedded", timeout=120)
    S["items"] = {}
    for i, title, cat, hidden, stock, price, w, d, h in rows(
            db, "SELECT id, title, category, hidden, stock, price, w_cm, d_cm, h_cm FROM items"):
        S["items"][i] = {"title": json.loads(title), "category": cat, "hidden": hidden,
                         "stock": stock, "price": price, "dims": (w, d, h)}
    eq(len(S["items"]), total, "items in the database")


def visible(i):
    it = S["items"][i]
    return not it["hidden"] and (it["stock"] is None or it["stock"] < 0 or it["stock"] > 0)


def is_sofa(i):
    return bool(SOFA.search(S["items"][i]["title"].get("en", "")))


def fits(dims, space, c=CLEARANCE):
    """The rule of docs/api.md, computed here: either floor orientation,
    clearance on both sides across width and depth and above."""
    w, d, h = dims
    if h + c > space[2]:
        return False
    return (w + 2 * c <= space[0] and d + 2 * c <= space[1]) or \
           (d + 2 * c <= space[0] and w + 2 * c <= space[1])


def search(client="public", status=200, **params):
    r = S["c"][client].get("/v1/search?" + urllib.parse.urlencode(params))
    eq(r.status, status, "search %r: %r" % (params, r))
    return r.json()


def ids_of(j):
    return [it["id"] for it in j["items"]]


def chip(j, kind):
    found = [f for f in j["filters"] if f["kind"] == kind]
    return found[0] if found else None


def fit(body, status=200):
    r = S["c"]["public"].post("/v1/fit", body)
    eq(r.status, status, "fit %r: %r" % (body, r))
    return r.json()


# ---------------------------------------------------------------- (1) both languages

@test
def repeated_query_is_answered_from_the_text_cache():
    def cache():
        return S["c"]["read"].get("/v1/model").json()["text_cache"]
    q = "wooden chair for a reading corner %d" % os.getpid()
    first = search(q=q, n=5)
    before = cache()
    again = search(q=q, n=5)
    after = cache()
    eq(after["hits"], before["hits"] + 1, "a repeated query hits the cache")
    eq(after["misses"], before["misses"], "and costs no model pass")
    eq(ids_of(again), ids_of(first), "with the same answer")


@test
def sofa_and_chinese_sofa_list_sofas_first():
    sofas = [i for i in S["items"] if visible(i) and is_sofa(i)]
    check(len(sofas) >= 6, "the subset has sofas (%d)" % len(sofas))
    k = min(5, len(sofas))
    for q in ("sofa", "沙发", "sofas"):
        j = search(q=q, n=len(sofas))
        ids = ids_of(j)
        eq(len(ids), len(sofas), "%s: a full list" % q)
        check(all(is_sofa(i) for i in ids[:k]), "%s: first %d are sofas: %r" % (q, k, ids[:k]))
        share = sum(is_sofa(i) for i in ids) / len(ids)
        check(share >= 0.8, "%s: %.2f of the first %d are sofas: %r" % (q, share, len(ids), ids))
        for it in j["items"]:
            for key in ("id", "title", "category", "price", "dims_cm", "score", "semantic",
                        "lexical", "boosts"):
                check(key in it, "%s: item without %s" % (q, key))
    j = search(q="沙发", n=len(sofas))
    eq(j["language"], "zh", "沙发 is Chinese")
    # English-named sofas are found from Chinese too.
    check("t-velvet-sofa" in ids_of(j), "沙发 finds the English-named Velvet sofa: %r" % ids_of(j))
    check("t-grey-fabric-sofa" in ids_of(j), "沙发 finds Grey fabric sofa")
    eq(search(q="sofa")["language"], "en", "sofa is English")
    check(j["rec_id"].startswith("r") and len(j["rec_id"]) == 17, "rec_id %r" % j["rec_id"])


# ---------------------------------------------------------------- (2) chips

@test
def chips_filter_price_and_boost_colour_material():
    j = search(q="black leather sofa under 2000", n=20)
    eq(j["rest"], "sofa", "rest")
    p = chip(j, "price_max")
    check(p, "a price_max chip: %r" % j["filters"])
    eq((p["value"], p["mode"], p["source"], p["text"]), (2000, "filter", "query", "under 2000"),
       "price chip")
    for kind, value in (("colour", "black"), ("material", "leather"), ("category", "sofa")):
        c = chip(j, kind)
        check(c, "a %s chip: %r" % (kind, j["filters"]))
        eq((c["value"], c["mode"], c["source"]), (value, "boost", "query"), kind + " chip")
    check(j["items"], "results")
    for it in j["items"]:
        check(it["price"] is not None and it["price"] <= 2000,
              "%s costs %r, over 2000" % (it["id"], it["price"]))
    first = j["items"][0]
    eq(first["id"], "t-black-leather-sofa", "the black leather sofa first")
    check({"colour", "material", "category"} <= set(first["boosts"]), "boosts %r" % first)
    eq(j["total"] >= len(j["items"]), True, "total counts the results")


@test
def ignore_drops_chips_and_params_win():
    j = search(q="black leather sofa under 2000", ignore="colour,price_max", n=30)
    eq(chip(j, "colour"), None, "colour ignored")
    eq(chip(j, "price_max"), None, "price ignored")
    check(chip(j, "material"), "material kept")
    check(any(it["price"] > 2000 for it in j["items"]),
          "without the price chip dearer sofas come back")
    for it in j["items"]:
        check("colour" not in it["boosts"], "no colour boost once ignored")
    # ignoring the category boost keeps the word as what is searched
    j = search(q="sofa", ignore="category", n=5)
    eq(chip(j, "category"), None, "category ignored")
    check(all(is_sofa(i) for i in ids_of(j)), "still sofas: %r" % ids_of(j))
    # a parameter beats the same kind in the text
    j = search(q="sofa under 2000", price_max=5000, n=30)
    pm = [f for f in j["filters"] if f["kind"] == "price_max"]
    eq(len(pm), 1, "one price_max chip")
    eq((pm[0]["source"], pm[0]["value"], pm[0]["mode"]), ("param", 5000, "filter"), "param chip")
    check(any(2000 < it["price"] <= 5000 for it in j["items"]), "prices up to 5000")
    check(all(it["price"] <= 5000 for it in j["items"]), "none over 5000")


@test
def price_bounds_respected():
    j = search(q="chair", price_min=1000, price_max=3000, n=100)
    check(j["items"], "chairs between 1000 and 3000")
    for it in j["items"]:
        check(1000 <= it["price"] <= 3000, "%s at %r" % (it["id"], it["price"]))
    kinds = {(f["kind"], f["source"], f["mode"]) for f in j["filters"]}
    check({("price_min", "param", "filter"), ("price_max", "param", "filter")} <= kinds,
          "param chips %r" % j["filters"])
    # Chinese price words filter too
    j = search(q="2000元以下的沙发", n=20)
    check(chip(j, "price_max") and chip(j, "price_max")["value"] == 2000, "zh price chip %r" %
          j["filters"])
    check(all(it["price"] <= 2000 for it in j["items"]), "zh price respected")
    check(j["items"] and is_sofa(j["items"][0]["id"]), "a sofa first: %r" % ids_of(j))


# ---------------------------------------------------------------- (3) fits

@test
def fits_filter_respected():
    space = (100, 60, 90)
    j = search(q="table", fits_w=space[0], fits_d=space[1], fits_h=space[2], n=100)
    check(j["items"], "some tables fit")
    for it in j["items"]:
        dims = S["items"][it["id"]]["dims"]
        check(fits(dims, space), "%s %r does not fit %r" % (it["id"], dims, space))
    c = chip(j, "fits")
    eq((c["mode"], c["source"], c["value"]), ("filter", "param",
                                               {"w": 100, "d": 60, "h": 90}), "fits chip")
    # Only pieces that turned fit: the long bench (60 x 190) in a 200 x 70 space.
    j = search(q="bench", fits_w=200, fits_d=70, n=100)
    check("t-long-bench" in ids_of(j), "the bench fits turned: %r" % ids_of(j))
    for it in j["items"]:
        check(fits(S["items"][it["id"]]["dims"], (200, 70, 1e9)), "%s fits" % it["id"])
    # Every visible piece that fits is counted when browsing by the filter.
    j = search(fits_w=50, fits_d=50, fits_h=50, n=100)
    want = {i for i in S["items"] if visible(i) and fits(S["items"][i]["dims"], (50, 50, 50))}
    eq(j["total"], len(want), "total of pieces that fit 50 cm cubed")
    eq(set(ids_of(j)), want if len(want) <= 100 else set(ids_of(j)), "the pieces that fit")


# ---------------------------------------------------------------- (4) visibility, browsing

@test
def hidden_and_out_of_stock_never_appear():
    hidden = {i for i in S["items"] if not visible(i)}
    check({"t-hidden-sofa", "t-sold-out-sofa"} <= hidden, "our hidden pieces")
    for q in ("sofa", "沙发", "hidden sofa", "sold-out sofa"):
        j = search(q=q, n=100)
        bad = hidden & set(ids_of(j))
        eq(bad, set(), "%s lists hidden or sold-out pieces" % q)
    j = search(category="Living room", n=100)
    eq(hidden & set(ids_of(j)), set(), "browsing lists hidden pieces")


@test
def empty_query_with_filter_lists_by_filter():
    want = {i for i in S["items"] if visible(i) and S["items"][i]["category"] == "Living room"}
    j = search(category="Living room", n=100)
    eq(j["total"], len(want), "total in Living room")
    eq(set(ids_of(j)), want if len(want) <= 100 else set(ids_of(j)), "the category's pieces")
    c = chip(j, "category")
    eq((c["mode"], c["source"]), ("filter", "param"), "category chip")
    j = search(q="", price_max=800, n=100)
    want = {i for i in S["items"] if visible(i) and S["items"][i]["price"] is not None and
            S["items"][i]["price"] <= 800}
    eq(j["total"], len(want), "everything under 800")
    eq(chip(j, "price_max")["text"], "under 800", "an English label")
    j = search(q="", price_max=800, lang="zh", n=1)
    eq(chip(j, "price_max")["text"], "800以下", "a Chinese label with lang=zh")


@test
def impressions_logged_for_a_named_shopper():
    j = search(client="read", q="armchair", n=5, user_id="shopper-search-1")
    ids = ids_of(j)
    check(ids, "armchairs")
    anon = search(client="read", q="armchair", n=5)

    def logged(rec_id):
        return sorted(stored_impressions(S["db"], rec_id), key=lambda r: r[2])
    got = wait_for(lambda: logged(j["rec_id"]), "the search's impressions", timeout=15)
    eq([r[0] for r in got], ids, "the list as shown, in order")
    eq({(r[1], r[3]) for r in got}, {("search", "shopper-search-1")}, "surface and user")
    eq([r[2] for r in got], list(range(len(ids))), "positions")
    time.sleep(1.5)  # the flush that wrote the first list has passed the second
    eq(logged(anon["rec_id"]), [], "nothing logged for an anonymous search")


# ---------------------------------------------------------------- (5) bad requests

@test
def bad_search_parameters():
    for params, field in (({"q": "sofa", "n": 0}, "n"), ({"q": "sofa", "n": 101}, "n"),
                          ({"q": "sofa", "price_min": "cheap"}, "price_min"),
                          ({"q": "sofa", "price_min": 500, "price_max": 100}, "price_min"),
                          ({"q": "sofa", "fits_w": 0}, "fits_w"),
                          ({"q": "sofa", "fits_d": -3}, "fits_d"),
                          ({"q": "sofa", "ignore": "colour,shoe_size"}, "ignore"),
                          ({"q": "sofa", "lang": "fr"}, "lang"),
                          ({"q": ""}, "q"), ({}, "q"),
                          ({"q": "sofa", "category": "x" * 600}, "category"),
                          ({"q": "sofa " * 300}, "q")):
        j = search(status=422, **params)
        eq(j["error"].get("field"), field, "field for %r" % params)
        check(j["error"].get("message"), "a message for %r" % params)


# ---------------------------------------------------------------- (6) will it fit

@test
def fit_answers():
    sofa = S["items"]["t-black-leather-sofa"]["dims"]  # 200 x 90 x 85
    j = fit({"space_cm": {"w": 210, "d": 100, "h": 100}, "item_id": "t-black-leather-sofa"})
    it = j["item"]
    eq((it["fits"], it["rotated"]), (True, False), "fits as is")
    eq(it["margin_cm"], {"w": 210 - 200 - 4, "d": 100 - 90 - 4, "h": 100 - 85 - 2}, "margins")
    eq(j["clearance_cm"], CLEARANCE, "default clearance")
    # too small: how much too big
    j = fit({"space_cm": {"w": 150, "d": 100, "h": 100}, "item_id": "t-black-leather-sofa"})
    it = j["item"]
    eq(it["fits"], False, "a 200 cm sofa in 150 cm")
    eq(it["too_big_by_cm"]["w"], 200 + 4 - 150, "too big by")
    check(it["margin_cm"]["w"] < 0, "negative margin")
    # only turned: the long bench along a wide, shallow wall
    j = fit({"space_cm": {"w": 200, "d": 70, "h": 60}, "item_id": "t-long-bench"})
    eq((j["item"]["fits"], j["item"]["rotated"]), (True, True), "the bench fits turned")
    eq(j["item"]["margin_cm"], {"w": 200 - 190 - 4, "d": 70 - 60 - 4, "h": 60 - 45 - 2},
       "turned margins")
    # clearance from the body
    j = fit({"space_cm": {"w": 210, "d": 100, "h": 100}, "item_id": "t-black-leather-sofa",
             "clearance_cm": 6})
    eq(j["item"]["fits"], False, "6 cm each side is too much")
    eq(j["clearance_cm"], 6, "clearance echoed")
    check(sofa == (200, 90, 85), "dims as imported")


@test
def fit_alternatives_all_fit():
    space = {"w": 240, "d": 120, "h": 100}
    sp = (240, 120, 100)
    j = fit({"space_cm": space, "item_id": "blend-swap-cc-by-cornersofa", "n": 20})
    eq(j["item"]["fits"], False, "the 346 cm corner sofa does not fit 240")
    alts = j["alternatives"]
    check(alts, "alternatives")
    cat = S["items"]["blend-swap-cc-by-cornersofa"]["category"]
    for a in alts:
        check(a["id"] != "blend-swap-cc-by-cornersofa", "not the piece itself")
        check(visible(a["id"]), "%s visible" % a["id"])
        eq(a["fits"], True, "alternative fits")
        check(fits(S["items"][a["id"]]["dims"], sp), "%s really fits" % a["id"])
        eq(S["items"][a["id"]]["category"], cat, "same category")
    check(is_sofa(alts[0]["id"]), "the first alternative is a sofa: %r" %
          [a["id"] for a in alts[:5]])
    # By category alone, no piece named.
    j = fit({"space_cm": {"w": 60, "d": 60, "h": 120}, "category": "Kitchen", "n": 100})
    check("item" not in j, "no item without item_id")
    want = {i for i in S["items"] if visible(i) and S["items"][i]["category"] == "Kitchen" and
            S["items"][i]["dims"][0] is not None and fits(S["items"][i]["dims"], (60, 60, 120))}
    eq({a["id"] for a in j["alternatives"]}, want if len(want) <= 100 else
       {a["id"] for a in j["alternatives"]}, "every kitchen piece that fits")


@test
def fit_bad_bodies():
    ok = {"w": 100, "d": 100, "h": 100}
    for body, field in (({}, "space_cm"), ({"space_cm": [1, 2, 3]}, "space_cm"),
                        ({"space_cm": {"w": 100, "d": 100}}, "space_cm.h"),
                        ({"space_cm": {"w": "100", "d": 100, "h": 100}}, "space_cm.w"),
                        ({"space_cm": {"w": -5, "d": 100, "h": 100}}, "space_cm.w"),
                        ({"space_cm": {"w": 0, "d": 100, "h": 100}}, "space_cm.w"),
                        ({"space_cm": {"w": 1e9, "d": 100, "h": 100}}, "space_cm.w"),
                        ({"space_cm": {"w": 100, "d": 100, "h": 100, "x": 1}}, "space_cm"),
                        ({"space_cm": ok, "colour": "red"}, "colour"),
                        ({"space_cm": ok, "clearance_cm": -1}, "clearance_cm"),
                        ({"space_cm": ok, "clearance_cm": 1e6}, "clearance_cm"),
                        ({"space_cm": ok, "n": 0}, "n"), ({"space_cm": ok, "n": 2.5}, "n"),
                        ({"space_cm": ok, "item_id": 7}, "item_id")):
        j = fit(body, status=422)
        eq(j["error"].get("field"), field, "field for %r" % body)
    j = fit({"space_cm": ok, "item_id": "no-such-piece"}, status=404)
    j = fit({"space_cm": ok, "item_id": "t-hidden-sofa"}, status=404)


# ---------------------------------------------------------------- (7) categories

@test
def categories_count_visible_pieces():
    r = S["c"]["public"].get("/v1/categories")
    eq(r.status, 200, "categories %r" % r)
    got = {c["path"]: c["items"] for c in r.json()["categories"]}
    want = {}
    for i, it in S["items"].items():
        if visible(i) and it["category"]:
            want[it["category"]] = want.get(it["category"], 0) + 1
    eq(got, want, "visible pieces per category")


def main():
    return run_suite("test_search.py", setup, TESTS, S)


if __name__ == "__main__":
    sys.exit(main())
