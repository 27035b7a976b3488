#!/usr/bin/env python3
"""test_storefront_api.py - GET /v1/storefront (the storefront's own public
key) and events sent the way navigator.sendBeacon sends them (key and
session token in the query string), against a real ./vitrine server.

Run from anywhere: python3 tests/http/test_storefront_api.py (build with
`make vitrine` first). The last line is "test_storefront_api.py: N passed,
N failed"; the exit status is non-zero when a test failed.
"""
import json
import os
import shutil
import sqlite3
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vitrine_client import ROOT, BIN, Server, create_key, run_suite  # noqa: E402

WORK = os.path.join(ROOT, "build", "test-storefront")
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


def expect_error(r, status, code=None, field=None, what=""):
    check(r.status == status, "%s: expected %d, got %r" % (what, status, r))
    err = r.json()["error"]
    check(isinstance(err.get("message"), str) and err["message"], "%s: no message" % what)
    if code:
        eq(err["code"], code, what + " code")
    if field is not None:
        eq(err.get("field"), field, what + " field")
    return err


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VITRINE_")}
    e.update({"VITRINE_WEB_DIR": os.path.join(WORK, "web"),
              "VITRINE_DATA_DIR": os.path.join(WORK, "data"),
              "VITRINE_MODEL": os.path.join(WORK, "no-model"),  # text routes off: faster
              "VITRINE_LOG_LEVEL": "info", "VITRINE_RATE_PUBLIC_RPS": "1000",
              "VITRINE_RATE_PUBLIC_BURST": "1000"})
    e.update(extra)
    return e


def start(**extra):
    srv = Server(S["db"], WORK, env(**extra)).start()
    S["srv"] = srv
    return srv


def restart(**extra):
    S["srv"].terminate()
    return start(**extra)


def storefront_key():
    r = S["srv"].client().get("/v1/storefront", key=None)
    eq(r.status, 200, "GET /v1/storefront")
    return r.json()["public_key"]


def new_session(key):
    r = S["srv"].client(key).post("/v1/session")
    eq(r.status, 201, "POST /v1/session")
    return r.json()


def beacon(query, events, headers=None):
    """POST /v1/events the way sendBeacon does: no Authorization header."""
    return S["srv"].client().request("POST", "/v1/events?" + urllib.parse.urlencode(query),
                                      body=events, key=None, headers=headers)


def user_events(user):
    r = S["srv"].client(S["keys"]["read"]).get("/v1/users/%s/events" % user)
    if r.status == 404:  # a shopper with no stored event is unknown
        return []
    eq(r.status, 200, "GET /v1/users/{id}/events")
    return r.json()["events"]


def setup():
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(os.path.join(WORK, "web"))
    db = os.path.join(WORK, "shop.db")
    cat = os.path.join(WORK, "items.jsonl")
    with open(cat, "w", encoding="utf-8") as f:
        for i, (en, zh) in enumerate([("Corner sofa", "转角沙发"), ("Oak table", "橡木桌")]):
            f.write(json.dumps({"id": "p%d" % i, "title": {"en": en, "zh": zh},
                                "category": "Living room", "price": 999 + i},
                               ensure_ascii=False) + "\n")
    import subprocess
    p = subprocess.run([BIN, "import", "items", cat, "--db", db], capture_output=True,
                       text=True, env=env(VITRINE_EMBED_ON_IMPORT="0"), cwd=WORK, timeout=60)
    check(p.returncode == 0, "import: " + p.stderr)
    S["db"] = db
    S["keys"] = {s: create_key(db, s, env()) for s in ("admin", "ingest", "read")}
    start()


# ---------------------------------------------------------------- GET /v1/storefront

@test
def test_storefront_needs_no_key_and_gives_a_public_key():
    r = S["srv"].client().get("/v1/storefront", key=None)
    eq(r.status, 200, "status")
    body = r.json()
    eq(sorted(body.keys()), ["currency", "languages", "public_key"], "keys")
    eq(body["languages"], ["en", "zh"], "languages")
    eq(body["currency"], "CNY", "default currency")
    check(body["public_key"].startswith("vt_"), "key shape %r" % body["public_key"])
    c = S["srv"].client(body["public_key"])
    eq(c.get("/v1/items").status, 200, "the key reads the catalog")
    expect_error(c.get("/v1/users/someone"), 403, "forbidden", what="public scope only")
    lst = S["srv"].client(S["keys"]["admin"]).get("/v1/admin/keys").json()["keys"]
    mine = [k for k in lst if body["public_key"].startswith("vt_" + k["id"] + "_")]
    eq(len(mine), 1, "listed once among the keys")
    eq(mine[0]["scope"], "public", "scope")
    eq(mine[0]["label"], "storefront", "label")


@test
def test_storefront_key_is_kept_in_the_metadata_across_restarts():
    k1 = storefront_key()
    c = sqlite3.connect("file:%s?mode=ro" % S["db"], uri=True, timeout=10)
    try:
        row = c.execute("SELECT value FROM meta WHERE name = 'storefront_key'").fetchone()
    finally:
        c.close()
    check(row is not None, "no storefront_key in the metadata")
    stored = row[0].decode() if isinstance(row[0], bytes) else row[0]
    eq(stored, k1, "stored key")
    restart(VITRINE_STOREFRONT_CURRENCY="EUR")
    eq(storefront_key(), k1, "same key after a restart")
    eq(S["srv"].client().get("/v1/storefront", key=None).json()["currency"], "EUR",
       "currency from the configuration")
    restart()


@test
def test_a_revoked_storefront_key_is_replaced_at_the_next_start():
    k1 = storefront_key()
    kid = k1.split("_")[1]
    adm = S["srv"].client(S["keys"]["admin"])
    eq(adm.request("DELETE", "/v1/admin/keys/" + kid).status, 204, "revoke")
    expect_error(S["srv"].client().get("/v1/storefront", key=None), 503, "unavailable",
                 what="a revoked key is not handed out")
    restart()
    k2 = storefront_key()
    check(k2 != k1, "a new key after the restart")
    eq(S["srv"].client(k2).get("/v1/items").status, 200, "the new key works")
    expect_error(S["srv"].client(k1).get("/v1/items"), 401, what="the old key stays revoked")


# ---------------------------------------------------------------- sendBeacon-style events

@test
def test_events_with_key_and_session_in_the_query_are_stored():
    key = storefront_key()
    s = new_session(key)
    ev = [{"user_id": s["user_id"], "item_id": "p0", "type": "ar_place",
           "context": {"surface": "floor"}},
          {"user_id": s["user_id"], "item_id": "p0", "type": "ar_dwell", "value": 12.5}]
    r = beacon({"key": key, "session": s["session_token"]}, ev)
    eq(r.status, 200, "beacon: %r" % r)
    eq(r.json(), {"accepted": 2}, "answer")
    got = user_events(s["user_id"])
    eq(sorted(e["type"] for e in got), ["ar_dwell", "ar_place"], "stored events")
    place = [e for e in got if e["type"] == "ar_place"][0]
    eq(place["context"], {"surface": "floor"}, "context kept")
    log = open(S["srv"].log_path, "rb").read().decode("utf-8", "replace")
    check(key.split("_", 2)[2] not in log, "the key's secret must not reach the log")
    check(s["session_token"].split(".")[1] not in log, "the session token must not reach the log")


@test
def test_query_events_are_held_to_the_session_user():
    key = storefront_key()
    a, b = new_session(key), new_session(key)
    r = beacon({"key": key, "session": a["session_token"]},
               [{"user_id": b["user_id"], "item_id": "p1", "type": "view"}])
    expect_error(r, 403, "forbidden", what="another shopper's events")
    r = beacon({"key": key}, [{"user_id": a["user_id"], "item_id": "p1", "type": "view"}])
    expect_error(r, 403, "forbidden", what="no session")
    forged = a["user_id"] + "." + "A" * 43
    r = beacon({"key": key, "session": forged},
               [{"user_id": a["user_id"], "item_id": "p1", "type": "view"}])
    expect_error(r, 403, "forbidden", what="a forged token")
    eq(user_events(a["user_id"]), [], "nothing stored for a")
    eq(user_events(b["user_id"]), [], "nothing stored for b")


@test
def test_only_public_keys_are_accepted_in_the_query():
    key = storefront_key()
    s = new_session(key)
    ev = [{"user_id": s["user_id"], "item_id": "p0", "type": "view"}]
    for scope in ("read", "ingest", "admin"):
        r = beacon({"key": S["keys"][scope], "session": s["session_token"]}, ev)
        expect_error(r, 403, "forbidden", field="key", what="a %s key in the query" % scope)
    expect_error(beacon({"key": "vt_000000000000_" + "x" * 43, "session": s["session_token"]}, ev),
                 401, what="an unknown key")
    eq(user_events(s["user_id"]), [], "nothing stored")
    # Other routes do not read ?key= at all.
    r = S["srv"].client().get("/v1/items?key=" + urllib.parse.quote(key), key=None)
    expect_error(r, 401, what="?key= on GET /v1/items")
    r = S["srv"].client().post("/v1/session?key=" + urllib.parse.quote(key), key=None)
    expect_error(r, 401, what="?key= on POST /v1/session")


@test
def test_headers_win_over_the_query():
    key = storefront_key()
    a, b = new_session(key), new_session(key)
    # The header's session is b's, so an event for a is refused even though
    # the query names a's token.
    r = S["srv"].client(key).request(
        "POST", "/v1/events?session=" + urllib.parse.quote(a["session_token"]),
        body=[{"user_id": a["user_id"], "item_id": "p0", "type": "click"}],
        headers={"X-Vitrine-Session": b["session_token"]})
    expect_error(r, 403, "forbidden", what="header session wins")
    # An ingest key in the header with a public key in the query: the header
    # is used, so events for anyone are accepted.
    r = S["srv"].client(S["keys"]["ingest"]).request(
        "POST", "/v1/events?key=" + urllib.parse.quote(key),
        body=[{"user_id": "crm-7", "item_id": "p1", "type": "purchase"}])
    eq(r.status, 200, "ingest header: %r" % r)


def main():
    return run_suite("test_storefront_api.py", setup, TESTS, S)


if __name__ == "__main__":
    sys.exit(main())
