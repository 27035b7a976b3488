#!/usr/bin/env python3
"""test_engine.py - the recommendation engine's core in a real ./vitrine
server: GET /v1/model's shape, the catalog snapshot following item changes,
POST /v1/admin/retrain (queued and ?wait=1) answered while four clients
keep requesting, and DELETE /v1/users/{id} clearing the shopper's live
state.

The catalog is generated here (furniture in a few categories, English and
Chinese titles) and embedded by the server with the real USE-Lite model;
events of a few hundred shoppers are sent through POST /v1/events. When
data/models/use-lite or data/text is missing, the fetch scripts are run
first. Python 3 standard library only. The last line of output is
"test_engine.py: N passed, N failed"; the exit status is non-zero when any
test failed. VITRINE_BIN overrides the binary.
"""
import os
import random
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vitrine_client import ROOT, Server, create_key, run_suite  # noqa: E402

WORK = os.path.join(ROOT, "build", "test-engine")
MODEL = os.path.join(ROOT, "data", "models", "use-lite")
TEXT_DIR = os.path.join(ROOT, "data", "text")
TESTS = []
S = {}

# Retrains run back to back while four clients request, and how many
# recommendations must have been started and answered 200 while one ran.
RETRAINS = 3
MIN_ANSWERED_DURING_RETRAIN = 20


def test(fn):
    TESTS.append(fn)
    return fn


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_for(fn, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VITRINE_")}
    e.update({"VITRINE_MODEL": MODEL, "VITRINE_TEXT_DIR": TEXT_DIR,
              "VITRINE_WEB_DIR": os.path.join(WORK, "web"),
              "VITRINE_DATA_DIR": os.path.join(WORK, "data"),
              "VITRINE_LOG_LEVEL": "info", "VITRINE_RATE_PUBLIC_RPS": "1000",
              "VITRINE_RATE_PUBLIC_BURST": "1000",
              "VITRINE_REC_REBUILD_DEBOUNCE_S": "0.3",
              "VITRINE_REC_RETRAIN_INTERVAL_S": "0",
              # A retrain long enough for requests to overlap it.
              "VITRINE_REC_IALS_FACTORS": "128",
              "VITRINE_REC_IALS_ITERATIONS": "60"})
    e.update(extra)
    return e


KINDS = [("Living room/Sofas", "sofa", "沙发", ["Corner", "Leather", "Velvet", "Sleeper"]),
         ("Dining/Chairs", "chair", "椅子", ["Oak", "Folding", "Bar", "Arm"]),
         ("Dining/Tables", "table", "桌子", ["Round", "Extending", "Glass", "Pine"]),
         ("Lighting", "lamp", "灯", ["Floor", "Desk", "Pendant", "Wall"]),
         ("Bedroom/Beds", "bed", "床", ["Double", "Single", "Bunk", "Canopy"])]
COLOURS = [("black", "黑色"), ("white", "白色"), ("red", "红色"), ("grey", "灰色")]


def catalog():
    items = []
    for cat, en, zh, kinds in KINDS:
        for k in kinds:
            for col, zcol in COLOURS:
                iid = "%s-%s-%s" % (en, k.lower(), col)
                items.append({"id": iid,
                              "title": {"en": "%s %s %s" % (col.capitalize(), k.lower(), en),
                                        "zh": zcol + zh},
                              "category": cat, "price": 50 + 37 * len(items) % 1900,
                              "currency": "EUR", "stock": 10,
                              "dims_cm": {"w": 80, "d": 60, "h": 75}})
    return items


def events(items, users=150, per_user=25, seed=5):
    rnd = random.Random(seed)
    now = time.time()
    types = ["view"] * 6 + ["click"] * 2 + ["add_to_cart", "ar_session", "ar_place"]
    out = []
    for u in range(users):
        # each shopper leans to one category
        cat = rnd.randrange(len(KINDS))
        pool = [i for i in items if i["category"] == KINDS[cat][0]]
        for _ in range(per_user):
            it = rnd.choice(pool if rnd.random() < 0.8 else items)
            out.append({"user_id": "shopper-%d" % u, "item_id": it["id"],
                        "type": rnd.choice(types),
                        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime(now - rnd.randrange(20 * 86400)))})
    return out


def fetch_data():
    if not os.path.exists(os.path.join(MODEL, "model.json")):
        print("test_engine.py: %s missing, running scripts/fetch-models" % MODEL)
        subprocess.run([os.path.join(ROOT, "scripts", "fetch-models")], check=True)
    if not (os.path.exists(os.path.join(TEXT_DIR, "jieba", "dict.txt")) and
            os.path.exists(os.path.join(TEXT_DIR, "cedict", "cedict_ts.u8"))):
        print("test_engine.py: %s missing, running scripts/fetch-text-data" % TEXT_DIR)
        subprocess.run([os.path.join(ROOT, "scripts", "fetch-text-data")], check=True)


def setup():
    fetch_data()
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(os.path.join(WORK, "web"))
    db = os.path.join(WORK, "main.db")
    keys = {s: create_key(db, s, env()) for s in ("admin", "ingest", "read", "public")}
    srv = Server(db, WORK, env()).start()
    S.update(srv=srv, db=db, keys=keys)
    S["c"] = {s: srv.client(keys[s]) for s in keys}
    items = catalog()
    r = S["c"]["ingest"].post("/v1/items", items)
    eq(r.status, 201, "create the catalog %r" % r)
    evs = events(items)
    for k in range(0, len(evs), 1000):
        r = S["c"]["ingest"].post("/v1/events", evs[k:k + 1000])
        eq(r.status, 200, "events %r" % r)
    S.update(items=items, events=evs)


def model():
    r = S["c"]["read"].get("/v1/model")
    eq(r.status, 200, "GET /v1/model %r" % r)
    return r.json()


# ---------------------------------------------------------------- GET /v1/model

@test
def model_shape():
    # every item embedded and in the snapshot (the catalog follows the
    # embedding worker within the debounce)
    n = len(S["items"])
    m = wait_for(lambda: (lambda j: j if j["snapshot"]["catalog"]["embedded"] == n else None)(
        model()), "the catalog snapshot with %d embedded items" % n, timeout=60)
    eq(sorted(m.keys()), ["live", "ranker", "schedule", "snapshot", "text_cache"], "top-level keys")
    tc = m["text_cache"]
    eq(sorted(tc.keys()), ["entries", "hits", "misses"], "text_cache keys")
    check(tc["entries"] > 0 and tc["hits"] >= 0 and tc["misses"] >= 0, "text_cache %r" % tc)
    snap = m["snapshot"]
    check(isinstance(snap["version"], int) and snap["version"] > 0, "snapshot version")
    cat = snap["catalog"]
    eq(cat["items"], n, "catalog items")
    eq(cat["visible"], n, "visible items")
    eq(cat["categories"], len(KINDS), "categories")
    eq(cat["dim"], 512, "embedding dimension")
    eq(cat["model_id"], "use-lite@0.2.0", "model id")
    eq(cat["ann"]["kind"], "flat", "a flat index under 2,000 items")
    eq(cat["ann"]["vectors"], n, "vectors indexed")
    check(cat["age_s"] >= 0 and cat["build_seconds"] >= 0, "catalog ages")
    check(cat["built_at"].endswith("Z"), "built_at is an ISO time")
    beh = m["snapshot"]["behaviour"]
    for k in ("users", "items", "events", "entries", "last_event_id", "ials", "built_at",
              "age_s", "build_seconds"):
        check(k in beh, "behaviour." + k)
    check(set(m["live"].keys()) >= {"users", "bytes"}, "live keys")
    check(m["live"]["bytes"] > 0, "live bytes counted")
    sch = m["schedule"]
    eq(sch["interval_s"], 0, "retrain only on demand")
    eq(sch["next_retrain_at"], None, "no scheduled retrain")
    check("last_retrain" in sch, "last_retrain present")
    rk = m["ranker"]
    check(rk is None or isinstance(rk, dict), "ranker is an object")
    if rk:
        check("meta" in rk, "ranker meta")
    # read scope: the public key may not see the model
    eq(S["c"]["public"].get("/v1/model").status, 403, "public key refused")


@test
def retrain_queued_then_conflict():
    admin = S["c"]["admin"]
    before = model()["schedule"]["last_retrain"]
    r = admin.post("/v1/admin/retrain")
    eq(r.status, 202, "queued %r" % r)
    eq(r.json(), {"queued": True}, "body")
    # a second request while the first is queued or running
    r2 = admin.post("/v1/admin/retrain")
    eq(r2.status, 409, "second retrain %r" % r2)
    m = wait_for(lambda: (lambda j: j if j["schedule"]["last_retrain"] != before and
                          not j["schedule"]["retraining"] else None)(model()),
                 "the queued retrain to finish")
    rep = m["schedule"]["last_retrain"]
    check(isinstance(rep["accepted"], bool), "accepted in the report")
    eq(rep["snapshot"]["items"], len(S["items"]), "report: items")
    eq(rep["snapshot"]["events"], len(S["events"]), "report: events")
    eq(m["snapshot"]["behaviour"]["events"], len(S["events"]), "the new behaviour part")
    check(m["snapshot"]["behaviour"]["ials"] is not None, "iALS fitted")


@test
def retrain_does_not_block_requests():
    keys = S["keys"]
    users = ["shopper-%d" % u for u in range(40)]
    stop = threading.Event()
    log = []  # (start, end, route, status)
    lock = threading.Lock()

    def hammer(k):
        c = S["srv"].client(keys["read"])
        i = 0
        while not stop.is_set():
            if i % 2:
                path, route = "/v1/items?limit=20", "items"
            else:
                path, route = ("/v1/recommend?n=10&user_id=%s" % users[(i + k) % len(users)],
                               "recommend")
            t0 = time.time()
            try:
                st = c.get(path, keep=True).status
            except OSError as e:
                st = "error: %s" % e
            with lock:
                log.append((t0, time.time(), route, st))
            i += 1

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    windows, reports = [], []
    for _ in range(RETRAINS):
        t_start = time.time()
        r = S["c"]["admin"].post("/v1/admin/retrain?wait=1")
        windows.append((t_start, time.time()))
        eq(r.status, 200, "retrain %r" % r)
        reports.append(r.json())
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    for rep in reports:
        for k in ("accepted", "seconds", "snapshot"):
            check(k in rep, "report has " + k)
        check(rep["seconds"] > 0, "retrain seconds")
    versions = [rep["snapshot"]["version"] for rep in reports]
    check(versions == sorted(set(versions)), "each retrain swapped a newer snapshot: %r" %
          versions)

    failed = [x for x in log if x[3] != 200]
    check(not failed, "%d requests failed, e.g. %r" % (len(failed), failed[:3]))
    # Recommendations read the snapshot (GET /v1/items reads the store):
    # they are the requests a retrain could hold up.
    during = [x for x in log if x[2] == "recommend" and x[3] == 200 and
              any(a <= x[0] and x[1] <= b for a, b in windows)]
    busy = sum(b - a for a, b in windows)
    check(len(during) >= MIN_ANSWERED_DURING_RETRAIN,
          "only %d recommendations answered 200 within %d retrains (%.2fs in all; need %d)" %
          (len(during), RETRAINS, busy, MIN_ANSWERED_DURING_RETRAIN))
    recs = sum(1 for x in log if x[2] == "recommend")
    check(recs > 0 and recs < len(log), "both routes were requested")
    print("     %d requests (%d recommend), %d recommendations answered within %d retrains "
          "(%.2fs)" %
          (len(log), recs, len(during), RETRAINS, busy))


@test
def new_item_reaches_the_snapshot():
    n0 = model()["snapshot"]["catalog"]["items"]
    r = S["c"]["ingest"].post("/v1/items", [{"id": "sofa-new", "title": {"en": "Blue sofa"},
                                             "category": "Living room/Sofas"}])
    eq(r.status, 201, "create %r" % r)
    wait_for(lambda: model()["snapshot"]["catalog"]["items"] == n0 + 1, "the new item")
    wait_for(lambda: model()["snapshot"]["catalog"]["embedded"] == n0 + 1,
             "the new item's vector in the snapshot")
    eq(S["c"]["ingest"].request("DELETE", "/v1/items/sofa-new").status, 204, "delete")
    wait_for(lambda: model()["snapshot"]["catalog"]["items"] == n0, "the item gone")


@test
def deleted_user_is_forgotten():
    ingest, read = S["c"]["ingest"], S["c"]["read"]
    uid = "leaving-shopper"
    sofas = [i["id"] for i in S["items"] if i["category"] == "Living room/Sofas"][:3]
    evs = [{"user_id": uid, "item_id": s, "type": t}
           for s in sofas for t in ("view", "ar_place", "add_to_cart")]
    eq(ingest.post("/v1/events", evs).status, 200, "events")
    # The shopper's first request loads their live state from the store.
    users0 = model()["live"]["users"]
    r = read.get("/v1/recommend?n=10&user_id=" + uid)
    eq(r.status, 200, "recommend %r" % r)
    personal = r.json()
    eq(personal["user_id"], uid, "user_id echoed")
    users_before = model()["live"]["users"]
    eq(users_before, users0 + 1, "the shopper's live state is held")
    eq(ingest.request("DELETE", "/v1/users/" + uid).status, 204, "delete the user")
    after = model()["live"]["users"]
    eq(after, users_before - 1, "live users after the delete")
    r = read.get("/v1/recommend?n=10&user_id=" + uid)
    eq(r.status, 200, "recommend after delete %r" % r)
    j = r.json()
    personal_sources = {"session", "als", "knn", "ar"}
    personal_reasons = {"ar_place", "tryon", "viewed", "searched", "bought"}
    for it in j["items"]:
        check(it["source"] not in personal_sources,
              "a forgotten shopper got a personal source: %r" % it)
        check(it["reason"]["code"] not in personal_reasons,
              "a forgotten shopper got a personal reason: %r" % it)
    # and their live state did not come back from the store
    eq(model()["live"]["users"], after, "live users after the cold answer")
    check(any(it["source"] in personal_sources for it in personal["items"]),
          "before the delete the shopper's list was personal")


def main():
    return run_suite("test_engine.py", setup, TESTS, S)


if __name__ == "__main__":
    sys.exit(main())
