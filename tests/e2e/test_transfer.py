"""`restd export`, `import` and `backup` (SPEC §10 CLI) against the real
binary on the engine the run selects: round trips that keep every field,
all-or-nothing imports that name the line and field, what a running server
sees of an import, consistent snapshots and backups while it writes, Ctrl-C
and kill -9 in the middle, the progress bar on a terminal."""
import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, ENGINE, RestdServer, sqlite_only  # noqa: E402
from test_events import Subscriber  # noqa: E402

API = "/api/v2"
JSON = {"Content-Type": "application/json"}

CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
access_log = "off"

[collections.things]
slug_from = "name"

[collections.things.fields]
name  = { type = "string", required = true, max_length = 200 }
price = { type = "number", min = 0 }
qty   = { type = "integer" }
tags  = { type = "array" }
meta  = { type = "object" }
code  = { type = "string", unique = true, pattern = "^[A-Z]{3}[0-9]{3}$" }
done  = { type = "boolean" }
due   = { type = "datetime" }
stamp = { type = "string", read_only = true, default = "fixed" }

[collections.notes]
extra_fields = "allow"
[collections.notes.fields]
text = { type = "string" }
"""


def lines_of(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def write_lines(path, records):
    with open(path, "w") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


def count(srv, collection="things"):
    r = srv.request("GET", f"{API}/{collection}?per_page=1")
    assert r.status == 200, r
    return int(r.header("X-Total-Count"))


def big_file(path, n, prefix="bulk"):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"name": f"{prefix} {i}", "price": i, "meta": {"pad": "x" * 200}}) + "\n")


def command(srv, *args):
    """A restd command line on `srv`'s config and storage."""
    return [BIN, *args, "--config", srv.config_path, "--storage", srv.storage_url]


class Writer:
    """Posts atomic batches of ten records in a loop until the block ends."""

    def __init__(self, srv, pad=0):
        self.srv, self.body = srv, json.dumps([{"name": "w", "meta": {"pad": "q" * pad}}] * 10)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        while not self.stop.is_set():
            self.srv.request("POST", f"{API}/things", body=self.body, headers=JSON)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def run_on_terminal(args, interrupt_when=None, timeout=120):
    """Runs a command with standard error on a pseudo-terminal; returns
    (exit code, everything written there). `interrupt_when(text)` true sends
    SIGINT once."""
    master, slave = pty.openpty()
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out, sent, deadline = b"", False, time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            out += chunk
        if interrupt_when and not sent and interrupt_when(out.decode(errors="replace")):
            p.send_signal(signal.SIGINT)
            sent = True
        if p.poll() is not None and not ready:
            break
    os.close(master)
    return p.wait(timeout=30), out.decode(errors="replace")


class RoundTrip(unittest.TestCase):
    def test_export_then_import_restores_every_field_exactly(self):
        with RestdServer(CONFIG) as a, RestdServer(CONFIG) as b:
            a.as_admin()
            made = [
                {"name": "Alpha", "price": 1.5, "qty": -3, "tags": ["x", {"deep": [1, 2, {"z": 1, "a": 2}]}],
                 "meta": {"zeta": 1, "alpha": {"m": None, "b": [True, False]}}, "code": "ABC123", "done": True,
                 "due": "2026-03-04T05:06:07.089Z"},
                {"name": "nul \u0000 inside", "meta": {"k\u0000": "v\u0000w"}},
                {"name": "Alpha"},                       # slug alpha-2
                {"name": "\u00e9t\u00e9 \U0001F600", "price": 0},
            ]
            ids = []
            for body in made:
                r = a.request("POST", f"{API}/things", body=json.dumps(body), headers=JSON)
                self.assertEqual(r.status, 201, r)
                ids.append(r.json()["data"]["id"])
            r = a.request("PATCH", f"{API}/things/{ids[0]}", body=json.dumps({"qty": 7}),
                          headers={"Content-Type": "application/merge-patch+json"})
            self.assertEqual(r.status, 200, r)
            note = a.request("POST", f"{API}/notes", body=json.dumps({"text": "t", "extra": {"b": 1, "a": [2]}}),
                             headers=JSON).json()["data"]

            out = os.path.join(a.dir, "things.jsonl")
            code, stdout, err = a.cli("export", "things", "--out", out)
            self.assertEqual(code, 0, err)
            self.assertEqual(stdout, "")
            self.assertRegex(err, r"^exported 4 things records \([\d.]+ k?B\) to .* in [\d.]+ s, [\d,]+ records/s\n$")
            with open(out) as f:
                text = f.read()
            exported = lines_of(text)
            self.assertEqual([e["id"] for e in exported], sorted(ids))
            first = next(e for e in exported if e["id"] == ids[0])
            self.assertEqual(first["version"], 2)
            self.assertEqual(first["stamp"], "fixed")
            self.assertEqual(list(first["meta"]), ["zeta", "alpha"])              # member order kept
            self.assertRegex(first["createdAt"], r"\.\d{3}")                      # to the millisecond
            self.assertEqual(set(first), {"id", "slug", "name", "price", "qty", "tags", "meta", "code", "done",
                                          "due", "stamp", "createdAt", "updatedAt", "version", "owner"})
            self.assertFalse(os.path.exists(out + ".partial"))
            # To standard output: the same lines.
            code, stdout, err = a.cli("export", "things")
            self.assertEqual((code, stdout), (0, text), err)

            b.as_admin()
            code, _, err = b.cli("import", "things", out)
            self.assertEqual(code, 0, err)
            self.assertRegex(err, r"^imported 4 things records from .* in [\d.]+ s, [\d,]+ records/s\n$")
            for rid in ids:
                got = b.request("GET", f"{API}/things/{rid}")
                want = a.request("GET", f"{API}/things/{rid}")
                self.assertEqual(got.status, 200, got)
                self.assertEqual(got.json()["data"], want.json()["data"], rid)
                self.assertEqual(got.header("ETag"), want.header("ETag"))
                self.assertEqual(got.header("Last-Modified"), want.header("Last-Modified"))
            code, again, err = b.cli("export", "things")
            self.assertEqual((code, again), (0, text), err)   # byte for byte

            notes = os.path.join(a.dir, "notes.jsonl")
            self.assertEqual(a.cli("export", "notes", "--out", notes)[0], 0)
            self.assertEqual(b.cli("import", "notes", notes)[0], 0)
            got = b.request("GET", f"{API}/notes/{note['id']}").json()["data"]
            self.assertEqual(list(got["extra"]), ["b", "a"])
            self.assertEqual(got, note)

    def test_lines_without_system_fields_get_new_ones_and_an_owner(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            srv.add_user("wes", "writer", "pw-w")
            path = os.path.join(srv.dir, "new.jsonl")
            write_lines(path, [{"name": "Same"}, {"name": "Same"}, {"name": "Other", "owner": "someone-else"},
                               "", {"name": "Same", "slug": "chosen"}])
            code, _, err = srv.cli("import", "things", path, "--owner", "wes")
            self.assertEqual(code, 0, err)
            recs = srv.request("GET", f"{API}/things?sort=createdAt").json()["data"]
            self.assertEqual(len(recs), 4)
            users = {u[0]: u[1] for u in srv.sql("SELECT userName, id FROM _restd_users")}
            self.assertEqual(sorted(r["slug"] for r in recs), ["chosen", "other", "same", "same-2"])
            owners = {r["name"] + r["slug"]: r["owner"] for r in recs}
            self.assertEqual(owners["Samesame"], users["wes"])
            self.assertEqual(owners["Otherother"], "someone-else")
            for r in recs:
                self.assertTrue(r["id"].startswith("thing_"))
                self.assertEqual((r["version"], r["stamp"]), (1, "fixed"))
            # Without --owner: the first admin.
            write_lines(path, [{"name": "By default"}])
            self.assertEqual(srv.cli("import", "things", path)[0], 0)
            rec = srv.request("GET", f"{API}/things?name=By%20default").json()["data"][0]
            self.assertEqual(rec["owner"], users["root"])

    def test_without_an_admin_or_owner_import_refuses_to_start(self):
        with RestdServer(CONFIG) as srv:
            path = os.path.join(srv.dir, "one.jsonl")
            write_lines(path, [{"name": "x"}])
            code, out, err = srv.cli("import", "things", path)
            self.assertEqual(code, 2, err)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn("--owner", err)
            code, out, err = srv.cli("import", "things", path, "--owner", "nobody")
            self.assertEqual(code, 2, err)
            self.assertIn("no such user", err)


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = RestdServer(CONFIG)
        cls.srv.start()
        cls.srv.as_admin()
        r = cls.srv.request("POST", f"{API}/things", body=json.dumps({"name": "kept", "code": "KEP001"}),
                            headers=JSON)
        assert r.status == 201, r
        cls.kept = r.json()["data"]
        cls.path = os.path.join(cls.srv.dir, "bad.jsonl")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def refused(self, lines, line_no, expect):
        write_lines(self.path, lines)
        before = self.srv.sql('SELECT count(*) FROM "things"')
        code, out, err = self.srv.cli("import", "things", self.path)
        self.assertEqual(code, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith(f"restd: {self.path}:{line_no}: "), err)
        self.assertIn(expect, err)
        self.assertTrue(err.rstrip().endswith("Nothing was imported."), err)
        self.assertEqual(self.srv.sql('SELECT count(*) FROM "things"'), before)
        self.assertEqual(count(self.srv), 1)
        return err

    def api_message(self, body):
        r = self.srv.request("POST", f"{API}/things", body=json.dumps(body), headers=JSON)
        self.assertIn(r.status, (409, 422), r)
        return r.json()["error"]["message"]

    def test_each_kind_of_bad_line_stops_the_import_naming_line_and_field(self):
        good = [{"name": f"ok {i}"} for i in range(3)]
        self.refused(good + ["{not json"], 4, "not valid JSON")
        self.refused(good + ["[1, 2]"], 4, "not a JSON object")
        self.refused(good + ['{"name": "a", "name": "b"}'], 4, "not valid JSON")
        err = self.refused(good + [{"name": 5}], 4, "name: ")
        self.assertIn(self.api_message({"name": 5}), err)          # the API's own message
        err = self.refused([{"name": "x" * 201}] + good, 1, "name: ")
        self.assertIn(self.api_message({"name": "x" * 201}), err)
        err = self.refused(good + [{"name": "p", "price": -1}], 4, "price: ")
        self.assertIn(self.api_message({"name": "p", "price": -1}), err)
        self.refused(good + [{"name": "p", "surprise": 1}], 4, "surprise: ")
        self.refused(good + [{"price": 3}], 4, "name: ")
        a, b = "thing_01jd3k2m4n5p6q7r8s9t0v1w2x", "thing_01jd3k2m4n5p6q7r8s9t0v1w2y"
        self.refused([{"id": a, "name": "one"}, {"id": b, "name": "two"}, {"id": a, "name": "again"}], 3, "id: ")
        self.refused([{"id": self.kept["id"], "name": "clash"}], 1, "id: ")
        self.refused(good + [{"id": "note_01jd3k2m4n5p6q7r8s9t0v1w2x", "name": "x"}], 4, "id: not an id of things")
        self.refused(good + [{"name": "d", "code": "KEP001"}], 4, 'code: ')
        self.refused([{"name": "d", "code": "DUP001"}, {"name": "e", "code": "DUP001"}], 2, "code: ")
        self.refused(good + [{"name": "d", "createdAt": "yesterday"}], 4, "createdAt: ")
        self.refused(good + [{"name": "d", "version": 0}], 4, "version: ")
        self.refused(good + [{"name": "d", "slug": "Not A Slug"}], 4, "slug: ")
        self.refused(good + [{"name": "d", "slug": "kept"}], 4, "slug: ")
        # A thousand good lines first: the failure comes after batches were written.
        self.refused([{"name": f"many {i}"} for i in range(1200)] + [{"name": 1}], 1201, "name: ")

    def test_commands_that_cannot_start_say_so_in_one_line_with_status_2(self):
        for args in (["import", "nothings", self.path], ["export", "nothings"],
                     ["import", "things", os.path.join(self.srv.dir, "missing.jsonl")],
                     ["import", "things", self.srv.dir],
                     ["export", "things", "--out", "/nonexistent-dir/x.jsonl"],
                     ["backup", "/nonexistent-dir/x.db"]):
            code, out, err = self.srv.cli(*args)
            self.assertEqual(code, 2, (args, err))
            self.assertEqual(len(err.splitlines()), 1, (args, err))
            self.assertTrue(err.startswith("restd: "), err)
        self.assertIn("collections: things, notes", self.srv.cli("export", "nothings")[2])


class RunningServer(unittest.TestCase):
    def test_the_server_sees_an_import_at_once_counts_etags_and_change_feed(self):
        with RestdServer(CONFIG) as srv:
            token = srv.as_admin()
            srv.request("POST", f"{API}/things", body=json.dumps({"name": "first"}), headers=JSON)
            self.assertEqual(count(srv), 1)
            etag = srv.request("GET", f"{API}/things").header("ETag")
            sub = Subscriber(srv.port, f"{API}/things/events", {"Authorization": "Bearer " + token})
            time.sleep(0.3)
            path = os.path.join(srv.dir, "more.jsonl")
            write_lines(path, [{"name": f"imported {i}"} for i in range(30)])
            self.assertEqual(srv.cli("import", "things", path)[0], 0)
            self.assertEqual(count(srv), 31)   # at once: no stale cached count
            self.assertNotEqual(srv.request("GET", f"{API}/things").header("ETag"), etag)
            evs = sub.wait_for(30, timeout=10)
            sub.close()
            self.assertEqual([e["event"] for e in evs], ["created"] * 30)
            self.assertEqual([json.loads(e["data"])["name"] for e in evs], [f"imported {i}" for i in range(30)])
            ids = [int(e["id"]) for e in evs]
            self.assertEqual(ids, sorted(ids))

    def test_an_import_larger_than_a_batch_sends_one_reset_to_every_subscriber(self):
        cfg = CONFIG.replace("threads = 2", "threads = 2\nmax_batch_items = 50") + """
[collections.diary]
visibility = "owner"
[collections.diary.fields]
text = { type = "string" }
"""
        with RestdServer(cfg) as srv:
            srv.as_admin()
            key = srv.api_key("writers")
            srv.add_user("wes", "writer", "pw-w")
            wes = srv.login("wes", "pw-w", key)
            sub = Subscriber(srv.port, f"{API}/diary/events", {"Authorization": "Bearer " + wes})
            time.sleep(0.3)
            path = os.path.join(srv.dir, "diary.jsonl")
            write_lines(path, [{"text": f"day {i}"} for i in range(51)])   # owned by root: not wes's to see
            self.assertEqual(srv.cli("import", "diary", path)[0], 0)
            evs = sub.wait_for(1, timeout=10)
            time.sleep(0.3)
            evs = sub.events()
            sub.close()
            self.assertEqual([e["event"] for e in evs], ["reset"], evs)
            data = json.loads(evs[0]["data"])
            self.assertEqual(data["reason"], "bulk_import")
            self.assertIn("51 diary records were imported", data["message"])
            self.assertTrue(evs[0]["id"].isdigit())
            self.assertEqual(count(srv, "diary"), 51)

    def test_export_is_one_snapshot_while_the_server_writes(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            batch = json.dumps([{"name": f"n{i}", "meta": {"pad": "y" * 300}} for i in range(500)])
            for _ in range(20):
                self.assertEqual(srv.request("POST", f"{API}/things", body=batch, headers=JSON,
                                             timeout=60).status, 201)
            counts = []
            with Writer(srv):
                for _ in range(3):
                    code, out, err = srv.cli("export", "things")
                    self.assertEqual(code, 0, err)
                    recs = lines_of(out)
                    self.assertEqual(len({r["id"] for r in recs}), len(recs))
                    self.assertEqual(len(recs) % 10, 0, len(recs))
                    counts.append(len(recs))
            self.assertGreater(count(srv), counts[0])   # the writer did write meanwhile


class Interruptions(unittest.TestCase):
    def test_kill_9_in_the_middle_of_an_import_imports_nothing(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            path = os.path.join(srv.dir, "big.jsonl")
            big_file(path, 300000)
            p = subprocess.Popen(command(srv, "import", "things", path), stderr=subprocess.PIPE)
            time.sleep(1.0)
            self.assertIsNone(p.poll(), "the import finished before it could be killed")
            p.kill()
            p.wait()
            p.stderr.close()
            self.assertEqual(count(srv), 0)
            self.assertEqual(srv.request("POST", f"{API}/things", body=json.dumps({"name": "after"}),
                                         headers=JSON).status, 201)
            self.assertEqual(count(srv), 1)

    def test_the_servers_writes_wait_for_an_import_and_then_succeed(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            path = os.path.join(srv.dir, "big.jsonl")
            # Beyond the ~30,000 slug locks that exhausted PostgreSQL's
            # max_locks_per_transaction before the import locked the
            # collection's slugs once. The POST waits at most SQLite's 5 s busy
            # timeout or PostgreSQL's 10 s lock_timeout (docs/operations.md),
            # so under the sanitizers' slowdown the import is smaller (still
            # past 30,000 on PostgreSQL).
            slowdown = float(os.environ.get("RESTD_TEST_SLOWDOWN", "1"))
            n = 100000 if slowdown == 1 else (40000 if ENGINE == "postgres" else int(100000 / (2 * slowdown)))
            big_file(path, n)
            p = subprocess.Popen(command(srv, "import", "things", path), stderr=subprocess.PIPE)
            time.sleep(0.3)
            r = srv.request("POST", f"{API}/things", body=json.dumps({"name": "meanwhile"}), headers=JSON,
                            timeout=30)
            _, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(r.status, 201, (r, srv.stderr_lines[-5:]))   # waited for the import's commit, did not fail
            self.assertEqual(count(srv), n + 1)
            self.assertEqual(r.json()["data"]["slug"], "meanwhile")

    def test_ctrl_c_rolls_an_import_back_and_the_bar_is_drawn_on_a_terminal(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            path = os.path.join(srv.dir, "big.jsonl")
            big_file(path, 300000)
            code, text = run_on_terminal(command(srv, "import", "things", path),
                                         interrupt_when=lambda t: "records" in t)
            self.assertEqual(code, 130, text)
            self.assertRegex(text, r"\rimport things \[[#.]{24}\] +\d+% [\d,]+ records, ([\d,]+/s, )?[\d.]+ [kM]?B")
            self.assertIn("import interrupted: nothing was imported", text)
            self.assertEqual(count(srv), 0)

    def test_the_bar_on_a_terminal_and_only_a_summary_elsewhere(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            path = os.path.join(srv.dir, "some.jsonl")
            big_file(path, 20000)
            code, text = run_on_terminal(command(srv, "import", "things", path))
            self.assertEqual(code, 0, text)
            self.assertIn("\r", text)
            self.assertRegex(text, r"imported 20000 things records from .* in [\d.]+ s, [\d,]+ records/s\r?\n$")
            out = os.path.join(srv.dir, "out.jsonl")
            code, text = run_on_terminal(command(srv, "export", "things", "--out", out))
            self.assertEqual(code, 0, text)
            self.assertRegex(text, r"\rexport things \[[#.]{24}\] +\d+% [\d,]+/20,000 records")
            self.assertRegex(text, r"exported 20000 things records \([\d.]+ MB\) to ")
            # Not a terminal: the summary line alone.
            code, _, err = srv.cli("export", "things", "--out", out)
            self.assertEqual(code, 0)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertNotIn("\r", err)


class Backup(unittest.TestCase):
    def test_a_backup_during_writes_is_consistent_complete_and_servable(self):
        with RestdServer(CONFIG) as srv:
            token = srv.as_admin()
            batch = json.dumps([{"name": f"n{i}", "meta": {"pad": "z" * 500}} for i in range(500)])
            for _ in range(10):
                self.assertEqual(srv.request("POST", f"{API}/things", body=batch, headers=JSON,
                                             timeout=60).status, 201)
            srv.request("POST", f"{API}/notes", body=json.dumps({"text": "n", "extra": 1}), headers=JSON)
            path = os.path.join(srv.dir, "copy.db")
            with Writer(srv, pad=500):
                code, out, err = srv.cli("backup", path)
            self.assertEqual(code, 0, err)
            self.assertRegex(err, rf"^backed up the {ENGINE} storage into {path} \(.*\) in [\d.]+ s, ")
            self.assertFalse(os.path.exists(path + ".partial"))
            db = sqlite3.connect(path)
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            things = db.execute('SELECT count(*) FROM "things"').fetchone()[0]
            self.assertEqual(things % 10, 0, things)
            self.assertGreaterEqual(things, 5000)
            self.assertEqual(db.execute("SELECT count(*) FROM _restd_users").fetchone()[0], 1)
            self.assertEqual(db.execute("SELECT count(*) FROM _restd_apikeys").fetchone()[0], 1)
            self.assertGreaterEqual(db.execute("SELECT count(*) FROM _restd_tokens").fetchone()[0], 1)
            db.close()
            one = srv.request("GET", f"{API}/things?per_page=1&sort=id").json()["data"][0]

            # serve --storage sqlite:PATH runs on it, and the same token works there.
            with RestdServer(CONFIG, storage_url="sqlite:" + path) as copy:
                r = copy.request("GET", f"{API}/things/{one['id']}", headers={"Authorization": "Bearer " + token})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["data"], one)
                r = copy.request("GET", f"{API}/notes", headers={"Authorization": "Bearer " + token})
                self.assertEqual(r.json()["data"][0]["extra"], 1)
                r = copy.request("GET", f"{API}/things?per_page=1", headers={"Authorization": "Bearer " + token})
                self.assertEqual(int(r.header("X-Total-Count")), things)

    def test_an_existing_file_is_kept_unless_forced(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            path = os.path.join(srv.dir, "exists.db")
            with open(path, "w") as f:
                f.write("precious")
            code, out, err = srv.cli("backup", path)
            self.assertEqual(code, 2, err)
            self.assertIn("already exists", err)
            self.assertIn("--force", err)
            with open(path) as f:
                self.assertEqual(f.read(), "precious")
            code, out, err = srv.cli("backup", path, "--force")
            self.assertEqual(code, 0, err)
            db = sqlite3.connect(path)
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            db.close()

    @sqlite_only
    def test_a_file_is_copied_no_faster_than_max_rate(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            batch = json.dumps([{"name": f"n{i}", "meta": {"pad": "r" * 4000}} for i in range(200)])
            for _ in range(8):   # ~7 MB: more than one 4 MiB step
                self.assertEqual(srv.request("POST", f"{API}/things", body=batch, headers=JSON).status, 201)
            t = time.time()
            code, _, err = srv.cli("backup", os.path.join(srv.dir, "slow.db"), "--max-rate", "1")
            self.assertEqual(code, 0, err)
            self.assertGreaterEqual(time.time() - t, 3.5)   # the first 4 MiB step alone owes 4 s at 1 MB/s
            t = time.time()
            code, _, err = srv.cli("backup", os.path.join(srv.dir, "fast.db"), "--max-rate", "0")
            self.assertEqual(code, 0, err)

    def test_ctrl_c_removes_the_partial_copy(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            batch = json.dumps([{"name": f"n{i}", "meta": {"pad": "p" * 4000}} for i in range(200)])
            for _ in range(75):   # ~60 MB: the copy takes a while
                self.assertEqual(srv.request("POST", f"{API}/things", body=batch, headers=JSON,
                                             timeout=60).status, 201)
            path = os.path.join(srv.dir, "cut.db")
            code, text = run_on_terminal(command(srv, "backup", path),
                                         interrupt_when=lambda t: "\rbackup" in t)
            self.assertEqual(code, 130, text)
            self.assertIn("backup interrupted", text)
            self.assertEqual([f for f in os.listdir(srv.dir) if f.startswith("cut.db")], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
