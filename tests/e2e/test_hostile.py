"""Hostile input (issue 12), one regression test per finding, each at the level
where it happened: raw sockets for framing, time bounds for the quadratic
cases, RSS bounds for memory. Every test also checks that the server is still
up afterwards."""
import json
import os
import socket
import sqlite3
import sys
import threading
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
from harness import ENGINE, RestdServer, SharedServerTest, parse_responses, read_all, sqlite_only  # noqa: E402

CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
header_timeout = "2s"
idle_timeout = "3s"

[collections.things]
slug_from = "name"
extra_fields = "reject"

[collections.things.fields]
name = { type = "string", required = true }
code = { type = "string", unique = true }

[collections.notes]
visibility = "owner"
slug_from = "title"

[collections.notes.fields]
title = { type = "string", required = true }
code = { type = "string", unique = true }

[collections.blobs]
extra_fields = "allow"

[collections.blobs.fields]
text = { type = "string" }
"""


# Time bounds are for a release build; sanitizer builds run several times
# slower and say how much through RESTD_TEST_SLOWDOWN (make test-tsan).
SLOWDOWN = float(os.environ.get("RESTD_TEST_SLOWDOWN", "1"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def error_of(resp):
    body = json.loads(resp.body)
    return body["error"]["code"], body["error"]["reason"]


class Framing(SharedServerTest):
    """Items 1-4: framing over raw sockets."""
    config = CONFIG

    def alive(self):
        r = self.srv.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(len(r), 1)
        self.assertEqual(r[0].status, 200)
        self.assertIsNone(self.srv.proc.poll(), "the server process ended")

    def chunked(self, tail):
        return (b"POST /api/v2/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + tail)

    def test_1_huge_trailer_value_and_name_are_431_not_a_crash(self):
        for trailer in (b"X-T: " + b"a" * 70000 + b"\r\n", b"X" * 70000 + b": v\r\n"):
            r = self.srv.raw(self.chunked(b"2\r\n{}\r\n0\r\n" + trailer + b"\r\n"))
            self.assertEqual(len(r), 1, r)
            self.assertEqual(error_of(r[0]), (431, "headers_too_large"))
            self.assertEqual(r[0].header("Connection"), "close")
            self.alive()

    def test_2_chunk_extension_memory_is_bounded(self):
        before = rss_kib(self.srv.proc.pid)
        s = self.srv.connect()
        try:
            s.sendall(self.chunked(b"2;ext="))
            sent = 0
            piece = b"e" * 65536
            try:
                while sent < 64 * 1024 * 1024:   # stops early: the server answers and closes
                    s.sendall(piece)
                    sent += len(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = read_all(s, 5)
        finally:
            s.close()
        self.assertLess(sent, 8 * 1024 * 1024, "the server kept reading a chunk extension")
        r = parse_responses(data)
        if r:   # the reply may be lost to a reset while we were still sending
            self.assertEqual(error_of(r[0]), (431, "headers_too_large"))
        self.assertLess(rss_kib(self.srv.proc.pid) - before, 16 * 1024)
        self.alive()

    def test_2_many_small_extensions_and_trailers_count_toward_16k(self):
        many_ext = b"".join(b"1;e=" + b"x" * 100 + b"\r\na\r\n" for _ in range(200))
        r = self.srv.raw(self.chunked(many_ext + b"0\r\n\r\n"))
        self.assertEqual(error_of(r[0]), (431, "headers_too_large"))
        trailers = b"".join(b"X-T%d: v\r\n" % i for i in range(3000))
        r = self.srv.raw(self.chunked(b"2\r\n{}\r\n0\r\n" + trailers + b"\r\n"))
        self.assertEqual(error_of(r[0]), (431, "headers_too_large"))
        before = rss_kib(self.srv.proc.pid)
        s = self.srv.connect()
        try:
            s.sendall(self.chunked(b"2\r\n{}\r\n0\r\n"))
            try:
                for i in range(20000):   # ~0.4 MB of trailer lines; the server stops at 16 KiB
                    s.sendall(b"X-T%d: v\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                pass
        finally:
            s.close()
        self.assertLess(rss_kib(self.srv.proc.pid) - before, 16 * 1024)
        self.alive()

    def test_2_small_trailers_are_accepted(self):
        r = self.srv.raw(self.chunked(b"2\r\n{}\r\n0\r\nX-Checksum: abc\r\n\r\n"))
        self.assertEqual(error_of(r[0])[0], 401)   # framing fine; the request itself lacks a token

    def test_3_transfer_encodings_that_could_smuggle_are_400_and_close(self):
        smuggled = b"GET /api/v2/ HTTP/1.1\r\nHost: x\r\n\r\n"
        for te in (b"xchunked", b"gzip", b"identity", b"chunked, identity", b"chunked, chunked",
                   b"chunked\r\nTransfer-Encoding: chunked", b""):
            req = (b"POST /api/v2/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: " + te + b"\r\n\r\n" + smuggled)
            r = self.srv.raw(req)
            self.assertEqual(len(r), 1, (te, r))   # the body never runs as a second request
            self.assertEqual(error_of(r[0]), (400, "bad_request"), te)
            self.assertEqual(r[0].header("Connection"), "close")
        # Content-Length and Transfer-Encoding together, and TE in HTTP/1.0: framing in doubt.
        for req in (b"POST /api/v2/things HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
                    b"POST /api/v2/things HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"):
            r = self.srv.raw(req)
            self.assertEqual(len(r), 1, r)
            self.assertEqual(error_of(r[0]), (400, "bad_request"))
        # A coding restd does not decode before a final chunked: well framed, not implemented.
        r = self.srv.raw(b"POST /api/v2/things HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                         b"0\r\n\r\n")
        self.assertEqual(error_of(r[0]), (501, "not_implemented"))
        self.alive()

    def test_4_host_missing_or_repeated_is_400(self):
        for req in (b"GET /healthz HTTP/1.1\r\n\r\n",
                    b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                    b"GET /healthz HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"):
            r = self.srv.raw(req)
            self.assertEqual(len(r), 1, req)
            self.assertEqual(error_of(r[0]), (400, "bad_request"), req)
        r = self.srv.raw(b"GET /healthz HTTP/1.0\r\n\r\n")   # HTTP/1.0 needs no Host
        self.assertEqual(r[0].status, 200)


class Parsing(SharedServerTest):
    """Items 5 and 9: bodies and text."""
    config = CONFIG.replace("threads = 2", 'threads = 2\nmax_body_bytes = 4194304\naccess_log = "access.log"')

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token = cls.srv.as_admin()

    def timed(self, *args, **kw):
        t = time.monotonic()
        r = self.srv.request(*args, timeout=60, **kw)
        return r, time.monotonic() - t

    def test_5_ninety_thousand_keys_parse_in_linear_time(self):
        keys = 90000
        body = "{" + ",".join('"k%d":1' % i for i in range(keys)) + "}"
        self.assertLess(len(body), 1 << 20)
        r, took = self.timed("POST", "/api/v2/things", body=body, headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 422)
        self.assertLess(took, 3.0 * SLOWDOWN, "parsing 90k keys took %.1f s" % took)
        err = r.json()["error"]
        self.assertEqual(len(err["details"]), 100)
        self.assertIn("90001", err["message"])          # 90,000 unknown fields and the missing name
        self.assertIn("90001", err["description"])
        self.assertLess(len(r.body), 64 * 1024)
        # A repeated key is still found, wherever it is.
        r, took = self.timed("POST", "/api/v2/things", body=body[:-1] + ',"k5":2}',
                             headers={"Content-Type": "application/json"})
        self.assertEqual(r.json()["error"]["reason"], "invalid_json")
        self.assertIn('"k5"', r.json()["error"]["message"])
        self.assertLess(took, 3.0 * SLOWDOWN)

    def test_5_authenticate_with_a_huge_object_stays_fast(self):
        body = "{" + ",".join('"k%d":1' % i for i in range(90000)) + "}"
        results = []

        def attack():
            results.append(self.timed("POST", "/api/v2/authenticate", body=body,
                                      headers={"Content-Type": "application/json", "Authorization": None}))
        threads = [threading.Thread(target=attack) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        _, health = self.timed("GET", "/healthz")
        for t in threads:
            t.join()
        for r, took in results:
            self.assertIn(r.status, (400, 401, 429))
            self.assertLess(took, 3.0 * SLOWDOWN)
        self.assertLess(health, 2.0 * SLOWDOWN)

    def test_5_form_with_many_fields_is_linear(self):
        body = "&".join("f%d=v" % i for i in range(90000)) + "&name=x"
        r, took = self.timed("POST", "/api/v2/things", body=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 422)
        self.assertLess(took, 3.0 * SLOWDOWN)
        self.assertEqual(len(r.json()["error"]["details"]), 100)

    def test_5_patch_with_many_keys_into_a_large_record_is_linear(self):
        big = {"k%d" % i: i for i in range(40000)}
        r = self.srv.request("POST", "/api/v2/blobs", body=json.dumps(big), headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 201, r)
        rid = r.json()["data"]["id"]
        patch = {"k%d" % i: (None if i % 2 else -i) for i in range(40000)}
        r, took = self.timed("PATCH", "/api/v2/blobs/" + rid, body=json.dumps(patch),
                             headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r)
        self.assertLess(took, 3.0 * SLOWDOWN)
        data = r.json()["data"]
        self.assertEqual(data["k2"], -2)
        self.assertNotIn("k1", data)

    def test_fuzz_finding_huge_page_is_400_not_overflow(self):
        # Found by fuzz/list_query: (page - 1) * per_page overflowed int64.
        r = self.srv.request("GET", "/api/v2/things?page=277777027777707777&per_page=50")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"]["reason"], "invalid_parameter")
        r = self.srv.request("GET", "/api/v2/things?page=1000000000000&per_page=100")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"], [])

    def test_9_invalid_utf8_in_the_path_is_replaced(self):
        for path in (b"/api/v2/th\xffings", b"/api/v2/things%FF%C0", b"/api/v2/things/\xed\xa0\x80x",
                     b"/api/v2/things/%FFx.xml", b"/api/v2/things?name=%FF\xfe"):
            for accept in (b"application/json", b"application/xml"):
                s = self.srv.connect()
                try:
                    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAccept: " + accept +
                              b"\r\nAuthorization: Bearer " + self.token.encode() + b"\r\nConnection: close\r\n\r\n")
                    r = parse_responses(read_all(s))
                finally:
                    s.close()
                self.assertEqual(len(r), 1)
                self.assertIn(r[0].status, (200, 400, 404))
                for name, value in r[0].headers:
                    self.assertTrue(all(32 <= ord(c) < 127 for c in value), (name, value))   # Link: encoded
                text = r[0].body.decode("utf-8")          # raises on invalid UTF-8
                if r[0].header("Content-Type").startswith("application/xml"):
                    ET.fromstring(r[0].body)              # well-formed
                else:
                    json.loads(text)
        time.sleep(0.3)   # the access log is flushed every 100 ms
        with open(os.path.join(self.srv.dir, "access.log"), "rb") as f:
            lines = [json.loads(line.decode("utf-8")) for line in f]   # strict: raises on invalid UTF-8
        self.assertTrue(any("th\ufffdings" in e["path"] for e in lines), lines[-6:])


class OwnerScope(unittest.TestCase):
    """Item 10: unique values and slugs are unique per owner in owner collections."""

    def test_10_other_users_values_never_collide(self):
        with RestdServer(CONFIG) as srv:
            key = srv.api_key()
            srv.add_user("ann", "writer", "ann-password")
            srv.add_user("bob", "writer", "bob-password")
            ann = {"Authorization": "Bearer " + srv.login("ann", "ann-password", key),
                   "Content-Type": "application/json"}
            bob = {"Authorization": "Bearer " + srv.login("bob", "bob-password", key),
                   "Content-Type": "application/json"}
            a = srv.request("POST", "/api/v2/notes", body='{"title": "Same", "code": "X1"}', headers=ann)
            self.assertEqual(a.status, 201, a)
            self.assertEqual(a.json()["data"]["slug"], "same")
            b = srv.request("POST", "/api/v2/notes", body='{"title": "Same", "code": "X1"}', headers=bob)
            self.assertEqual(b.status, 201, b)                 # not 409: ann's value is invisible to bob
            self.assertEqual(b.json()["data"]["slug"], "same")  # not same-2
            again = srv.request("POST", "/api/v2/notes", body='{"title": "Same", "code": "X1"}', headers=bob)
            self.assertEqual(again.status, 409)                 # bob's own value does collide
            self.assertEqual(again.json()["error"]["field"], "code")
            batch = srv.request("POST", "/api/v2/notes", body='[{"title": "Same"}, {"title": "Same"}]', headers=bob)
            self.assertEqual([i["slug"] for i in batch.json()["data"]], ["same-2", "same-3"])
            # Each user's slug names their own record.
            ga = srv.request("GET", "/api/v2/notes/same", headers=ann)
            gb = srv.request("GET", "/api/v2/notes/same", headers=bob)
            self.assertEqual(ga.json()["data"]["id"], a.json()["data"]["id"])
            self.assertEqual(gb.json()["data"]["id"], b.json()["data"]["id"])
            # Public collections stay unique across users.
            srv.request("POST", "/api/v2/things", body='{"name": "P", "code": "Y"}', headers=ann)
            p = srv.request("POST", "/api/v2/things", body='{"name": "P", "code": "Y"}', headers=bob)
            self.assertEqual(p.status, 409)

    @sqlite_only
    def test_10_existing_databases_get_per_owner_indexes(self):
        with RestdServer(CONFIG) as srv:
            pass_db = srv.db_path
            srv.stop()
            db = sqlite3.connect(pass_db)
            rows = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type='index'").fetchall())
            db.close()
            self.assertIn('("code", "owner")', rows["notes__unique_code"])
            self.assertIn('("slug", "owner")', rows["notes__unique_slug"])
            self.assertIn('("code")', rows["things__unique_code"])
            # An index from an older restd (not per owner) is rebuilt at start.
            db = sqlite3.connect(pass_db)
            db.execute('DROP INDEX notes__unique_code')
            db.execute('CREATE UNIQUE INDEX notes__unique_code ON notes ("code")')
            db.commit()
            db.close()
            srv.start()
            srv.stop()
            db = sqlite3.connect(pass_db)
            sql = db.execute("SELECT sql FROM sqlite_master WHERE name='notes__unique_code'").fetchone()[0]
            db.close()
            self.assertIn('("code", "owner")', sql)


class WriterCosts(unittest.TestCase):
    """Items 7 and 8: costs on the single writer must not grow with the data."""

    def test_7_slugs_of_records_named_alike_cost_log_n(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            batch = json.dumps([{"name": "Same name"}] * 1000)
            times = []
            for _ in range(4):
                t = time.monotonic()
                r = srv.request("POST", "/api/v2/things", body=batch, headers={"Content-Type": "application/json"},
                                timeout=60)
                times.append(time.monotonic() - t)
                self.assertEqual(r.status, 201, r)
            slugs = [i["slug"] for i in r.json()["data"]]
            self.assertEqual(slugs[0], "same-name-3001")
            self.assertEqual(slugs[-1], "same-name-4000")
            if ENGINE == "postgres":
                # Counted, not timed (a round trip per probe makes the times
                # swing with the machine): index probes of the table, about
                # 2 log2(n) + 2 per record, where trying -2, -3, ... in turn
                # would make 8 million; and no sequential scans.
                time.sleep(1.5)   # PostgreSQL publishes table statistics about once a second
                probes, scanned = (int(v) for v in srv.sql(
                    "SELECT idx_scan, seq_tup_read FROM pg_stat_user_tables WHERE relname = 'things'")[0])
                self.assertLess(probes, 4000 * 30, probes)   # measured: 95,811
                self.assertLess(scanned, 100_000, scanned)
            else:
                # Was 6.9 s for the fourth batch; now about as fast as the first.
                self.assertLess(times[3], max(1.5 * SLOWDOWN, 3 * times[0]), times)

    @sqlite_only
    def test_8_stored_idempotency_keys_do_not_slow_writes(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            user_id = srv.request("GET", "/api/v2/me").json()["data"]["user"]["id"]

            def keyed_posts(prefix, n):
                t = time.monotonic()
                for i in range(n):
                    r = srv.request("POST", "/api/v2/things", body=json.dumps({"name": "x"}),
                                    headers={"Content-Type": "application/json", "Idempotency-Key": prefix + str(i)})
                    self.assertEqual(r.status, 201)
                return time.monotonic() - t

            empty = keyed_posts("a", 100)
            srv.stop()
            now = int(time.time() * 1000)
            db = sqlite3.connect(srv.db_path)
            live = [(user_id, "k%d" % i, "h", 201, "application/json", "{}", b"x" * 2000, now) for i in range(20000)]
            old = [(user_id, "old%d" % i, "h", 201, "application/json", "{}", b"x", now - 3 * 86400 * 1000)
                   for i in range(100)]
            db.executemany("INSERT INTO _restd_idempotency VALUES (?, ?, ?, ?, ?, ?, ?, ?)", live + old)
            db.commit()
            db.close()
            srv.start()
            full = keyed_posts("b", 100)
            self.assertLess(full, max(1.0 * SLOWDOWN, 2.5 * empty), (empty, full))
            srv.stop()
            db = sqlite3.connect(srv.db_path)
            expired = db.execute("SELECT count(*) FROM _restd_idempotency WHERE key LIKE 'old%'").fetchone()[0]
            kept = db.execute("SELECT count(*) FROM _restd_idempotency WHERE key LIKE 'k%'").fetchone()[0]
            db.close()
            self.assertEqual(expired, 0)     # purged by the writes
            self.assertEqual(kept, 20000)    # live keys stay


class Shedding(unittest.TestCase):
    """Item 11: one client cannot make the server shed everyone, nor liveness."""

    def test_11_per_client_connection_cap_and_liveness(self):
        cfg = CONFIG.replace("threads = 2", "threads = 2\nmax_in_flight = 5\nmax_connections_per_client = 40")
        with RestdServer(cfg) as srv:
            held = []
            try:
                for _ in range(40):
                    s = srv.connect()
                    s.sendall(b"G")      # one byte each, then nothing
                    held.append(s)
                # Time for the I/O threads to take all 40 in (under a loaded
                # ctest run 0.2 s was once too little: the 41st got in first),
                # well within the 2 s header timeout that would free them.
                time.sleep(0.8)
                # The 41st connection from this address is refused at once.
                extra = srv.connect()
                r = parse_responses(read_all(extra, 5))
                extra.close()
                self.assertEqual(error_of(r[0]), (503, "overloaded"))
                self.assertEqual(r[0].header("Retry-After"), "1")
                # Another client address is served, /healthz and the API alike.
                for path in (b"/healthz", b"/api/v2/"):
                    s = socket.socket()
                    s.bind(("127.0.0.2", 0))
                    s.settimeout(5)
                    s.connect(("127.0.0.1", srv.port))
                    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    r = parse_responses(read_all(s, 5))
                    s.close()
                    self.assertEqual(r[0].status, 200, path)
            finally:
                for s in held:
                    s.close()

    def test_11_partial_requests_are_not_in_flight(self):
        cfg = CONFIG.replace("threads = 2", "threads = 2\nmax_in_flight = 5")
        with RestdServer(cfg) as srv:
            held = []
            try:
                for _ in range(100):
                    s = srv.connect()
                    s.sendall(b"GET / HTTP/1.1\r\n")   # a header that never ends
                    held.append(s)
                time.sleep(0.2)
                self.assertEqual(srv.request("GET", "/healthz").status, 200)
                self.assertEqual(srv.request("GET", "/api/v2/").status, 200)
            finally:
                for s in held:
                    s.close()


class Compression(unittest.TestCase):
    """Item 6: compressing a large reply does not stall other connections."""

    # Under ThreadSanitizer rendering 14 MB is some 20 times slower and the
    # bound would measure TSan, not the server; every other sanitizer runs it.
    @unittest.skipIf(SLOWDOWN >= 10, "a latency bound; meaningless under ThreadSanitizer")
    def test_6_large_gzip_replies_do_not_stall_healthz(self):
        cfg = CONFIG.replace("threads = 2", "threads = 1\nmax_body_bytes = 2000000")
        with RestdServer(cfg) as srv:
            srv.as_admin()
            # Incompressible text: the slowest case for deflate.
            text = os.urandom(600000).hex()
            for _ in range(12):
                r = srv.request("POST", "/api/v2/blobs", body=json.dumps({"text": text}),
                                headers={"Content-Type": "application/json"})
                self.assertEqual(r.status, 201)
            done = []

            def big_list():
                r = srv.request("GET", "/api/v2/blobs?per_page=100", headers={"Accept-Encoding": "gzip"},
                                timeout=60)
                done.append((r.status, r.header("Content-Encoding"), len(r.body)))

            threads = [threading.Thread(target=big_list) for _ in range(2)]
            for t in threads:
                t.start()
            worst = 0
            while any(t.is_alive() for t in threads):
                t0 = time.monotonic()
                self.assertEqual(srv.request("GET", "/healthz").status, 200)
                worst = max(worst, time.monotonic() - t0)
                time.sleep(0.01)
            for t in threads:
                t.join()
            self.assertEqual([d[:2] for d in done], [(200, "gzip")] * 2)
            self.assertLess(worst, 0.5 * SLOWDOWN, "healthz waited %.3f s" % worst)


if __name__ == "__main__":
    unittest.main(verbosity=2)
