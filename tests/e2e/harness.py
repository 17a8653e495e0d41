"""End-to-end test harness: starts the real restd binary on a free port and
talks to it over real sockets. Standard library only.

    with RestdServer(config_toml) as srv:
        status, headers, body = srv.request("GET", "/healthz")

The storage engine comes from the environment: RESTD_TEST_ENGINE=postgres
with RESTD_TEST_PG_STATE (the directory scripts/pg_cluster.sh wrote) runs
every server on a fresh database of that PostgreSQL cluster; otherwise each
server gets a fresh SQLite file.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
import http.client

BIN = os.path.abspath(os.environ.get("RESTD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "restd"))

ENGINE = os.environ.get("RESTD_TEST_ENGINE", "sqlite")

# Tests of SQLite's own files (WAL, the database file, sqlite_master).
sqlite_only = unittest.skipIf(ENGINE != "sqlite", "about SQLite's files; PostgreSQL has its own tests")
postgres_only = unittest.skipIf(ENGINE != "postgres", "needs PostgreSQL (RESTD_TEST_ENGINE=postgres)")


# Every `standard` JSON reply a test receives is checked against the
# /openapi.json of the server that sent it, when the test module ends
# (tests/browser/check_replies.mjs): the document must describe what the
# server really does. RESTD_TEST_CHECK_REPLIES=0 turns it off.
CHECK_REPLIES = os.environ.get("RESTD_TEST_CHECK_REPLIES", "1") != "0"
_recorded_docs = {}      # document text -> number
_recorded_replies = []   # (doc number, method, path, status, body)
_ENVELOPE = re.compile(r'^\s*envelope\s*=\s*"([^"]*)"', re.M)
_BASE_PATH = re.compile(r'^\s*base_path\s*=\s*"([^"]*)"', re.M)


def _check_recorded_replies():
    if not _recorded_replies:
        return
    with tempfile.TemporaryDirectory(prefix="restd-replies-") as d:
        os.mkdir(os.path.join(d, "docs"))
        for text, n in _recorded_docs.items():
            with open(os.path.join(d, "docs", f"{n}.json"), "w") as f:
                f.write(text)
        with open(os.path.join(d, "replies.jsonl"), "w") as f:
            for doc, method, path, status, body in _recorded_replies:
                f.write(json.dumps({"doc": doc, "method": method, "path": path, "status": status, "body": body}) + "\n")
        script = os.path.join(os.path.dirname(__file__), "..", "browser", "check_replies.mjs")
        if os.environ.get("RESTD_TEST_KEEP_REPLIES"):  # debugging the checker: keep what it was given
            import shutil
            shutil.copytree(d, os.environ["RESTD_TEST_KEEP_REPLIES"], dirs_exist_ok=True)
        p = subprocess.run(["node", script, d], capture_output=True, text=True, timeout=120)
        _recorded_replies.clear()
        print("\n" + (p.stdout.strip().splitlines() or ["(no output)"])[-1], file=sys.stderr)
        if p.returncode != 0:
            raise AssertionError("replies that disagree with /openapi.json:\n" + p.stdout[-6000:] + p.stderr[-2000:])


if CHECK_REPLIES:
    unittest.addModuleCleanup(_check_recorded_replies)


def pg_base_url():
    state = os.environ.get("RESTD_TEST_PG_STATE")
    if not state:
        raise RuntimeError("RESTD_TEST_ENGINE=postgres needs RESTD_TEST_PG_STATE (scripts/pg_cluster.sh start DIR)")
    with open(os.path.join(state, "url")) as f:
        return f.read().strip()


def psql(url, sql):
    """Runs one SQL command with psql; returns its unaligned output."""
    p = subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed: {p.stderr}")
    return p.stdout


class PgDatabase:
    """A fresh, empty database in the test cluster, dropped by drop()."""
    def __init__(self):
        self.base = pg_base_url()
        self.name = "restd_" + uuid.uuid4().hex[:16]
        psql(self.base + "/postgres", f'CREATE DATABASE "{self.name}"')
        self.url = self.base + "/" + self.name

    def sql(self, query):
        return psql(self.url, query)

    def drop(self):
        try:
            psql(self.base + "/postgres", f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except RuntimeError:
            pass


BASE_CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
"""


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value)
        self.body = body                # bytes

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {self.body[:200]!r}>"


def parse_responses(data, head=False):
    """Parses every complete HTTP response in `data` (Content-Length framed)."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        head_block = data[:end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/(\d\.\d) (\d{3}) ?(.*)", head_block[0])
        assert m, f"bad status line {head_block[0]!r}"
        status = int(m.group(2))
        headers = []
        for line in head_block[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        length = 0
        for k, v in headers:
            if k.lower() == "content-length":
                length = int(v)
        if head or status in (100, 204, 304):
            length = 0
        body = data[end + 4:end + 4 + length]
        if len(body) < length:
            break
        out.append(Response(status, m.group(3), headers, body))
        data = data[end + 4 + length:]
    return out


def free_port():
    """A port nothing listens on right now (for a server that must come back on the same one)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RestdServer:
    def __init__(self, config=BASE_CONFIG, extra_args=(), env=None, db=True, storage_url=None):
        """`storage_url`: share another server's database (another node of it)."""
        self.tmp = tempfile.TemporaryDirectory(prefix="restd-e2e-")
        self.dir = self.tmp.name
        self.config_path = os.path.join(self.dir, "restd.toml")
        # Rate limiting is on by default (600 a minute); tests of other things
        # send more than that, so it is off unless a test configures it.
        if "[rate_limit]" not in config:
            config += "\n[rate_limit]\nrequests_per_minute = 0\n"
        with open(self.config_path, "w") as f:
            f.write(config)
        self.db_path = os.path.join(self.dir, "restd.db")
        self.pg = PgDatabase() if db and ENGINE == "postgres" and not storage_url else None
        self.storage_url = storage_url or (self.pg.url if self.pg else "sqlite:" + self.db_path)
        self.args = [BIN, "serve", "--config", self.config_path]
        if db:
            self.args += ["--storage", self.storage_url]
        self.args += list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.default_headers = {}   # sent with every request() unless overridden
        envelope = _ENVELOPE.search(config)
        self.standard = envelope is None or envelope.group(1) == "standard"
        base = _BASE_PATH.search(config)
        self.base_path = base.group(1) if base else "/api/v2"
        self.rate_limited = not re.search(r"requests_per_minute\s*=\s*0\b", config)
        self.doc = None             # the number of this server's /openapi.json among _recorded_docs
        self.stdout_lines = []
        self.stderr_lines = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, *exc):
        self.stop()
        self.cleanup()
        if exc_type is None:
            self.check_sanitizers()

    # What AddressSanitizer, LeakSanitizer, UBSan and ThreadSanitizer print:
    # under a sanitizer build (make test runs none) a report fails the test
    # whose server printed it, though the server went on or exited cleanly.
    _SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer")

    def check_sanitizers(self):
        for t in getattr(self, "_readers", []):
            t.join(timeout=10)  # the process has ended: its pipes drain
        reports = [i for i, line in enumerate(self.stderr_lines) if self._SANITIZER_REPORT.search(line)]
        if reports:
            first = reports[0]
            raise AssertionError(f"restd's sanitizer reported {len(reports)} problem(s); the first:\n" +
                                 "\n".join(self.stderr_lines[first:first + 40]))

    def cleanup(self):
        if self.pg:
            self.pg.drop()
        self.tmp.cleanup()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=self.dir, env=self.env)
        first = self.proc.stdout.readline().decode()
        m = re.search(r"listening on http://[^:]+:(\d+)", first)
        if not m:
            err = self.proc.stderr.read().decode()
            raise RuntimeError(f"restd did not start: {first!r} {err!r}")
        self.port = int(m.group(1))
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines), daemon=True),
        ]
        for t in self._readers:
            t.start()
        # A restart may bring a changed config (a migration test): its own document.
        self.doc = None
        if not self.rate_limited:  # with rate limits, fetching it would spend a request the test counts
            self._fetch_doc()

    def _fetch_doc(self):
        if not CHECK_REPLIES or not self.standard or self.doc is not None or not self.port:
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", self.base_path + "/openapi.json")
            r = conn.getresponse()
            text = r.read().decode()
            if r.status == 200:
                self.doc = _recorded_docs.setdefault(text, len(_recorded_docs))
        except OSError:
            pass
        finally:
            conn.close()

    def _record(self, method, path, headers, response):
        if self.doc is None or method == "HEAD":
            return
        if (response.header("Content-Type") or "").split(";")[0] != "application/json" and response.status != 304:
            return
        envelope = next((v for k, v in headers.items() if k.lower() == "x-envelope"), None)
        query = path.partition("?")[2]
        if (envelope not in (None, "standard") or re.search(r"(^|&)envelope=(?!standard(&|$))", query)
                or path.split("?")[0].endswith(".xml")):
            return
        try:
            body = json.loads(response.body) if response.body else None
        except ValueError:
            return
        _recorded_replies.append((self.doc, method, path, response.status, body))

    @staticmethod
    def _pump(stream, lines):
        for line in stream:
            lines.append(line.decode(errors="replace").rstrip("\n"))

    def stop(self, sig=signal.SIGTERM, timeout=40):
        if self.proc and self.proc.poll() is None:
            if self.rate_limited and sig == signal.SIGTERM:
                self._fetch_doc()
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def sql(self, query):
        """Runs SQL on this server's database behind its back; returns the rows
        (tuples of strings) of a query."""
        if ENGINE == "postgres":
            out = psql(self.storage_url, query)
            return [tuple(line.split("|")) for line in out.splitlines() if line]
        import sqlite3
        db = sqlite3.connect(self.db_path)
        try:
            rows = [tuple(str(v) for v in row) for row in db.execute(query).fetchall()]
            db.commit()
            return rows
        finally:
            db.close()

    def access_log(self):
        out = []
        for line in self.stdout_lines:
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    # --- clients -------------------------------------------------------
    # --- accounts ---------------------------------------------------------
    def cli(self, *args, input=None, env=None):
        """Runs a restd command on this server's config and database."""
        return run_cli(*args, "--config", self.config_path, "--storage", self.storage_url,
                       input=input, env=env)

    def add_user(self, name, role, password):
        code, out, err = self.cli("user", "add", name, "--role", role, env={"RESTD_PASSWORD": password})
        assert code == 0, err
        return name

    def api_key(self, label="tests"):
        code, out, err = self.cli("apikey", "create", "--name", label)
        assert code == 0, err
        return out.strip()

    def login(self, user, password, api_key):
        r = self.request("POST", "/api/v2/authenticate",
                         body=json.dumps({"userName": user, "apiKey": api_key, "password": password}),
                         headers={"Content-Type": "application/json"})
        assert r.status == 200, r
        return r.json()["data"]["access_token"]

    def as_admin(self):
        """Creates an admin and sends its token with every request() from now on."""
        key = self.api_key("admin-key")
        self.add_user("root", "admin", "root-password")
        token = self.login("root", "root-password", key)
        self.default_headers = {"Authorization": "Bearer " + token}
        return token

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            merged = dict(self.default_headers)
            merged.update(headers or {})
            headers = {k: v for k, v in merged.items() if v is not None}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            response = Response(r.status, r.reason, r.getheaders(), data)
            self._record(method, path, headers, response)
            return response
        finally:
            conn.close()

    def connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def raw(self, data, timeout=10, head=False):
        """Sends raw bytes, reads until the server closes or times out, parses replies."""
        s = self.connect(timeout)
        try:
            s.sendall(data)
            return parse_responses(read_all(s, timeout), head=head)
        finally:
            s.close()


class SharedServerTest(unittest.TestCase):
    """One server for every test of the class, started from `config`."""
    config = BASE_CONFIG

    @classmethod
    def setUpClass(cls):
        cls.srv = RestdServer(cls.config)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()
        cls.srv.check_sanitizers()


def read_all(sock, timeout=10):
    sock.settimeout(timeout)
    chunks = []
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                break
            chunks.append(b)
    except socket.timeout:
        pass
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def read_responses(sock, count, timeout=10, head=False):
    """Reads until `count` complete responses have arrived (keep-alive friendly)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = parse_responses(data, head=head)
        if len(got) >= count:
            return got
        b = sock.recv(65536)
        if not b:
            break
        data += b
    return parse_responses(data, head=head)


def run_cli(*args, env=None, input=None, cwd=None):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=dict(os.environ, **(env or {})),
                       input=input, cwd=cwd, timeout=60)
    return p.returncode, p.stdout, p.stderr
