#!/usr/bin/env python3
"""test_dashboard.py - the admin dashboard's routes, GET /v1/admin/stats
(events per minute by type) and GET /v1/admin/events (the newest events),
against a real ./vitrine server on a loopback port.

Events are posted with known types and times, then the counts the server
gives are compared with counts made here from what was posted. Run from
anywhere: python3 tests/http/test_dashboard.py (build with `make vitrine`
first); the last line is "test_dashboard.py: N passed, N failed".
"""
import datetime
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vitrine_client import ROOT, Server, create_key, run_suite  # noqa: E402

WORK = os.path.join(ROOT, "build", "test-dashboard")
TESTS = []
S = {}
MIN = 60000


def test(fn):
    TESTS.append(fn)
    return fn


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def iso(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def parse_iso(s):
    d = datetime.datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(round(d.timestamp() * 1000))


def now_ms():
    return int(time.time() * 1000)


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VITRINE_")}
    e.update({"VITRINE_WEB_DIR": os.path.join(WORK, "web"),
              "VITRINE_DATA_DIR": os.path.join(WORK, "data"),
              # No text model: the dashboard needs none, and start-up stays fast.
              "VITRINE_MODEL": os.path.join(WORK, "no-model"),
              "VITRINE_GROUP_COMMIT_US": "500",
              "VITRINE_LOG_LEVEL": "info"})
    e.update(extra)
    return e


def setup():
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(os.path.join(WORK, "web"))
    os.makedirs(os.path.join(WORK, "data"))
    db = os.path.join(WORK, "dash.db")
    keys = {s: create_key(db, s, env()) for s in ("admin", "ingest", "read", "public")}
    srv = Server(db, WORK, env()).start()
    S.update(srv=srv, keys=keys)
    S["c"] = {s: srv.client(keys[s]) for s in keys}
    S["anon"] = srv.client(None)
    items = [{"id": "p%d" % i, "title": {"en": "Piece %d" % i}} for i in range(5)]
    r = S["c"]["ingest"].post("/v1/items", items)
    eq(r.status, 201, "items created %r" % r)


def post_events(evs):
    for i in range(0, len(evs), 1000):
        r = S["c"]["ingest"].post("/v1/events", evs[i:i + 1000])
        eq(r.status, 200, "events accepted %r" % r)


def stats(minutes=None):
    q = "/v1/admin/stats" + ("?minutes=%d" % minutes if minutes is not None else "")
    r = S["c"]["admin"].get(q)
    eq(r.status, 200, "GET %s %r" % (q, r))
    return r.json()


def expected_counts(evs, first_ms, end_ms):
    """{minute_ms: {type: n}} and totals, from the events posted here."""
    per, tot = {}, {}
    for e in evs:
        ts = parse_iso(e["ts"])
        if first_ms <= ts < end_ms:
            m = ts // MIN * MIN
            per.setdefault(m, {})
            per[m][e["type"]] = per[m].get(e["type"], 0) + 1
            tot[e["type"]] = tot.get(e["type"], 0) + 1
    return per, tot


def assert_stats(body, evs, what):
    """The answer's buckets and totals equal the counts of evs in its window."""
    first = parse_iso(body["per_minute"][0]["minute"])
    end = parse_iso(body["per_minute"][-1]["minute"]) + MIN
    per, tot = expected_counts(evs, first, end)
    for b in body["per_minute"]:
        m = parse_iso(b["minute"])
        eq(b["counts"], per.get(m, {}), "%s: minute %s" % (what, b["minute"]))
    got_tot = {k: v for k, v in body["totals"].items() if v}
    eq(got_tot, tot, what + ": totals")
    eq(body["total"], sum(tot.values()), what + ": total")
    eq(body["truncated"], False, what + ": truncated")


# ---------------------------------------------------------------- tests

@test
def test_admin_only():
    for path in ("/v1/admin/stats", "/v1/admin/events"):
        eq(S["anon"].get(path).status, 401, path + " without a key")
        for scope in ("public", "read", "ingest"):
            r = S["c"][scope].get(path)
            eq(r.status, 403, "%s with a %s key" % (path, scope))
            eq(r.error_code(), "forbidden", path + " error code")
        eq(S["c"]["admin"].get(path).status, 200, path + " with an admin key")
        eq(S["c"]["admin"].request("POST", path, body={}).status, 405, "POST " + path)


@test
def test_stats_empty_shape():
    t0 = now_ms()
    b = stats()
    t1 = now_ms()
    eq(sorted(b.keys()), sorted(["minutes", "from", "to", "per_minute", "totals", "total",
                                 "scanned", "truncated"]), "keys")
    eq(b["minutes"], 60, "default window")
    eq(len(b["per_minute"]), 60, "one entry a minute")
    mins = [parse_iso(x["minute"]) for x in b["per_minute"]]
    for a, c in zip(mins, mins[1:]):
        eq(c - a, MIN, "consecutive minutes")
    check(mins[-1] // MIN * MIN == mins[-1], "minutes start on the minute")
    check(t0 // MIN * MIN <= mins[-1] <= t1 // MIN * MIN, "the last entry is this minute")
    eq(b["from"], b["per_minute"][0]["minute"], "from")
    check(t0 - 1000 <= parse_iso(b["to"]) <= t1 + 1000, "to is now")
    eq(b["total"], 0, "no events yet")
    check(len(b["totals"]) == 16 and all(v == 0 for v in b["totals"].values()),
          "every type in totals, all zero: %r" % b["totals"])
    check(all(x["counts"] == {} for x in b["per_minute"]), "empty minutes")
    eq(len(stats(5)["per_minute"]), 5, "minutes=5")
    eq(len(stats(1440)["per_minute"]), 1440, "minutes=1440")


@test
def test_bad_parameters():
    a = S["c"]["admin"]
    for q in ("minutes=0", "minutes=1441", "minutes=abc", "minutes=", "minutes=-5",
              "minutes=1.5"):
        r = a.get("/v1/admin/stats?" + q)
        eq(r.status, 422, q)
        eq(r.json()["error"].get("field"), "minutes", q + " field")
    for q, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                     ("after_id=-1", "after_id"), ("after_id=1e3", "after_id")):
        r = a.get("/v1/admin/events?" + q)
        eq(r.status, 422, q)
        eq(r.json()["error"].get("field"), field, q + " field")


@test
def test_stats_counts_known_events():
    now = now_ms()
    types = ["view", "click", "add_to_cart", "purchase", "ar_place", "showroom_view",
             "search", "tryon"]
    evs = []
    # Hours ago first (as an import of history would be), then the window.
    for i in range(700):
        evs.append({"user_id": "old%d" % (i % 7), "item_id": "p%d" % (i % 5), "type": "view",
                    "ts": iso(now - 3 * 3600 * 1000 + i * 1000)})
    # 2,400 events spread over the last 50 minutes, ascending, mixed types:
    # more than one page of the server's scan.
    start = now - 50 * MIN
    for i in range(2400):
        t = types[(i * 7) % len(types)]
        e = {"user_id": "u%d" % (i % 13), "type": t, "ts": iso(start + i * 1240)}
        if t == "search":
            e["context"] = {"text": "oak table"}
        else:
            e["item_id"] = "p%d" % (i % 5)
        evs.append(e)
    post_events(evs)
    S["posted"] = evs
    b = stats()
    assert_stats(b, evs, "60 minutes")
    eq(b["total"], 2400, "the window holds the 2,400 recent events")
    check(b["scanned"] < 2400 + 100, "the old events were skipped, not read (%d)" % b["scanned"])
    # A window of ten minutes counts only the last ten minutes.
    b10 = stats(10)
    assert_stats(b10, evs, "10 minutes")
    check(0 < b10["total"] < 2400, "ten minutes hold part of them (%d)" % b10["total"])
    # A day-long window reaches the old ones.
    bday = stats(1440)
    assert_stats(bday, evs, "a day")
    eq(bday["total"], 3100, "a day holds them all")


@test
def test_stats_follow_new_events():
    before = stats()
    now = now_ms()
    new = [{"user_id": "fresh", "item_id": "p1", "type": "ar_session", "ts": iso(now)},
           {"user_id": "fresh", "item_id": "p1", "type": "ar_session", "ts": iso(now)},
           {"user_id": "fresh", "item_id": "p2", "type": "showroom_view", "ts": iso(now)}]
    post_events(new)
    S["posted"] = S.get("posted", []) + new
    after = stats()
    eq(after["totals"]["ar_session"], before["totals"]["ar_session"] + 2, "ar_session total")
    eq(after["totals"]["showroom_view"], before["totals"]["showroom_view"] + 1,
       "showroom_view total")
    assert_stats(after, S["posted"], "after new events")


@test
def test_events_stream():
    a = S["c"]["admin"]
    r = a.get("/v1/admin/events?limit=5")
    eq(r.status, 200, "newest five")
    b = r.json()
    eq(sorted(b.keys()), ["events", "last_id", "more"], "keys")
    evs = b["events"]
    eq(len(evs), 5, "five events")
    ids = [e["id"] for e in evs]
    eq(ids, sorted(ids), "newest last")
    eq(b["last_id"], ids[-1], "last_id is the newest shown")
    eq([e["type"] for e in evs[-3:]], ["ar_session", "ar_session", "showroom_view"],
       "the last posted are the newest")
    check(set(evs[0].keys()) >= {"id", "user_id", "item_id", "type", "value", "context", "ts"},
          "event shape %r" % evs[0])
    # Nothing newer yet.
    r = a.get("/v1/admin/events?after_id=%d" % b["last_id"])
    eq(r.json(), {"events": [], "last_id": b["last_id"], "more": False}, "caught up")
    # New events show up after the cursor, in order.
    post_events([{"user_id": "live", "item_id": "p3", "type": "click"},
                 {"user_id": "live", "item_id": "p4", "type": "add_to_cart"}])
    r = a.get("/v1/admin/events?after_id=%d" % b["last_id"]).json()
    eq([(e["user_id"], e["type"]) for e in r["events"]],
       [("live", "click"), ("live", "add_to_cart")], "the stream grew")
    eq(r["more"], False, "no more")
    check(r["events"][0]["id"] > b["last_id"], "ids after the cursor")
    # A client far behind is told there is more.
    r = a.get("/v1/admin/events?after_id=0&limit=3").json()
    eq(len(r["events"]), 3, "three of the oldest")
    eq(r["more"], True, "more behind")
    r2 = a.get("/v1/admin/events?after_id=%d&limit=3" % r["last_id"]).json()
    check(r2["events"][0]["id"] > r["last_id"], "the next page follows")
    # Default limit is 100.
    eq(len(a.get("/v1/admin/events").json()["events"]), 100, "default limit")


@test
def test_events_newest_across_deleted_ids():
    a = S["c"]["admin"]
    post_events([{"user_id": "keep-a", "item_id": "p0", "type": "view"} for _ in range(3)])
    post_events([{"user_id": "gone", "item_id": "p0", "type": "view"} for _ in range(40)])
    post_events([{"user_id": "keep-b", "item_id": "p0", "type": "zoom"} for _ in range(2)])
    eq(S["c"]["ingest"].request("DELETE", "/v1/users/gone").status, 204, "user deleted")
    evs = a.get("/v1/admin/events?limit=5").json()["events"]
    eq([e["user_id"] for e in evs], ["keep-a"] * 3 + ["keep-b"] * 2,
       "the five newest skip the deleted user's ids")
    ids = [e["id"] for e in evs]
    eq(ids, sorted(ids), "ascending")


@test
def test_empty_store_stream():
    # A second server on an empty database: the stream is empty, not an error.
    db = os.path.join(WORK, "empty.db")
    key = create_key(db, "admin", env())
    srv = Server(db, WORK, env()).start()
    try:
        r = srv.client(key).get("/v1/admin/events")
        eq(r.status, 200, "empty stream")
        eq(r.json(), {"events": [], "last_id": 0, "more": False}, "empty body")
        r = srv.client(key).get("/v1/admin/stats?minutes=2")
        eq(r.json()["total"], 0, "empty stats")
    finally:
        srv.stop_quietly()


# ---------------------------------------------------------------- runner

def main():
    return run_suite("test_dashboard.py", setup, TESTS, S)


if __name__ == "__main__":
    sys.exit(main())
