#!/usr/bin/env python3
"""test_api.py - the REST API, auth, limits, static files and durability,
checked against a real ./vitrine server on a loopback port.

Run from anywhere: python3 tests/http/test_api.py (build with `make vitrine`
first). Each test is a function below; the last line of output is
"test_api.py: N passed, N failed" and the exit status is non-zero when any
test failed. VITRINE_BIN overrides the binary.
"""
import json
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vitrine_client import ROOT, BIN, Server, create_key, raw_http, run_suite  # noqa: E402

WORK = os.path.join(ROOT, "build", "test-http")
TESTS = []
S = {}  # shared state: server, keys, clients


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
    body = r.json()
    check(set(body.keys()) == {"error"}, "%s: error body shape %r" % (what, body))
    err = body["error"]
    check(isinstance(err.get("message"), str) and err["message"], "%s: no message" % what)
    check(set(err.keys()) <= {"code", "message", "field"}, "%s: extra keys %r" % (what, err))
    if code:
        eq(err["code"], code, what + " code")
    if field is not None:
        eq(err.get("field"), field, what + " field")
    return err


# ---------------------------------------------------------------- set-up

SECRET = "TOP-SECRET-OUTSIDE-THE-ROOT"
FILES = {  # path under web/ or data/ -> (content type, body)
    "web/index.html": ("text/html; charset=utf-8", b"<!doctype html><title>shop</title>"),
    "web/app.js": ("text/javascript; charset=utf-8", b"console.log(1);"),
    "web/mod.mjs": ("text/javascript; charset=utf-8", b"export const a = 1;"),
    "web/style.css": ("text/css; charset=utf-8", b"body{margin:0}"),
    "web/data.json": ("application/json", b"{\"a\":1}"),
    "web/logo.svg": ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    "web/readme.txt": ("text/plain; charset=utf-8", b"hello"),
    "web/font.woff2": ("font/woff2", b"wOF2\0\0"),
    "web/engine.wasm": ("application/wasm", b"\0asm\1\0\0\0"),
    "web/sub/index.html": ("text/html; charset=utf-8", b"<p>sub</p>"),
    "data/assets/models/chair.glb": ("model/gltf-binary", b"glTF\2\0\0\0" + b"\0" * 64),
    "data/assets/models/chair.gltf": ("model/gltf+json", b"{\"asset\":{}}"),
    "data/assets/models/chair.bin": ("application/octet-stream", b"\1\2\3"),
    "data/assets/models/chair.usdz": ("model/vnd.usdz+zip", b"PK\3\4"),
    "data/assets/img/chair.png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    "data/assets/img/chair.jpg": ("image/jpeg", b"\xff\xd8\xff"),
    "data/assets/img/chair.webp": ("image/webp", b"RIFF\0\0\0\0WEBP"),
}


def setup():
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(WORK)
    for rel, (_, body) in FILES.items():
        p = os.path.join(WORK, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(body)
    with open(os.path.join(WORK, "secret.txt"), "w") as f:
        f.write(SECRET)
    with open(os.path.join(WORK, "web", ".env"), "w") as f:
        f.write(SECRET)
    os.symlink(os.path.join(WORK, "secret.txt"), os.path.join(WORK, "web", "link.txt"))
    env = server_env()
    db = os.path.join(WORK, "main.db")
    keys = {s: create_key(db, s, env) for s in ("admin", "ingest", "read", "public")}
    srv = Server(db, WORK, env).start()
    S.update(srv=srv, keys=keys, db=db, env=env)
    S["c"] = {s: srv.client(keys[s]) for s in keys}
    S["anon"] = srv.client(None)


def server_env(**extra):
    env = {
        "VITRINE_WEB_DIR": os.path.join(WORK, "web"),
        "VITRINE_DATA_DIR": os.path.join(WORK, "data"),
        "VITRINE_MAX_BODY_BYTES": "2000000",
        "VITRINE_CACHE_STATIC_MAX_AGE": "600",
        "VITRINE_RATE_PUBLIC_RPS": "20",
        "VITRINE_RATE_PUBLIC_BURST": "60",
        "VITRINE_GROUP_COMMIT_US": "1000",
        "VITRINE_LOG_LEVEL": "info",
    }
    env.update(extra)
    return env


def item(i, **kw):
    d = {"id": i, "title": {"en": "Item " + i}}
    d.update(kw)
    return d


# ---------------------------------------------------------------- basics

@test
def healthz_is_open_and_has_request_id():
    r = S["anon"].get("/healthz", key=None)
    eq(r.status, 200, "status")
    eq(r.json()["status"], "ok", "body")
    check(r.header("x-request-id"), "no X-Request-Id")
    r2 = S["anon"].get("/healthz", key=None)
    check(r2.header("x-request-id") != r.header("x-request-id"), "request ids repeat")
    r3 = S["anon"].get("/healthz", key=None, headers={"X-Request-Id": "abc-123"})
    eq(r3.header("x-request-id"), "abc-123", "client request id kept")


@test
def head_on_api_route():
    r = S["anon"].request("HEAD", "/healthz", key=None)
    eq(r.status, 200, "status")
    eq(r.body, b"", "HEAD body")


@test
def unauthenticated_401():
    r = S["anon"].get("/v1/items", key=None)
    expect_error(r, 401, "unauthorized", what="no key")
    check(r.header("www-authenticate", ).startswith("Bearer"), "WWW-Authenticate")
    fake = "vt_0123456789ab_" + "A" * 43
    for k in (fake, "garbage", S["keys"]["admin"][:-1] + ("B" if S["keys"]["admin"][-1] != "B" else "C")):
        r = S["anon"].get("/v1/items", key=k)
        expect_error(r, 401, "unauthorized", what="bad key %s" % k[:20])
        check("invalid_token" in r.header("www-authenticate"), "invalid_token")
    r = S["anon"].get("/v1/items", key=None,
                      headers={"Authorization": "Basic " + S["keys"]["admin"]})
    expect_error(r, 401, "unauthorized", what="wrong scheme")


@test
def scopes_403():
    c = S["c"]
    cases = [
        ("public", "POST", "/v1/items", [item("x403")]),
        ("public", "GET", "/v1/users/someone", None),
        ("public", "GET", "/v1/users/someone/events", None),
        ("read", "POST", "/v1/items", [item("x403")]),
        ("read", "POST", "/v1/events", {"user_id": "u", "type": "search",
                                        "context": {"text": "x"}}),
        ("read", "PUT", "/v1/users/u403", {"attributes": {}}),
        ("read", "DELETE", "/v1/items/x403", None),
    ]
    for scope in ("public", "read", "ingest"):
        cases += [(scope, "GET", "/v1/admin/keys", None),
                  (scope, "POST", "/v1/admin/keys", {"scope": "admin"}),
                  (scope, "DELETE", "/v1/admin/keys/0123456789ab", None),
                  (scope, "GET", "/metrics", None)]
    for scope, method, path, body in cases:
        r = c[scope].request(method, path, body=body)
        expect_error(r, 403, "forbidden", what="%s %s %s" % (scope, method, path))


@test
def not_found_404_and_method_405():
    c = S["c"]["admin"]
    expect_error(c.get("/v1/nothing"), 404, "not_found", what="unknown route")
    expect_error(c.get("/v1/items/does-not-exist"), 404, "not_found", what="unknown item")
    expect_error(c.get("/v1/users/nobody"), 404, "not_found", what="unknown user")
    expect_error(c.get("/v1/users/nobody/events"), 404, "not_found", what="unknown user events")
    expect_error(c.request("DELETE", "/v1/items/does-not-exist"), 404, "not_found",
                 what="delete unknown")
    expect_error(c.get("/nope.html"), 404, "not_found", what="unknown file")
    r = c.request("PUT", "/v1/items", body={})
    expect_error(r, 405, "method_not_allowed", what="PUT items")
    allow = r.header("allow")
    check("GET" in allow and "POST" in allow, "Allow: %r" % allow)
    r = c.request("DELETE", "/healthz")
    expect_error(r, 405, what="DELETE healthz")
    check("GET" in r.header("allow"), "Allow healthz")
    r = c.request("POST", "/index.html", body={})
    expect_error(r, 405, what="POST static")
    eq(r.header("allow"), "GET, HEAD", "Allow static")


# ---------------------------------------------------------------- items

@test
def items_create_get_patch_delete():
    c = S["c"]["ingest"]
    body = item("sofa-1", title={"en": "Sofa", "zh": "沙发"}, category="Living room/Sofas",
                price=499.0, currency="EUR", stock=3, dims_cm={"w": 200, "d": 90, "h": 80},
                tags=["sofa", "grey"], attributes={"colour": "grey"})
    r = c.post("/v1/items", body)
    eq(r.status, 201, "create %r" % r)
    eq(r.json().get("created"), 1, "created count")
    r = S["c"]["public"].get("/v1/items/sofa-1")
    eq(r.status, 200, "get")
    got = r.json()
    eq(got["title"]["zh"], "沙发", "zh title")
    eq(got["dims_cm"]["w"], 200, "dims")
    r = c.request("PATCH", "/v1/items/sofa-1", body={"price": 450, "stock": None})
    eq(r.status, 200, "patch %r" % r)
    eq(r.json()["price"], 450, "patched price")
    eq(r.json()["title"]["en"], "Sofa", "title kept")
    expect_error(c.request("PATCH", "/v1/items/sofa-1", body={"id": "other"}), 422,
                 "invalid_field", "id", what="patch id")
    expect_error(c.request("PATCH", "/v1/items/sofa-1", body={"colour": "red"}), 422,
                 "invalid_field", what="patch unknown field")
    expect_error(c.request("PATCH", "/v1/items/nope", body={"price": 1}), 404, what="patch 404")
    eq(c.request("DELETE", "/v1/items/sofa-1").status, 204, "delete")
    expect_error(c.get("/v1/items/sofa-1"), 404, what="after delete")


@test
def items_url_decoded_ids():
    c = S["c"]["ingest"]
    eq(c.post("/v1/items", item("chair é 1")).status, 201, "create")
    r = c.get("/v1/items/chair%20%C3%A9%201")
    eq(r.status, 200, "get decoded")
    eq(r.json()["id"], "chair é 1", "id")
    expect_error(c.get("/v1/items/a%2Fb"), 422, "invalid_field", "id", what="encoded slash in id")
    expect_error(c.get("/v1/items/%FF%FE"), 422, "invalid_field", "id", what="bad UTF-8 id")
    expect_error(c.get("/v1/items/%00x"), 400, "bad_request", what="NUL in id")
    expect_error(c.get("/v1/items/%zz"), 400, "bad_request", what="bad escape")


@test
def items_batch_conflict_upsert_409():
    c = S["c"]["ingest"]
    r = c.post("/v1/items", [item("b-1"), item("b-2"), item("b-3")])
    eq(r.status, 201, "batch %r" % r)
    eq(r.json()["created"], 3, "count")
    r = c.post("/v1/items", [item("b-4"), item("b-2")])
    expect_error(r, 409, "conflict", "[1].id", what="duplicate in batch")
    expect_error(c.get("/v1/items/b-4"), 404, what="batch is all or nothing")
    expect_error(c.post("/v1/items", item("b-1")), 409, "conflict", "id", what="duplicate")
    r = c.post("/v1/items?upsert=1", item("b-1", title={"en": "Renamed"}))
    check(r.status in (200, 201), "upsert %r" % r)
    eq(c.get("/v1/items/b-1").json()["title"]["en"], "Renamed", "upserted")


@test
def items_validation_422():
    c = S["c"]["ingest"]
    long_id = "x" * 129
    expect_error(c.post("/v1/items", item(long_id)), 422, None, "id", what="129-byte id")
    eq(c.post("/v1/items", item("y" * 128)).status, 201, "128-byte id")
    expect_error(c.get("/v1/items/" + long_id), 422, None, "id", what="long id in URL")
    expect_error(c.post("/v1/items", item("v1", colour="red")), 422, "invalid_field", "colour",
                 what="unknown field")
    expect_error(c.post("/v1/items", item("v1", price=-5)), 422, what="negative price")
    expect_error(c.post("/v1/items", item("v1", price=1e300)), 422, what="huge price")
    expect_error(c.post("/v1/items", {"id": "v1"}), 422, what="no title")
    expect_error(c.post("/v1/items", [item("v2"), item("v3", dims_cm={"w": "wide"})]), 422,
                 field="[1].dims_cm.w", what="field path in batch")
    expect_error(c.post("/v1/items", "just a string"), 422, what="not an object")
    big = "z" * 20000
    expect_error(c.post("/v1/items", item("v4", description={"en": big})), 422,
                 field="description.en", what="over-long string")


@test
def items_batch_limit_413():
    c = S["c"]["ingest"]
    r = c.post("/v1/items", [item("lim-%d" % i) for i in range(1001)])
    expect_error(r, 413, "too_large", what="1001 items")


@test
def items_pagination_each_once():
    c = S["c"]["ingest"]
    ids = ["pg-%04d" % i for i in range(300)]
    for k in range(0, 300, 100):
        r = c.post("/v1/items", [item(ids[n], category="Paging/Test %d" % (n % 3))
                                 for n in range(k, k + 100)])
        eq(r.status, 201, "insert page")
    seen, cursor, pages = [], None, 0
    while True:
        q = "/v1/items?category=Paging&limit=37" + ("&cursor=" + cursor if cursor else "")
        r = S["c"]["public"].get(q)
        eq(r.status, 200, "page %r" % r)
        body = r.json()
        check(len(body["items"]) <= 37, "page size")
        seen += [it["id"] for it in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        check(pages < 20, "too many pages")
    eq(sorted(seen), ids, "every item once")
    eq(len(seen), len(set(seen)), "no repeats")
    eq(seen, sorted(seen), "ordered by id")
    r = S["c"]["public"].get("/v1/items?category=Paging/Test%201&limit=1000")
    eq(len(r.json()["items"]), 100, "category filter")
    r = S["c"]["public"].get("/v1/items?q=PG-029&limit=1000")
    eq(sorted(i["id"] for i in r.json()["items"]), ["pg-%04d" % i for i in range(290, 300)],
       "q search")
    r = S["c"]["public"].get("/v1/items")
    eq(len(r.json()["items"]), 20, "default limit")
    for bad in ("0", "1001", "abc", "-1", "5x"):
        expect_error(S["c"]["public"].get("/v1/items?limit=" + bad), 422, "invalid_field",
                     "limit", what="limit=" + bad)
    expect_error(S["c"]["public"].get("/v1/items?cursor=%%%%"), 400, what="bad escape cursor")
    expect_error(S["c"]["public"].get("/v1/items?cursor=!!!"), 422, "invalid_field", "cursor",
                 what="bad cursor")


@test
def hidden_items_never_public():
    c = S["c"]["ingest"]
    eq(c.post("/v1/items", [item("hid-1", hidden=True), item("hid-2")]).status, 201, "create")
    expect_error(S["c"]["public"].get("/v1/items/hid-1"), 404, what="public get hidden")
    eq(S["c"]["read"].get("/v1/items/hid-1").status, 200, "read get hidden")
    r = S["c"]["public"].get("/v1/items?q=hid-&limit=100")
    eq([i["id"] for i in r.json()["items"]], ["hid-2"], "public list")
    r = S["c"]["read"].get("/v1/items?q=hid-&limit=100")
    eq([i["id"] for i in r.json()["items"]], ["hid-1", "hid-2"], "read list")


# ---------------------------------------------------------------- bodies

@test
def content_type_415():
    c = S["c"]["ingest"]
    body = json.dumps(item("ct-1")).encode()
    expect_error(c.post("/v1/items", raw=body, ctype="text/plain"), 415,
                 "unsupported_media_type", what="text/plain")
    expect_error(c.post("/v1/items", raw=body, ctype=None), 415, what="no content type")
    expect_error(c.post("/v1/items", raw=body, ctype="application/json; charset=latin-1"), 415,
                 what="latin-1")
    r = c.post("/v1/items", raw=body, ctype="application/json; charset=UTF-8")
    eq(r.status, 201, "charset param accepted %r" % r)


@test
def bad_json_400_with_line_and_column():
    c = S["c"]["ingest"]
    err = expect_error(c.post("/v1/items", raw=b'{\n  "id": "j1",\n  "title": }'), 400,
                       "bad_request", what="syntax")
    check("line 3" in err["message"] and "column" in err["message"],
          "line/column in %r" % err["message"])
    expect_error(c.post("/v1/items", raw=b'{"id": "a", "id": "b"}'), 400, what="duplicate key")
    expect_error(c.post("/v1/items", raw=b""), 400, what="empty body")
    expect_error(c.post("/v1/items", raw=b'{"id": "a"} trailing'), 400, what="trailing")


@test
def invalid_utf8_and_nul_rejected_server_alive():
    c = S["c"]["ingest"]
    bodies = [b'{"id": "u8", "title": {"en": "\xff\xfe"}}',
              b'{"id": "u8", "title": {"en": "a\x00b"}}',
              b'{"id": "u8", "title": {"en": "a\\u0000b"}}',
              b'\x00\x00\x00',
              b'{"id": "\xc0\xaf"}']
    for b in bodies:
        r = c.post("/v1/items", raw=b)
        expect_error(r, 400, "bad_request", what="body %r" % b[:20])
    r = c.post("/v1/events", raw=b'[{"user_id": "u\xed\xa0\x80", "type": "search"}]')
    expect_error(r, 400, what="surrogate")
    expect_error(c.get("/v1/items?q=%FF"), 400, what="bad UTF-8 in query")
    expect_error(c.get("/v1/items?q=a%00b"), 400, what="NUL in query")
    eq(S["anon"].get("/healthz", key=None).status, 200, "still alive")


@test
def body_too_large_413():
    srv, key = S["srv"], S["keys"]["ingest"]
    head = ("POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\n" % key)
    # Declared length over the cap: answered before the body is read.
    status, _, body = raw_http(srv.host, srv.port,
                               (head + "Content-Length: 3000000\r\n\r\n").encode(),
                               [b"[" + b" " * 65536])
    eq(status, 413, "declared length")
    eq(json.loads(body)["error"]["code"], "too_large", "code")
    # Chunked body crossing the cap: dropped as it arrives, 413 at its end.
    chunk = b"[" + b" " * 65535
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 32 + [b"0\r\n\r\n"]
    status, _, body = raw_http(srv.host, srv.port,
                               (head + "Transfer-Encoding: chunked\r\n\r\n").encode(), chunks)
    eq(status, 413, "chunked")
    eq(S["anon"].get("/healthz", key=None).status, 200, "alive")


# ---------------------------------------------------------------- events and users

@test
def events_validation_422():
    c = S["c"]["ingest"]
    c.post("/v1/items", item("ev-item"))
    good = {"user_id": "ev-user", "item_id": "ev-item", "type": "view"}
    cases = [
        (dict(good, ts="yesterday"), "ts"),
        (dict(good, ts="2026-13-45T99:00:00Z"), "ts"),
        (dict(good, type="teleport"), "type"),
        (dict(good, type="rating", value=7), "value"),
        (dict(good, type="rating", value=0.1), "value"),
        (dict(good, colour="red"), "colour"),
        (dict(good, user_id="u" * 129), "user_id"),
        (dict(good, context={"text": "t" * 20000}), None),
        (dict(good, user_id=""), "user_id"),
    ]
    for body, field in cases:
        expect_error(c.post("/v1/events", body), 422, "invalid_field" if field in
                     ("type", "colour") else None, field, what="event %s" % field)
    r = c.post("/v1/events", [good, dict(good, type="teleport")])
    expect_error(r, 422, field="[1].type", what="batch index")
    r = c.post("/v1/events", dict(good, item_id="no-such-item"))
    expect_error(r, 422, what="unknown item")
    r = c.get("/v1/users/ev-user/events")
    check(r.status == 404 or r.json()["events"] == [], "nothing stored from rejected batches")


@test
def events_and_user_routes():
    c = S["c"]["ingest"]
    c.post("/v1/items", item("ev2-item"))
    evs = [{"user_id": "shopper-1", "item_id": "ev2-item", "type": "view"},
           {"user_id": "shopper-1", "item_id": "ev2-item", "type": "rating", "value": 4.5,
            "ts": "2026-11-20T10:00:00Z"},
           {"user_id": "shopper-1", "type": "search", "context": {"text": "grey sofa"}},
           {"user_id": "shopper-1", "item_id": "ev2-item", "type": "ar_place",
            "context": {"surface": "floor"}}]
    r = c.post("/v1/events", evs)
    eq(r.status, 200, "post %r" % r)
    eq(r.json(), {"accepted": 4}, "accepted")
    r = c.post("/v1/events", {"user_id": "shopper-1", "item_id": "ev2-item", "type": "click"})
    eq(r.json(), {"accepted": 1}, "single")
    r = S["c"]["read"].get("/v1/users/shopper-1")
    eq(r.status, 200, "user")
    eq(r.json()["id"], "shopper-1", "user id")
    r = S["c"]["read"].get("/v1/users/shopper-1/events")
    got = r.json()["events"]
    eq(len(got), 5, "events")
    eq(got[0]["type"], "click", "newest first")
    check(any(e["type"] == "rating" and e["value"] == 4.5 for e in got), "rating stored")
    r = S["c"]["read"].get("/v1/users/shopper-1/events?limit=2")
    b = r.json()
    eq(len(b["events"]), 2, "limit")
    r2 = S["c"]["read"].get("/v1/users/shopper-1/events?limit=10&before=%d" % b["next_before"])
    eq(len(r2.json()["events"]), 3, "next page")
    eq(r2.json()["next_before"], None, "last page")
    expect_error(S["c"]["read"].get("/v1/users/shopper-1/events?before=x"), 422,
                 field="before", what="bad before")
    # PUT attributes and consent, then forget the user.
    r = c.request("PUT", "/v1/users/shopper-1",
                  body={"attributes": {"tier": "gold"}, "consent": {"personalisation": True}})
    eq(r.status, 200, "put %r" % r)
    u = S["c"]["read"].get("/v1/users/shopper-1").json()
    eq(u["attributes"]["tier"], "gold", "attributes")
    eq(u["consent"]["personalisation"], True, "consent")
    expect_error(c.request("PUT", "/v1/users/shopper-1", body={"nickname": "x"}), 422,
                 what="unknown user field")
    eq(c.request("DELETE", "/v1/users/shopper-1").status, 204, "forget")
    expect_error(S["c"]["read"].get("/v1/users/shopper-1"), 404, what="forgotten")
    expect_error(S["c"]["read"].get("/v1/users/shopper-1/events"), 404, what="events gone")
    expect_error(c.request("DELETE", "/v1/users/shopper-1"), 404, what="forget twice")


@test
def events_batch_10000_and_limit_413():
    c = S["c"]["ingest"]
    c.post("/v1/items", [item("bulk-%d" % i) for i in range(10)])
    evs = [{"user_id": "bulk-user", "item_id": "bulk-%d" % (i % 10), "type": "view",
            "context": {"n": i}} for i in range(10000)]
    t0 = time.time()
    r = c.post("/v1/events", evs)
    dt = time.time() - t0
    eq(r.status, 200, "10k batch %r" % r)
    eq(r.json()["accepted"], 10000, "accepted")
    seen, before = set(), None
    while True:
        q = "/v1/users/bulk-user/events?limit=1000" + ("&before=%d" % before if before else "")
        b = S["c"]["read"].get(q).json()
        seen.update(e["context"]["n"] for e in b["events"])
        before = b["next_before"]
        if before is None:
            break
    eq(len(seen), 10000, "all stored")
    check(dt < 20, "10k batch took %.1fs" % dt)
    r = c.post("/v1/events", evs + [evs[0]])
    expect_error(r, 413, "too_large", what="10001 events")


@test
def public_session_flow():
    pub = S["c"]["public"]
    S["c"]["ingest"].post("/v1/items", item("sess-item"))
    r = pub.post("/v1/session")
    eq(r.status, 201, "session %r" % r)
    s = r.json()
    check(s["user_id"].startswith("anon_"), "anon id")
    tok = s["session_token"]
    check(tok.startswith(s["user_id"] + "."), "token form")
    hdr = {"X-Vitrine-Session": tok}
    ev = {"user_id": s["user_id"], "item_id": "sess-item", "type": "view"}
    r = pub.post("/v1/events", [ev, dict(ev, type="ar_session")], headers=hdr)
    eq(r.status, 200, "own events %r" % r)
    eq(r.json()["accepted"], 2, "accepted")
    expect_error(pub.post("/v1/events", dict(ev, user_id="someone-else"), headers=hdr), 403,
                 "forbidden", what="other user")
    expect_error(pub.post("/v1/events", [ev, dict(ev, user_id="x")], headers=hdr), 403,
                 field="[1].user_id", what="other user in batch")
    expect_error(pub.post("/v1/events", ev), 403, what="no session")
    forged = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    expect_error(pub.post("/v1/events", ev, headers={"X-Vitrine-Session": forged}), 403,
                 what="forged token")
    other = pub.post("/v1/session").json()
    expect_error(pub.post("/v1/events", ev, headers={"X-Vitrine-Session":
                                                     other["session_token"]}), 403,
                 what="someone else's token")
    r = S["c"]["read"].get("/v1/users/%s/events" % s["user_id"])
    eq(len(r.json()["events"]), 2, "stored for the anonymous user")
    eq(pub.get("/v1/items?limit=1").status, 200, "public reads the catalog")


@test
def public_rate_limit_429():
    # From another loopback address, so other tests keep their own bucket.
    c = S["srv"].client(S["keys"]["public"], source="127.0.0.2")
    statuses, retry = [], None
    for _ in range(150):
        r = c.get("/v1/items?limit=1", keep=True)
        statuses.append(r.status)
        if r.status == 429:
            retry = r.header("retry-after")
            expect_error(r, 429, "rate_limited", what="429 body")
            break
    c.close()
    check(429 in statuses, "no 429 after %d requests" % len(statuses))
    check(statuses.count(200) >= 55, "burst honoured: %d" % statuses.count(200))
    check(retry and int(retry) >= 1, "Retry-After %r" % retry)
    eq(S["c"]["public"].get("/v1/items?limit=1").status, 200, "other address unaffected")
    eq(S["c"]["read"].get("/v1/items?limit=1", ).status, 200, "read key not limited")


# ---------------------------------------------------------------- admin

@test
def admin_keys_create_list_revoke():
    adm = S["c"]["admin"]
    r = adm.post("/v1/admin/keys", {"scope": "read", "label": "dashboard"})
    eq(r.status, 201, "create %r" % r)
    k = r.json()
    check(k["key"].startswith("vt_") and k["scope"] == "read", "key %r" % k)
    newc = S["srv"].client(k["key"])
    eq(newc.get("/v1/items?limit=1").status, 200, "new key works")
    expect_error(newc.post("/v1/items", item("nope")), 403, what="new key scope")
    lst = adm.get("/v1/admin/keys").json()["keys"]
    mine = [x for x in lst if x["id"] == k["id"]]
    eq(len(mine), 1, "listed")
    eq(mine[0]["label"], "dashboard", "label")
    check("key" not in mine[0] and "hash" not in mine[0], "no secret in list")
    eq(adm.request("DELETE", "/v1/admin/keys/" + k["id"]).status, 204, "revoke")
    time.sleep(0.05)
    expect_error(newc.get("/v1/items?limit=1"), 401, what="revoked key")
    expect_error(adm.request("DELETE", "/v1/admin/keys/ffffffffffff"), 404, what="unknown key")
    expect_error(adm.post("/v1/admin/keys", {"scope": "root"}), 422, field="scope",
                 what="bad scope")
    expect_error(adm.post("/v1/admin/keys", {"scope": "read", "x": 1}), 422, field="x",
                 what="unknown field")


@test
def revoked_elsewhere_stops_within_a_second():
    r = S["c"]["admin"].post("/v1/admin/keys", {"scope": "ingest"})
    k = r.json()
    c = S["srv"].client(k["key"])
    eq(c.get("/v1/items?limit=1").status, 200, "works")
    import subprocess
    out = subprocess.run([BIN, "key", "revoke", k["id"], "--db", S["db"]],
                         capture_output=True, text=True, env=dict(os.environ, **S["env"]))
    eq(out.returncode, 0, "cli revoke: " + out.stderr)
    time.sleep(1.3)
    expect_error(c.get("/v1/items?limit=1"), 401, what="revoked by the CLI")


@test
def metrics_prometheus():
    r = S["c"]["admin"].get("/metrics")
    eq(r.status, 200, "metrics")
    check(r.header("content-type").startswith("text/plain"), "content type")
    t = r.body.decode()
    for needle in ('vitrine_http_requests_total{route="/healthz",method="GET",status="200"}',
                   'vitrine_http_requests_total{route="/v1/items",method="POST",status="413"}',
                   'vitrine_http_request_duration_seconds_bucket{route="/v1/events",le="+Inf"}',
                   "vitrine_http_request_duration_seconds_sum", "vitrine_events_stored_total ",
                   "vitrine_items ", "vitrine_db_bytes ", "vitrine_memory_bytes ",
                   "process_start_time_seconds ", "vitrine_uptime_seconds "):
        check(needle in t, "missing %s" % needle)
    vals = {l.split()[0]: float(l.split()[1]) for l in t.splitlines()
            if l and not l.startswith("#")}
    check(vals["vitrine_events_stored_total"] >= 10000, "events stored counted")
    check(vals["vitrine_db_bytes"] > 0 and vals["vitrine_memory_bytes"] > 0, "sizes")


# ---------------------------------------------------------------- static files

@test
def static_types_and_caching():
    c = S["anon"]
    for rel, (ctype, body) in FILES.items():
        url = "/" + rel[4:] if rel.startswith("web/") else "/" + rel[5:]
        r = c.get(url, key=None)
        eq(r.status, 200, url)
        eq(r.header("content-type"), ctype, url + " type")
        eq(r.body, body, url + " body")
        cc = r.header("cache-control")
        if ctype.startswith("text/html"):
            eq(cc, "no-cache", url + " cache")
        else:
            eq(cc, "public, max-age=600", url + " cache")
        check(r.header("etag") and r.header("last-modified"), url + " validators")
    r = c.get("/", key=None)
    eq(r.body, FILES["web/index.html"][1], "index for /")
    eq(c.get("/sub/", key=None).body, FILES["web/sub/index.html"][1], "index for /sub/")
    r = c.get("/assets/models/chair.glb", key=None)
    r304 = c.get("/assets/models/chair.glb", key=None, headers={"If-None-Match": r.header("etag")})
    eq(r304.status, 304, "If-None-Match")
    eq(r304.body, b"", "304 body")
    r304 = c.get("/assets/models/chair.glb", key=None,
                 headers={"If-Modified-Since": r.header("last-modified")})
    eq(r304.status, 304, "If-Modified-Since")
    r = c.request("HEAD", "/assets/models/chair.glb", key=None)
    eq(r.status, 200, "HEAD")
    eq(r.body, b"", "HEAD body")
    eq(r.header("content-length"), str(len(FILES["data/assets/models/chair.glb"][1])), "HEAD len")
    expect_error(c.get("/assets/models/none.glb", key=None), 404, what="missing asset")


@test
def static_traversal_refused():
    srv = S["srv"]
    attempts = ["/../secret.txt", "/../../etc/passwd", "/assets/../../secret.txt",
                "/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt",
                "/assets/..%2f..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
                "/assets/models%2f..%2f..%2f..%2fsecret.txt", "/..%5csecret.txt",
                "/assets\\..\\..\\secret.txt", "/index.html%00.png", "/.env", "/link.txt",
                "//etc/passwd", "/assets/./models/chair.glb", "/%2E%2E/secret.txt"]
    for a in attempts:
        status, _, body = raw_http(srv.host, srv.port,
                                   ("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                                    % a).encode())
        check(status in (400, 403, 404), "%s answered %d" % (a, status))
        check(SECRET.encode() not in body and b"root:" not in body, "%s leaked" % a)
    eq(S["anon"].get("/healthz", key=None).status, 200, "alive")


# ---------------------------------------------------------------- process life

@test
def ipv6_loopback_listen():
    env = server_env()
    db = os.path.join(WORK, "v6.db")
    srv = Server(db, WORK, env, listen_host="::1").start()
    try:
        eq(srv.client().get("/healthz").status, 200, "healthz over IPv6")
    finally:
        eq(srv.terminate(), 0, "exit status")


@test
def crash_kill9_keeps_acknowledged_events():
    env = server_env()
    db = os.path.join(WORK, "crash.db")
    key = create_key(db, "ingest", env)
    srv = Server(db, WORK, env).start()
    c0 = srv.client(key)
    eq(c0.post("/v1/items", item("crash-item")).status, 201, "item")
    acked = {t: [] for t in range(4)}
    stop = threading.Event()
    errors = []

    def worker(t):
        c = srv.client(key)
        seq = 0
        while not stop.is_set():
            batch = [{"user_id": "crash-%d" % t, "item_id": "crash-item", "type": "view",
                      "context": {"m": "%d-%d" % (t, seq + i)}} for i in range(20)]
            try:
                r = c.post("/v1/events", batch, keep=True)
            except Exception:
                break  # the server died under us: this batch was not acknowledged
            if r.status != 200:
                errors.append(r)
                break
            acked[t] += [e["context"]["m"] for e in batch]
            seq += 20
        c.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    time.sleep(1.0)
    srv.kill9()
    stop.set()
    for th in threads:
        th.join(10)
    check(not errors, "errors while ingesting: %r" % errors[:2])
    total = sum(len(v) for v in acked.values())
    check(total > 0, "nothing acknowledged before the kill")
    srv2 = Server(db, WORK, env).start()
    try:
        admin = create_key(db, "read", env)
        c = srv2.client(admin)
        for t in range(4):
            stored, before = set(), None
            while True:
                q = "/v1/users/crash-%d/events?limit=1000" % t + (
                    "&before=%d" % before if before else "")
                r = c.get(q)
                if r.status == 404 and not acked[t]:
                    break
                eq(r.status, 200, "events of crash-%d" % t)
                b = r.json()
                stored.update(e["context"]["m"] for e in b["events"])
                before = b["next_before"]
                if before is None:
                    break
            missing = [m for m in acked[t] if m not in stored]
            check(not missing, "thread %d: %d acknowledged events lost (of %d), e.g. %r"
                  % (t, len(missing), len(acked[t]), missing[:3]))
    finally:
        srv2.stop_quietly()
    print("  crash test: %d acknowledged events, all present after kill -9" % total)


@test
def sigterm_finishes_in_flight_and_exits_zero():
    import socket
    srv = S["srv"]
    evs = json.dumps([{"user_id": "late-user", "type": "search", "context": {"text": "t%d" % i}}
                      for i in range(200)]).encode()
    head = ("POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (S["keys"]["ingest"], len(evs))).encode()
    # A: a request in flight (headers and half the body sent) when SIGTERM comes.
    a = socket.create_connection((srv.host, srv.port), timeout=10)
    a.sendall(head + evs[:len(evs) // 2])
    # B: an idle keep-alive connection that sends one more request after it.
    b = srv.client(S["keys"]["read"])
    eq(b.get("/v1/items?limit=1", keep=True).status, 200, "before")
    time.sleep(0.3)
    srv.proc.send_signal(15)
    time.sleep(0.3)
    try:
        r = b.get("/v1/items?limit=1", keep=True)
        expect_error(r, 503, "unavailable", what="new request while stopping")
        eq(r.header("connection"), "close", "Connection: close while stopping")
    except OSError:
        pass  # also acceptable: the connection was closed
    b.close()
    try:
        S["anon"].get("/healthz", key=None)
        raise AssertionError("still accepting connections after SIGTERM")
    except OSError:
        pass
    a.sendall(evs[len(evs) // 2:])
    resp = b""
    while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
        d = a.recv(65536)
        if not d:
            break
        resp += d
    a.close()
    check(resp.startswith(b"HTTP/1.1 200"), "in-flight request answered %r" % resp[:200])
    check(b'"accepted":200' in resp, "in-flight batch accepted")
    eq(srv.proc.wait(timeout=20), 0, "exit status after SIGTERM")
    srv.log.close()
    log = srv.log_text()
    check('msg="listening"' in log and 'msg="stopping"' in log and 'msg="stopped"' in log,
          "start/stop log lines")
    check("rid=" in log and "duration_ms=" in log and "scope=ingest" in log, "request log lines")
    # The acknowledged in-flight batch is in the database.
    out = __import__("subprocess").run([BIN, "export", "events", "--db", S["db"]],
                                       capture_output=True, text=True, timeout=60)
    eq(out.returncode, 0, "export: " + out.stderr)
    late = [l for l in out.stdout.splitlines() if '"late-user"' in l]
    eq(len(late), 200, "in-flight events exported")


# ---------------------------------------------------------------- runner

def main():
    return run_suite("test_api.py", setup, TESTS, S)


if __name__ == "__main__":
    sys.exit(main())
