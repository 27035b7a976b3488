#!/usr/bin/env python3
"""test_cli.py - the `vitrine` command as a user runs it.

Runs the real binary (./vitrine, or $VITRINE_BIN) in a scratch folder with
no VITRINE_* variables inherited: versions and help, usage errors, API keys,
imports of items and events in JSON Lines and CSV with good and bad lines,
the export round trip, --db / $VITRINE_DB / configuration precedence, and
that docs/configuration.md and vitrine.conf.example match the keys the
program knows. Some checks read what was imported back through a real
server on a loopback port. Python 3 standard library only.

Ends with "test_cli.py: N passed, N failed"; exits 1 on any failure.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("VITRINE_BIN", os.path.join(ROOT, "vitrine")))
SCRATCH = tempfile.mkdtemp(prefix="vitrine-cli-")
KEY_RE = re.compile(r"^vt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")

COMMANDS = ["serve", "import items", "import events", "import sh3d", "key create",
            "key list", "key revoke", "export events", "export items", "train", "config", "version"]


class Result:
    def __init__(self, p):
        self.code, self.out, self.err = p.returncode, p.stdout, p.stderr

    def __repr__(self):
        return "exit %d\n--- stdout\n%s--- stderr\n%s" % (self.code, self.out[-2000:],
                                                         self.err[-2000:])


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITRINE_")}
    env.update(extra)
    return env


def vitrine(*args, stdin=None, env=None, cwd=None, timeout=120):
    p = subprocess.run([BIN] + list(args), input=stdin, capture_output=True,
                       env=env if env is not None else clean_env(), cwd=cwd or SCRATCH,
                       timeout=timeout, encoding="utf-8", errors="replace")
    return Result(p)


def path(name):
    return os.path.join(SCRATCH, name)


def write(name, text):
    with open(path(name), "w", encoding="utf-8") as f:
        f.write(text)
    return path(name)


def one_line_failure(r, code=None):
    """A failure: non-zero exit and exactly one line 'vitrine: ...' on stderr."""
    assert r.code != 0, r
    if code is not None:
        assert r.code == code, r
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vitrine: "), r
    return lines[0]


def fresh_db(name):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path(name) + suffix):
            os.remove(path(name) + suffix)
    return path(name)


def export(db):
    r = vitrine("export", "events", "--db", db)
    assert r.code == 0, r
    return [json.loads(line) for line in r.out.splitlines()]


class Server:
    """vitrine serve on a free loopback port, for reading imports back."""

    def __init__(self, db):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc = subprocess.Popen([BIN, "serve", "--db", db, "--listen",
                                      "127.0.0.1:%d" % self.port, "--log-level", "warn"],
                                     cwd=SCRATCH, env=clean_env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("the server did not come up")

    def get(self, p, key=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, p))
        if key:
            req.add_header("Authorization", "Bearer " + key)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()


# ---- version, help, usage errors ------------------------------------------

def test_version():
    for args in (["--version"], ["version"]):
        r = vitrine(*args)
        assert r.code == 0, r
        assert re.fullmatch(r"vitrine \d+\.\d+\.\d+\n", r.out), r


def test_help_for_every_command():
    r = vitrine("--help")
    assert r.code == 0, r
    for cmd in COMMANDS:
        assert "  " + cmd in r.out, (cmd, r)
    for cmd in COMMANDS:
        r = vitrine(*cmd.split(), "--help")
        assert r.code == 0, (cmd, r)
        assert r.out.startswith("Usage: vitrine " + cmd), (cmd, r)
        for opt in ("--db PATH", "--config FILE", "--log-level LEVEL", "--help"):
            assert opt in r.out, (cmd, opt, r)
        assert r.err == "", r
    # Command-specific options are listed.
    assert "--listen ADDR:PORT" in vitrine("serve", "--help").out
    assert "--format" in vitrine("import", "events", "--help").out
    for opt in ("--assets DIR", "--limit N", "--reconvert"):
        assert opt in vitrine("import", "sh3d", "--help").out
    assert "--scope SCOPE" in vitrine("key", "create", "--help").out
    for group, subs in (("key", ["create", "list", "revoke"]),
                        ("import", ["items", "events", "sh3d"]), ("export", ["events", "items"])):
        r = vitrine(group, "--help")
        assert r.code == 0 and all(s in r.out for s in subs), r
    r = vitrine("help", "key", "create")
    assert r.code == 0 and r.out.startswith("Usage: vitrine key create"), r


def test_usage_errors_exit_2():
    for args in (["frobnicate"], ["key", "frob"], ["key"], ["import", "widgets", "x.csv"],
                 [], ["--bogus"], ["key", "list", "--bogus"], ["import", "items"],
                 ["import", "items", "a.csv", "b.csv"], ["key", "create"],
                 ["key", "create", "--scope", "root"], ["serve", "--listen"],
                 ["import", "items", "x.txt"], ["import", "items", "-"],
                 ["import", "items", "x.csv", "--format", "xml"],
                 ["key", "list", "--log-level", "loud"], ["export", "events", "--after", "x"]):
        r = vitrine(*args, "--db", path("usage.db"))
        line = one_line_failure(r, 2)
        assert "--help" in line, r
    assert not os.path.exists(path("usage.db")), "a usage error opened the database"


# ---- keys -------------------------------------------------------------------

def test_keys_create_list_revoke():
    db = fresh_db("keys.db")
    r = vitrine("key", "create", "--scope", "admin", "--label", "ops laptop", "--db", db)
    assert r.code == 0, r
    key = r.out.splitlines()[-1]
    assert KEY_RE.match(key), r
    assert "only" in r.err and "once" in r.err, r
    r2 = vitrine("key", "create", "--scope", "public", "--db", db)
    assert r2.code == 0, r2
    key2 = r2.out.strip().splitlines()[-1]
    assert KEY_RE.match(key2), r2
    kid, kid2 = key.split("_")[1], key2.split("_")[1]

    r = vitrine("key", "list", "--db", db)
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split()[:4] == ["ID", "SCOPE", "CREATED", "REVOKED"], r
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert rows[kid][1] == "admin" and rows[kid][3] == "no", r
    assert lines[1:] and "ops laptop" in r.out, r
    assert rows[kid2][1] == "public", r
    for secret in (key.split("_", 2)[2], key2.split("_", 2)[2]):
        assert secret not in r.out and secret not in r.err, "key list shows a secret"

    r = vitrine("key", "revoke", kid, "--db", db)
    assert r.code == 0, r
    r = vitrine("key", "list", "--db", db)
    rows = {l.split()[0]: l.split() for l in r.out.splitlines()[1:]}
    assert rows[kid][3] == "yes" and rows[kid2][3] == "no", r
    # The whole key, as pasted, also names it.
    assert vitrine("key", "revoke", key2, "--db", db).code == 0
    line = one_line_failure(vitrine("key", "revoke", "0123456789ab", "--db", db), 1)
    assert "0123456789ab" in line
    one_line_failure(vitrine("key", "create", "--scope", "read", "--label", "x" * 64, "--db", db),
                     1)


def test_revoked_key_refused_by_server():
    db = fresh_db("revoke.db")
    key = vitrine("key", "create", "--scope", "read", "--db", db).out.splitlines()[-1]
    srv = Server(db)
    try:
        assert srv.get("/v1/items?limit=1", key)[0] == 200
        assert vitrine("key", "revoke", key.split("_")[1], "--db", db).code == 0
        deadline, status = time.time() + 10, 200
        while time.time() < deadline and status == 200:
            time.sleep(0.2)
            status = srv.get("/v1/items?limit=1", key)[0]
        assert status == 401, status
    finally:
        srv.stop()


# ---- imports ----------------------------------------------------------------

ITEMS_CSV = (
    "id,title_en,title_zh,description_en,category,tags,price,currency,stock,w_cm,d_cm,h_cm,"
    "model_url,hidden,attributes\n"
    "sofa-1,Sofa,三人沙发,A soft sofa,Living room/Sofas,soft|grey,1999.5,CNY,3,200,90,85,"
    "/assets/models/sofa.glb,false,\"{\"\"colour\"\": \"\"grey\"\"}\"\n"
    "chair-1,\"Chair, oak\",橡木椅,,Dining,,abc,,,,,,,,\n"                # 3: price not a number
    "lamp-1,Lamp,台灯,\"Two\nlines\",Lighting,,-5,,,,,,,,\n"              # 4-5: price < 0
    "bed-1,Bed,床,,Bedroom,,899,,,,,,,,{not json\n"                        # 6: attributes
    "table-1,Table,桌子,,Dining,wood,450,CNY,,120,80,75,,no,\n"            # 7: good
    "desk-1,Desk,书桌,,Office,,,,,120,,,,,\n"                               # 8: dims incomplete
    "shelf-1,Shelf,\"书\"架\",,,,,,,,,,,,\n"                                # 9: stray quote
    "stool-1,Stool,凳子,,,,,,,,,,,\n"                                       # 10: 14 fields
    ",No id,,,,,,,,,,,,,\n"                                                 # 11: no id
    "rug-1,Rug,地毯,,,,79.9,,,,,,,yes,\n")                                  # 12: good


def test_import_items_csv():
    db = fresh_db("items.db")
    f = write("items.csv", ITEMS_CSV)
    r = vitrine("import", "items", f, "--db", db)
    assert r.code == 1, r
    assert r.err.splitlines()[-1] == "imported 3, rejected 7", r
    for line, words in ((3, "price"), (4, "price"), (6, "attributes"), (8, "dims_cm"),
                        (9, "quote"), (10, "14 fields"), (11, "id")):
        assert re.search(r"^%s:%d(:\d+)?: .*%s" % (re.escape(f), line, words), r.err, re.M), \
            (line, r)
    key = vitrine("key", "create", "--scope", "read", "--db", db).out.splitlines()[-1]
    srv = Server(db)
    try:
        st, sofa = srv.get("/v1/items/sofa-1", key)
        assert st == 200, st
        assert sofa["title"] == {"en": "Sofa", "zh": "三人沙发"}, sofa
        assert sofa["tags"] == ["soft", "grey"] and sofa["price"] == 1999.5, sofa
        assert sofa["dims_cm"] == {"w": 200, "d": 90, "h": 85}, sofa
        assert sofa["attributes"] == {"colour": "grey"} and sofa["stock"] == 3, sofa
        assert sofa["category"] == "Living room/Sofas", sofa
        assert srv.get("/v1/items/table-1", key)[1]["title"]["zh"] == "桌子"
        assert srv.get("/v1/items/chair-1", key)[0] == 404
        assert srv.get("/v1/items/rug-1", key)[1]["hidden"] is True
    finally:
        srv.stop()


def test_import_items_jsonl_and_upsert():
    db = fresh_db("items2.db")
    lines = [
        {"id": "vase-1", "title": {"en": "Vase", "zh": "花瓶"}, "price": 59},
        "",
        {"id": "vase-2", "title": {}},                                   # 3: empty title
        "not json at all",                                               # 4
        {"id": "vase-3", "title": {"zh": "青花瓷瓶"}, "colour": "blue"},  # 5: unknown field
        {"id": "vase-1", "title": {"en": "Vase (tall)", "zh": "高花瓶"}, "price": 69},
    ]
    text = "\n".join(l if isinstance(l, str) else json.dumps(l, ensure_ascii=False)
                     for l in lines) + "\n"
    f = write("items.jsonl", text)
    r = vitrine("import", "items", f, "--db", db)
    assert r.code == 1, r
    assert r.err.splitlines()[-1] == "imported 2, rejected 3", r
    for n in (3, 4, 5):
        assert re.search(r"^%s:%d(:\d+)?: " % (re.escape(f), n), r.err, re.M), (n, r)
    assert "colour" in r.err and "invalid JSON" in r.err, r
    # Good lines only, from standard input: exit 0.
    good = json.dumps({"id": "vase-9", "title": {"zh": "瓶"}}, ensure_ascii=False) + "\r\n"
    r = vitrine("import", "items", "-", "--format", "jsonl", "--db", db, stdin=good)
    assert r.code == 0 and r.err.splitlines()[-1] == "imported 1, rejected 0", r
    key = vitrine("key", "create", "--scope", "read", "--db", db).out.splitlines()[-1]
    srv = Server(db)
    try:
        st, vase = srv.get("/v1/items/vase-1", key)
        assert st == 200 and vase["title"]["zh"] == "高花瓶" and vase["price"] == 69, vase
        assert srv.get("/v1/items/vase-9", key)[1]["title"] == {"zh": "瓶"}
    finally:
        srv.stop()


def test_import_csv_header_errors_store_nothing():
    db = fresh_db("hdr.db")
    f = write("bad_header.csv", "id,title_en,colour,weight\na,A,red,3\n")
    line = one_line_failure(vitrine("import", "items", f, "--db", db), 1)
    assert "'colour'" in line and "'weight'" in line, line
    f = write("dup_header.csv", "id,title_en,title_en\na,A,B\n")
    assert "twice" in one_line_failure(vitrine("import", "items", f, "--db", db), 1)
    f = write("ev_header.csv", "user_id,item_id,type,bogus\nu,,search,1\n")
    assert "'bogus'" in one_line_failure(vitrine("import", "events", f, "--db", db), 1)
    f = write("ev_missing.csv", "user_id,item_id\nu,x\n")
    assert "'type'" in one_line_failure(vitrine("import", "events", f, "--db", db), 1)
    assert export(db) == []
    line = one_line_failure(vitrine("import", "items", path("nope.csv"), "--db", db), 1)
    assert "nope.csv" in line


def seed_items(db, n):
    rows = "".join('{"id":"it%d","title":{"en":"Item %d","zh":"物品%d"}}\n' % (i, i, i)
                   for i in range(n))
    f = write("seed_%d.jsonl" % n, rows)
    r = vitrine("import", "items", f, "--db", db)
    assert r.code == 0, r


def test_import_events_csv_unknown_item_and_ts_forms():
    db = fresh_db("events.db")
    seed_items(db, 5)
    f = write("events.csv",
              "user_id,item_id,type,value,ts,context\n"
              "u1,it1,view,,1700000000,\n"                                   # 2 epoch s
              "u1,it404,click,,,\n"                                          # 3 unknown item
              "u2,it2,rating,4.5,1700000000123,\"{\"\"surface\"\":\"\"floor\"\"}\"\n"
              "u2,it2,teleport,,,\n"                                         # 5 bad type
              "u3,,search,,2024-05-06T07:08:09+08:00,\"{\"\"text\"\":\"\"沙发\"\"}\"\n"
              "u3,it404,view,,,\n"                                           # 7 unknown item
              "u4,it3,rating,9,,\n"                                          # 8 out of range
              "u4,it4,purchase,2,,\n")
    r = vitrine("import", "events", f, "--db", db)
    assert r.code == 1, r
    assert r.err.splitlines()[-1] == "imported 4, rejected 4", r
    for n, words in ((3, "it404"), (5, "teleport"), (7, "it404"), (8, "value")):
        assert re.search(r"^%s:%d: .*%s" % (re.escape(f), n, words), r.err, re.M), (n, r)
    evs = export(db)
    assert [e["user_id"] for e in evs] == ["u1", "u2", "u3", "u4"], evs
    assert evs[0]["ts"] == "2023-11-14T22:13:20.000Z", evs[0]
    assert evs[1]["ts"] == "2023-11-14T22:13:20.123Z" and evs[1]["value"] == 4.5, evs[1]
    assert evs[1]["context"] == {"surface": "floor"}, evs[1]
    assert evs[2]["ts"] == "2024-05-05T23:08:09.000Z" and evs[2]["item_id"] is None, evs[2]
    assert evs[2]["context"] == {"text": "沙发"}, evs[2]


def test_export_round_trip():
    db = fresh_db("rt.db")
    seed_items(db, 50)
    src = []
    for i in range(2500):
        ev = {"user_id": "user%d" % (i % 37), "item_id": "it%d" % (i % 50),
              "type": ["view", "click", "add_to_cart", "rating"][i % 4],
              "ts": "2025-01-%02dT10:00:%02d.000Z" % (1 + i % 28, i % 60)}
        if ev["type"] == "rating":
            ev["value"] = 1 + (i % 9) / 2
        if i % 7 == 0:
            ev["context"] = {"session": "s%d" % i, "surface": "floor"}
        src.append(ev)
    f = write("rt.jsonl", "".join(json.dumps(e) + "\n" for e in src))
    r = vitrine("import", "events", f, "--db", db)
    assert r.code == 0 and r.err.splitlines()[-1] == "imported 2500, rejected 0", r
    out = export(db)
    assert len(out) == len(src), len(out)
    ids = [e["id"] for e in out]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for a, b in zip(src, out):
        assert set(b) == {"id", "user_id", "item_id", "type", "value", "context", "ts"}, b
        for k in ("user_id", "item_id", "type", "ts"):
            assert a[k] == b[k], (a, b)
        assert b["value"] == a.get("value", 1.0), (a, b)
        assert b["context"] == a.get("context"), (a, b)
    # The same objects the API serves.
    key = vitrine("key", "create", "--scope", "read", "--db", db).out.splitlines()[-1]
    srv = Server(db)
    try:
        st, body = srv.get("/v1/users/user5/events?limit=1000", key)
        assert st == 200, st
        api = body["events"] if isinstance(body, dict) else body
        mine = {e["id"]: e for e in out if e["user_id"] == "user5"}
        assert len(api) == len(mine) and all(mine[e["id"]] == e for e in api), (api[:2],)
    finally:
        srv.stop()
    # What export writes, import reads back into another database unchanged.
    db2 = fresh_db("rt2.db")
    seed_items(db2, 50)
    exp = write("rt_export.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in out))
    r = vitrine("import", "events", exp, "--db", db2)
    assert r.code == 0, r
    again = export(db2)
    strip = lambda evs: [{k: v for k, v in e.items() if k != "id"} for e in evs]
    assert strip(again) == strip(out)
    # --after pages from an id.
    tail = vitrine("export", "events", "--db", db, "--after", str(ids[-10])).out.splitlines()
    assert [json.loads(l)["id"] for l in tail] == ids[-9:]


def test_export_items_round_trip():
    db = fresh_db("items-rt.db")
    src = [{"id": "p%04d" % i, "title": {"en": "Piece %d" % i, "zh": "家具%d" % i},
            "category": "Living room/Sofas" if i % 2 else "Bedroom/Beds",
            "price": 100 + i, "currency": "CNY", "stock": i % 5,
            "dims_cm": {"w": 80 + i, "d": 60, "h": 75}, "hidden": i % 7 == 0,
            "tags": ["t%d" % (i % 3)], "attributes": {"colour": "black"}}
           for i in range(1203)]  # more than one page
    f = write("items-rt.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in src))
    r = vitrine("import", "items", f, "--db", db)
    assert r.code == 0, r
    out = [json.loads(l) for l in vitrine("export", "items", "--db", db).out.splitlines()]
    assert [o["id"] for o in out] == [e["id"] for e in src], len(out)
    for a, b in zip(src, out):
        for k, v in a.items():
            assert b[k] == v, (k, a, b)
    # Read back into another database, the export is the same again.
    db2 = fresh_db("items-rt2.db")
    exp = write("items-rt-export.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n"
                                                 for e in out))
    assert vitrine("import", "items", exp, "--db", db2).code == 0
    again = [json.loads(l) for l in vitrine("export", "items", "--db", db2).out.splitlines()]
    strip = lambda its: [{k: v for k, v in e.items() if k not in ("created_at", "updated_at")}
                         for e in its]
    assert strip(again) == strip(out)


def test_many_events_with_bad_lines_across_batches():
    db = fresh_db("many.db")
    seed_items(db, 100)
    n, rows = 20000, ["user_id,item_id,type,value,ts"]
    bad = set()
    for i in range(n):
        item = "it%d" % (i % 100)
        if i % 997 == 5:          # a few events about items that do not exist
            item = "ghost%d" % (i % 3)
            bad.add(i + 2)        # its line: after the header, 1-based
        rows.append("u%d,%s,rating,%d,%d" % (i % 500, item, 1 + i % 5, 1600000000 + i))
    f = write("many.csv", "\n".join(rows) + "\n")
    t0 = time.time()
    r = vitrine("import", "events", f, "--db", db, timeout=600)
    took = time.time() - t0
    assert r.code == 1, r
    assert r.err.splitlines()[-1] == "imported %d, rejected %d" % (n - len(bad), len(bad)), r
    reported = [int(m) for m in re.findall(r"^%s:(\d+): " % re.escape(f), r.err, re.M)]
    assert reported == sorted(bad)[:len(reported)] and len(reported) >= min(20, len(bad)), r
    assert len(export(db)) == n - len(bad)
    print("  20,000 CSV events imported in %.1f s" % took)


def test_progress_bar_when_forced():
    db = fresh_db("progress.db")
    seed_items(db, 3)
    f = write("p.jsonl", '{"user_id":"u","item_id":"it1","type":"view"}\n' * 50)
    r = vitrine("import", "events", f, "--db", db, env=clean_env(VITRINE_PROGRESS="1"))
    assert r.code == 0 and "importing events [" in r.err and "100%" in r.err, r
    r = vitrine("import", "events", f, "--db", db)
    assert "importing events" not in r.err, r   # not a terminal: no bar


# ---- database selection and configuration ---------------------------------

def test_db_flag_env_and_precedence():
    a, b = fresh_db("a.db"), fresh_db("b.db")
    key = vitrine("key", "create", "--scope", "ingest", "--label", "via-env",
                  env=clean_env(VITRINE_DB=a)).out.splitlines()[-1]
    assert os.path.exists(a) and not os.path.exists(path("vitrine.db"))
    r = vitrine("key", "list", "--db", a)
    assert key.split("_")[1] in r.out and "via-env" in r.out, r
    # A flag beats the environment.
    vitrine("key", "create", "--scope", "read", "--label", "via-flag", "--db", b,
            env=clean_env(VITRINE_DB=a))
    assert "via-flag" in vitrine("key", "list", "--db", b).out
    assert "via-flag" not in vitrine("key", "list", "--db", a).out
    # Defaults: ./vitrine.db in the working folder.
    work = os.path.join(SCRATCH, "defaults")
    os.makedirs(work, exist_ok=True)
    assert vitrine("key", "create", "--scope", "read", cwd=work).code == 0
    assert os.path.exists(os.path.join(work, "vitrine.db"))
    # The environment beats the file, the file beats the defaults.
    with open(os.path.join(work, "vitrine.conf"), "w") as f:
        f.write("# local\ndb = from-file.db\nthreads = 3\n")
    r = vitrine("config", cwd=work)
    assert r.code == 0 and "\ndb = from-file.db\n" in r.out and "\nthreads = 3\n" in r.out, r
    r = vitrine("config", cwd=work, env=clean_env(VITRINE_DB="from-env.db"))
    assert "\ndb = from-env.db\n" in r.out, r
    r = vitrine("config", "--db", "from-flag.db", cwd=work, env=clean_env(VITRINE_DB="e.db"))
    assert "\ndb = from-flag.db\n" in r.out, r
    # A read-only command does not create a database that is not there.
    line = one_line_failure(vitrine("export", "events", "--db", path("absent.db")), 1)
    assert "absent.db" in line and not os.path.exists(path("absent.db"))


def test_bad_configuration_is_one_line():
    f = write("bad1.conf", "listen = 127.0.0.1:9\nfavourite_colour = blue\n")
    line = one_line_failure(vitrine("config", "--config", f))
    assert "bad1.conf:2" in line and "favourite_colour" in line, line
    f = write("bad2.conf", "threads = lots\n")
    line = one_line_failure(vitrine("key", "list", "--config", f, "--db", path("x.db")))
    assert "bad2.conf:1" in line and "threads" in line, line
    f = write("bad3.conf", "just some words\n")
    assert "bad3.conf:1" in one_line_failure(vitrine("export", "events", "--config", f))
    one_line_failure(vitrine("config", "--config", path("missing.conf")))
    one_line_failure(vitrine("config", "--config", SCRATCH))
    line = one_line_failure(vitrine("config", env=clean_env(VITRINE_MAX_BODY_BYTES="big")))
    assert "VITRINE_MAX_BODY_BYTES" in line, line
    f = write("bad4.conf", "log_level = loud\n")
    assert "log_level" in one_line_failure(vitrine("config", "--config", f))


def test_docs_and_example_match_the_program():
    r = vitrine("config", "--markdown")
    assert r.code == 0, r
    table = r.out.strip()
    keys = re.findall(r"^\| `([^`]+)` \|", table, re.M)
    assert len(keys) >= 20 and "db" in keys and "listen" in keys, table
    with open(os.path.join(ROOT, "docs", "configuration.md"), encoding="utf-8") as f:
        doc = f.read()
    m = re.search(r"<!-- BEGIN KEYS[^>]*-->\n(.*?)\n<!-- END KEYS -->", doc, re.S)
    assert m, "docs/configuration.md has no generated key table"
    assert m.group(1).strip() == table, \
        "docs/configuration.md is out of date: paste the output of ./vitrine config --markdown"
    example = os.path.join(ROOT, "vitrine.conf.example")
    r = vitrine("config", "--config", example)
    assert r.code == 0, r
    with open(example, encoding="utf-8") as f:
        text = f.read()
    missing = [k for k in keys if not re.search(r"^#? ?%s = " % re.escape(k), text, re.M)]
    assert not missing, "vitrine.conf.example lacks %s" % missing
    # `vitrine config` prints a file that loads back to the same values.
    dump = write("dump.conf", vitrine("config", "--db", "dumped.db").out)
    r = vitrine("config", "--config", dump)
    assert r.code == 0 and "\ndb = dumped.db\n" in r.out, r


def main():
    if not os.access(BIN, os.X_OK):
        print("test_cli.py: %s is missing; run make first" % BIN)
        print("test_cli.py: 0 passed, 1 failed")
        return 1
    tests = [(k, v) for k, v in globals().items() if k.startswith("test_") and callable(v)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
            print("ok   %s" % name)
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print("FAIL %s" % name)
            traceback.print_exc(limit=3)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    print("test_cli.py: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
