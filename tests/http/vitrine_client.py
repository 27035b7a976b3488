"""vitrine_client.py - run a real vitrine server and talk to it (stdlib only).

Server starts ./vitrine serve on a free loopback port with a given database
and environment, waits until /healthz answers, and can stop it with
SIGTERM or kill -9. Client sends one request per connection (or keeps one
open) and returns a Response with the status, headers and parsed JSON.
"""
import http.client
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("VITRINE_BIN", os.path.join(ROOT, "vitrine"))


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def create_key(db, scope, env=None):
    """Create a key with the CLI; the key is alone on the last line."""
    full = dict(os.environ)
    full.update(env or {})
    out = subprocess.run([BIN, "key", "create", "--scope", scope, "--db", db],
                         capture_output=True, text=True, env=full, timeout=30)
    if out.returncode != 0:
        raise RuntimeError("key create failed: %s" % out.stderr.strip())
    return out.stdout.strip().splitlines()[-1].strip()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name.lower())

    def error_code(self):
        try:
            return self.json()["error"]["code"]
        except Exception:
            return None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Client:
    def __init__(self, host, port, key=None, source=None):
        self.host, self.port, self.key, self.source = host, port, key, source
        self.conn = None

    def _connect(self):
        src = (self.source, 0) if self.source else None
        return http.client.HTTPConnection(self.host, self.port, timeout=30,
                                          source_address=src)

    def request(self, method, path, body=None, key="default", headers=None,
                keep=False, raw=None, ctype="application/json"):
        """body: a JSON-able value; raw: bytes sent as they are."""
        h = {}
        k = self.key if key == "default" else key
        if k:
            h["Authorization"] = "Bearer " + k
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        if data is not None and ctype:
            h["Content-Type"] = ctype
        if headers:
            h.update(headers)
        conn = self.conn if keep and self.conn else self._connect()
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        except Exception:
            conn.close()
            self.conn = None
            raise
        if keep:
            self.conn = conn
        else:
            conn.close()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def raw_http(host, port, data, send_more=None, timeout=5):
    """Send bytes on a fresh connection and read until the server closes
    (or timeout); returns (status, headers, body) parsed loosely."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        for chunk in send_more or []:
            try:
                s.sendall(chunk)
            except OSError:
                break
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
                if b"\r\n\r\n" in out:
                    head, _, rest = out.partition(b"\r\n\r\n")
                    cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                    if cl and len(rest) >= int(cl[0].split(b":")[1]):
                        break
        except (socket.timeout, ConnectionResetError):
            pass
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for l in lines[1:]:
        n, _, v = l.partition(b":")
        headers[n.strip().lower().decode()] = v.strip().decode("latin-1")
    return status, headers, body


class Server:
    def __init__(self, db, workdir, env=None, listen_host="127.0.0.1", port=None):
        self.db, self.workdir = db, workdir
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.host = listen_host
        self.port = port or free_port(listen_host)
        self.proc = None
        self.log_path = os.path.join(workdir, "server-%d.log" % self.port)

    @property
    def listen(self):
        return ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, self.port)

    def start(self, timeout=15):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--db", self.db, "--listen", self.listen],
            stdout=self.log, stderr=self.log, env=self.env, cwd=self.workdir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %d; log %s" %
                                   (self.proc.returncode, self.log_path))
            try:
                r = Client(self.host, self.port).get("/healthz", key=None)
                if r.status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not start; log %s" % self.log_path)

    def client(self, key=None, source=None):
        return Client(self.host, self.port, key=key, source=source)

    def terminate(self, timeout=20):
        """SIGTERM; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self.log.close()
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop_quietly(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.terminate()
            except Exception:
                self.proc.kill()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def stored_impressions(db, rec_id):
    """The impressions a list's rec_id left in the database, one tuple
    (item_id, surface, position, user_id) per item in the order stored. The
    store keeps one row per list (store_sqlite_impressions.c): item ids each
    followed by a NUL byte; positions NULL when they run on from `position`,
    else int32 little-endian."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        got = c.execute("SELECT items, surface, position, positions, user_id, n "
                        "FROM impression_lists WHERE rec_id = ? ORDER BY id",
                        (rec_id,)).fetchall()
    finally:
        c.close()
    out = []
    for items, surface, first, positions, user, n in got:
        ids = bytes(items).split(b"\0")
        assert len(ids) == n + 1 and ids[-1] == b"", (items, n)
        pos = (list(range(first, first + n)) if positions is None
               else list(struct.unpack("<%di" % n, positions)))
        out += [(i.decode("utf-8"), surface, p, user) for i, p in zip(ids[:n], pos)]
    return out


def run_suite(name, setup, tests, state):
    """Run a suite of tests against one server: setup() starts it and puts
    it in state["srv"]; each test runs in turn, a failure is reported and
    the next one runs; the server stops at the end (its log is named when
    anything failed). Prints "<name>: N passed, N failed" last and returns
    the exit status."""
    import sys
    import traceback
    if not os.path.exists(BIN):
        print("%s: %s not found; run `make vitrine` first" % (name, BIN))
        print("%s: 0 passed, 1 failed" % name)
        return 1
    passed = failed = 0
    t0 = time.time()
    try:
        setup()
    except Exception:
        traceback.print_exc()
        if "srv" in state:
            state["srv"].stop_quietly()
        print("%s: 0 passed, %d failed" % (name, len(tests)))
        return 1
    width = max([45] + [len(fn.__name__) + 2 for fn in tests])
    try:
        for fn in tests:
            t = time.time()
            try:
                fn()
                passed += 1
                print("ok   %-*s %.2fs" % (width, fn.__name__, time.time() - t))
            except Exception as e:
                failed += 1
                print("FAIL %-*s %s" % (width, fn.__name__, e))
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
            sys.stdout.flush()
    finally:
        state["srv"].stop_quietly()
    if failed:
        print("server log: %s" % state["srv"].log_path)
    print("(%.1fs)" % (time.time() - t0))
    print("%s: %d passed, %d failed" % (name, passed, failed))
    return 1 if failed else 0
