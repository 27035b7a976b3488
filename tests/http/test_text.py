#!/usr/bin/env python3
"""test_text.py - text understanding in the product: POST /v1/embed and
POST /v1/analyze against a real ./vitrine server on a loopback port, item
embeddings kept in step by the server (at start, after POST and PATCH) and
by `vitrine import`, a server without a model, and the `vitrine embed` and
`vitrine model info` commands.

Uses the real USE-Lite model and text data; when data/models/use-lite or
data/text is missing, the fetch scripts are run first. Python 3 standard
library only. The last line of output is "test_text.py: N passed, N failed";
the exit status is non-zero when any test failed. VITRINE_BIN overrides the
binary.
"""
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vitrine_client import ROOT, BIN, Server, create_key, run_suite  # noqa: E402

WORK = os.path.join(ROOT, "build", "test-text")
MODEL = os.path.join(ROOT, "data", "models", "use-lite")
TEXT_DIR = os.path.join(ROOT, "data", "text")
MODEL_ID = "use-lite@0.2.0"
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
    check(err.get("message"), "%s: no message" % what)
    if code:
        eq(err["code"], code, what + " code")
    if field is not None:
        eq(err.get("field"), field, what + " field")
    return err


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VITRINE_")}
    e.update({"VITRINE_MODEL": MODEL, "VITRINE_TEXT_DIR": TEXT_DIR,
              "VITRINE_WEB_DIR": os.path.join(WORK, "web"),
              "VITRINE_DATA_DIR": os.path.join(WORK, "data"),
              "VITRINE_LOG_LEVEL": "info", "VITRINE_RATE_PUBLIC_RPS": "1000",
              "VITRINE_RATE_PUBLIC_BURST": "1000"})
    e.update(extra)
    return e


def vitrine(*args, stdin=None, extra_env=None, timeout=120):
    p = subprocess.run([BIN] + list(args), input=stdin, capture_output=True, cwd=WORK,
                       env=env(**(extra_env or {})), timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def rows(db, sql, *args):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def wait_for(fn, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def max_digits(text):
    """The most significant digits of any number written in text."""
    most = 0
    for m in re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text):
        mant = re.sub(r"[eE].*$", "", m.lstrip("-")).replace(".", "").lstrip("0")
        most = max(most, len(mant))
    return most


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) *
                                               math.sqrt(sum(y * y for y in b)))


CATALOG = [
    {"id": "sofa-1", "title": {"en": "Black leather sofa", "zh": "黑色真皮沙发"},
     "category": "Living room/Sofas", "tags": ["sofa"], "attributes": {"brand": "Nordhus"}},
    {"id": "table-1", "title": {"en": "White wooden table", "zh": "白色木桌"},
     "category": "Dining room/Tables"},
    {"id": "lamp-1", "title": {"en": "Floor lamp"}},
]


def write(name, text):
    p = os.path.join(WORK, name)
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)
    return p


# ---------------------------------------------------------------- set-up

def fetch_data():
    if not os.path.exists(os.path.join(MODEL, "model.json")):
        print("test_text.py: %s missing, running scripts/fetch-models" % MODEL)
        subprocess.run([os.path.join(ROOT, "scripts", "fetch-models")], check=True)
    if not (os.path.exists(os.path.join(TEXT_DIR, "jieba", "dict.txt")) and
            os.path.exists(os.path.join(TEXT_DIR, "cedict", "cedict_ts.u8"))):
        print("test_text.py: %s missing, running scripts/fetch-text-data" % TEXT_DIR)
        subprocess.run([os.path.join(ROOT, "scripts", "fetch-text-data")], check=True)


def setup():
    fetch_data()
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    os.makedirs(os.path.join(WORK, "web"))
    db = os.path.join(WORK, "main.db")
    # The catalog goes in before the server starts, not embedded by the
    # import: the server's start embeds it.
    f = write("catalog.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in CATALOG))
    code, out, err = vitrine("import", "items", f, "--db", db,
                             extra_env={"VITRINE_EMBED_ON_IMPORT": "0"})
    eq(code, 0, "seed import: " + err)
    eq(rows(db, "SELECT count(*) FROM item_embeddings")[0][0], 0, "not embedded by the import")
    keys = {s: create_key(db, s, env()) for s in ("admin", "ingest", "read", "public")}
    srv = Server(db, WORK, env()).start()
    S.update(srv=srv, db=db, keys=keys)
    S["c"] = {s: srv.client(keys[s]) for s in keys}
    S["anon"] = srv.client(None)


# ---------------------------------------------------------------- the server's items

@test
def server_start_embeds_the_catalog():
    db = S["db"]
    wait_for(lambda: rows(db, "SELECT count(*) FROM item_embeddings")[0][0] == 5,
             "5 vectors (3 items, 2 with Chinese titles)")
    got = rows(db, "SELECT item_id, lang, model_id, dim, length(vector) FROM item_embeddings "
                   "ORDER BY item_id, lang")
    eq(got, [("lamp-1", "en", MODEL_ID, 512, 2048), ("sofa-1", "en", MODEL_ID, 512, 2048),
             ("sofa-1", "zh", MODEL_ID, 512, 2048), ("table-1", "en", MODEL_ID, 512, 2048),
             ("table-1", "zh", MODEL_ID, 512, 2048)], "stored vectors")
    log = wait_for(lambda: 'msg="items embedded"' in S["srv"].log_text() and S["srv"].log_text(),
                   "the log line")
    check('msg="model loaded"' in log and "model_id=" + MODEL_ID in log, "model load logged")


@test
def items_posted_and_patched_are_embedded():
    db, c = S["db"], S["c"]["ingest"]
    r = c.post("/v1/items", [{"id": "chair-1", "title": {"en": "Red chair", "zh": "红色椅子"}},
                             {"id": "rug-1", "title": {"en": "Wool rug"}}])
    eq(r.status, 201, "create %r" % r)
    wait_for(lambda: rows(db, "SELECT count(*) FROM item_embeddings WHERE item_id IN "
                              "('chair-1', 'rug-1')")[0][0] == 3, "the new items' vectors")
    before = dict(rows(db, "SELECT lang, text_hash FROM item_embeddings WHERE item_id = 'chair-1'"))
    r = c.request("PATCH", "/v1/items/chair-1", body={"title": {"zh": "蓝色椅子"}})
    eq(r.status, 200, "patch %r" % r)
    after = wait_for(lambda: (lambda d: d if d.get("zh") != before["zh"] else None)(
        dict(rows(db, "SELECT lang, text_hash FROM item_embeddings WHERE item_id = 'chair-1'"))),
        "the changed Chinese title re-embedded")
    eq(after["en"], before["en"], "the English text did not change")
    eq(c.request("DELETE", "/v1/items/rug-1").status, 204, "delete")
    eq(rows(db, "SELECT count(*) FROM item_embeddings WHERE item_id = 'rug-1'")[0][0], 0,
       "vectors deleted with the item")


# ---------------------------------------------------------------- POST /v1/embed

@test
def embed_scopes():
    body = {"texts": ["sofa"]}
    expect_error(S["anon"].post("/v1/embed", body, key=None), 401, "unauthorized", what="no key")
    for scope in ("public", "read", "ingest"):
        expect_error(S["c"][scope].post("/v1/embed", body), 403, "forbidden", what=scope)
    eq(S["c"]["admin"].post("/v1/embed", body).status, 200, "admin")


@test
def embed_shape_and_bridge():
    texts = ["黑色真皮沙发", "black leather sofa", "white wooden table"]
    r = S["c"]["admin"].post("/v1/embed", {"texts": texts})
    eq(r.status, 200, "embed %r" % r)
    j = r.json()
    eq(sorted(j.keys()), ["dim", "embeddings", "model_id"], "keys")
    eq(j["model_id"], MODEL_ID, "model id")
    eq(j["dim"], 512, "dim")
    eq(len(j["embeddings"]), 3, "one vector per text")
    for v in j["embeddings"]:
        eq(len(v), 512, "vector length")
        check(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5, "unit length")
    e = j["embeddings"]
    check(cos(e[0], e[1]) - cos(e[0], e[2]) > 0.3,
          "bridged Chinese near its English: %.3f vs %.3f" % (cos(e[0], e[1]), cos(e[0], e[2])))
    eq(max_digits(r.body.decode().split('"embeddings":')[1]), 7, "7 significant digits")
    raw = S["c"]["admin"].post("/v1/embed", {"texts": texts[:1], "no_bridge": True}).json()
    check(cos(raw["embeddings"][0], e[1]) < 0.6, "no_bridge is the model's raw reading")
    # The CLI prints the same numbers.
    code, out, err = vitrine("embed", "--no-bridge", texts[0])
    eq(code, 0, err)
    eq(json.loads(out)["embedding"], raw["embeddings"][0], "CLI and API agree")
    r = S["c"]["admin"].post("/v1/embed", {"texts": []})
    eq((r.status, r.json()["embeddings"]), (200, []), "no texts")


@test
def embed_limits_413_422_400():
    c = S["c"]["admin"]
    expect_error(c.post("/v1/embed", {"texts": ["x"] * 65}), 413, "too_large", "texts",
                 what="65 texts")
    eq(c.post("/v1/embed", {"texts": ["x"] * 64}).status, 200, "64 texts")
    expect_error(c.post("/v1/embed", {"texts": ["ok", "y" * (64 * 1024 + 1)]}), 422, None,
                 "texts[1]", what="text over 64 KB")
    eq(c.post("/v1/embed", {"texts": ["y" * (64 * 1024)]}).status, 200, "64 KB text")
    expect_error(c.post("/v1/embed", {"texts": "sofa"}), 422, "invalid_field", "texts",
                 what="texts not an array")
    expect_error(c.post("/v1/embed", {"texts": ["a", 3]}), 422, "invalid_field", "texts[1]",
                 what="a number")
    expect_error(c.post("/v1/embed", {"texts": ["a"], "model": "x"}), 422, "invalid_field",
                 "model", what="unknown field")
    expect_error(c.post("/v1/embed", {"texts": ["a"], "no_bridge": "yes"}), 422,
                 "invalid_field", "no_bridge", what="no_bridge not boolean")
    expect_error(c.post("/v1/embed", ["a"]), 422, "invalid_field", what="array body")
    expect_error(c.post("/v1/embed", raw=b'{"texts": ["a"'), 400, "bad_request",
                 what="bad JSON")
    expect_error(c.post("/v1/embed", raw=b'{"texts": ["\xff"]}'), 400, "bad_request",
                 what="invalid UTF-8")


# ---------------------------------------------------------------- POST /v1/analyze

@test
def analyze_for_every_scope():
    body = {"text": "颜色：黑色，尺码：42"}
    expect_error(S["anon"].post("/v1/analyze", body, key=None), 401, "unauthorized",
                 what="no key")
    for scope in ("public", "read", "ingest", "admin"):
        r = S["c"][scope].post("/v1/analyze", body)
        eq(r.status, 200, "%s %r" % (scope, r))
    j = r.json()
    eq(j["language"], "zh", "language")
    eq(j["clean"], "颜色:黑色,尺码:42", "clean")
    eq(j["attributes"]["colour"], "black", "colour")
    eq(j["attributes"]["size"], "42", "size")
    check(isinstance(j["keywords"], list), "keywords")
    check("bridged" in j, "bridged English for Chinese")

    r = S["c"]["public"].post("/v1/analyze", {"text": "Nordhus black leather sofa under 2000"})
    j = r.json()
    eq(j["language"], "en", "en")
    check("bridged" not in j, "no bridge for English")
    words = [k["word"] for k in j["keywords"]]
    check("leather" in words and "sofa" in words, "keywords %r" % words)
    check(all(isinstance(k["score"], (int, float)) for k in j["keywords"]), "scores")
    eq(j["attributes"].get("price_max"), 2000, "price bound")
    eq(j["attributes"].get("brand"), "nordhus", "brand learnt from the catalog")
    check(max_digits(json.dumps(j["keywords"])) <= 7, "7 significant digits")


@test
def analyze_errors():
    c = S["c"]["read"]
    expect_error(c.post("/v1/analyze", {}), 422, "invalid_field", "text", what="no text")
    expect_error(c.post("/v1/analyze", {"text": 5}), 422, "invalid_field", "text",
                 what="not a string")
    expect_error(c.post("/v1/analyze", {"text": "z" * (64 * 1024 + 1)}), 422, None, "text",
                 what="over 64 KB")
    expect_error(c.post("/v1/analyze", {"text": "x", "lang": "en"}), 422, "invalid_field",
                 "lang", what="unknown field")


# ---------------------------------------------------------------- no model

@test
def server_without_a_model_answers_503():
    db = os.path.join(WORK, "nomodel.db")
    key = create_key(db, "admin", env())
    srv = Server(db, WORK, env(VITRINE_MODEL=os.path.join(WORK, "no-such-model"))).start()
    try:
        c = srv.client(key)
        err = expect_error(c.post("/v1/embed", {"texts": ["sofa"]}), 503, "unavailable",
                           what="embed without a model")
        check("no-such-model" in err["message"] and "fetch-models" in err["message"],
              "the message says why: %r" % err["message"])
        eq(c.post("/v1/analyze", {"text": "黑色沙发"}).status, 200, "analyze needs no model")
        eq(c.get("/healthz").status, 200, "serving")
        r = c.post("/v1/items", {"id": "x", "title": {"en": "X"}})
        eq(r.status, 201, "items still work")
    finally:
        srv.terminate()
    log = srv.log_text()
    check("level=warn" in log and "no model" in log, "a warning in the log")


# ---------------------------------------------------------------- the commands

@test
def cli_embed_output_format():
    code, out, err = vitrine("embed", "Black leather sofa", "黑色真皮沙发")
    eq((code, err), (0, ""), "exit")
    lines = out.splitlines()
    eq(len(lines), 2, "one line per text")
    objs = [json.loads(l) for l in lines]
    eq(list(objs[0].keys()), ["text", "embedding"], "keys without --ids")
    eq(objs[1]["text"], "黑色真皮沙发", "text as given")
    eq(len(objs[0]["embedding"]), 512, "dim")
    eq(max_digits(lines[0].split('"embedding":')[1]), 7, "7 significant digits")
    eq(objs[0]["embedding"], objs[1]["embedding"], "the bridge reads 黑色真皮沙发 as its English")

    code, out, err = vitrine("embed", "--ids", "sofa", "黑色真皮沙发")
    eq(code, 0, err)
    objs = [json.loads(l) for l in out.splitlines()]
    eq(list(objs[0].keys()), ["text", "ids", "embedding"], "keys with --ids")
    check(all(isinstance(i, int) for i in objs[0]["ids"]) and objs[0]["ids"], "ids")
    code, out2, err = vitrine("embed", "--ids", "--no-bridge", "黑色真皮沙发")
    eq(json.loads(out2)["ids"][-1], 0, "raw Chinese is USE-Lite's unknown id")
    check(json.loads(out2)["ids"] != objs[1]["ids"], "bridged ids differ")

    code, out, err = vitrine("embed", stdin="chair\r\n\n沙发\n".encode())
    eq(code, 0, err)
    eq([json.loads(l)["text"] for l in out.splitlines()], ["chair", "", "沙发"], "stdin lines")
    code, out, err = vitrine("embed", stdin=b"good\nbad \xff\n")
    eq(code, 1, "bad UTF-8 fails")
    eq(len(out.splitlines()), 1, "the texts before are written")
    eq(err.count("\n"), 1, "one line")
    check(err.startswith("vitrine: line 2:") and "UTF-8" in err, err)
    code, out, err = vitrine("embed", "x", extra_env={"VITRINE_MODEL": "/no/such/model"})
    eq(code, 1, "no model")
    check(err.startswith("vitrine: ") and err.count("\n") == 1 and "/no/such/model" in err, err)
    code, out, err = vitrine("embed", "--items", "x")
    eq(code, 2, "usage error: " + err)


@test
def cli_model_info():
    code, out, err = vitrine("model", "info")
    eq(code, 0, err)
    info = dict(re.split(r"\s{2,}", l.strip(), 1) for l in out.splitlines())
    eq(info["architecture"], "use-lite", "arch")
    eq(info["model id"], MODEL_ID, "id")
    eq(info["dimension"], "512", "dim")
    eq(info["layers"], "2", "layers")
    eq(info["vocabulary"], "8000", "vocab")
    eq(info["pooling"], "mean", "pooling")
    check(info["normalised"].startswith("yes"), "normalised")
    eq(info["licence"], "Apache-2.0", "licence")
    check("bridge" in info["chinese"], "Chinese through the bridge")
    code, out, err = vitrine("model", "info", "--model", os.path.join(WORK, "none"))
    eq(code, 1, "missing model")
    code, out, err = vitrine("model", "info", "--help")
    check(code == 0 and out.startswith("Usage: vitrine model info"), out)


@test
def cli_import_embeds_and_embed_items_resyncs():
    db = os.path.join(WORK, "cli.db")
    f = write("cli.jsonl", json.dumps(CATALOG[0], ensure_ascii=False) + "\n")
    code, out, err = vitrine("import", "items", f, "--db", db)
    eq(code, 0, err)
    eq(err.splitlines()[-1], "imported 1, rejected 0", "the report stays last")
    eq(rows(db, "SELECT lang, model_id FROM item_embeddings ORDER BY lang"),
       [("en", MODEL_ID), ("zh", MODEL_ID)], "embedded at import")
    code, out, err = vitrine("embed", "--items", "--db", db)
    eq(code, 0, err)
    check(err.startswith("embedded 0 of 1 items"), err)
    # embed_on_import = 0: stored, not embedded, until `vitrine embed --items`
    f = write("cli2.jsonl", json.dumps(CATALOG[2]) + "\n")
    code, out, err = vitrine("import", "items", f, "--db", db,
                             extra_env={"VITRINE_EMBED_ON_IMPORT": "0"})
    eq(code, 0, err)
    eq(rows(db, "SELECT count(*) FROM item_embeddings WHERE item_id = 'lamp-1'")[0][0], 0,
       "not embedded")
    code, out, err = vitrine("embed", "--items", "--db", db)
    eq(code, 0, err)
    check(err.startswith("embedded 1 of 2 items (1 vectors)"), err)


# ---------------------------------------------------------------- runner

def main():
    return run_suite("test_text.py", setup, TESTS, S)


if __name__ == "__main__":
    sys.exit(main())
