"""The change feed, GET /{collection}/events (SPEC §4, §10 "Events"), over
real sockets on the engine the run selects: what each subscriber receives,
resuming with Last-Event-ID, retention, visibility, limits, SIGTERM, and on
SQLite the writes of another process on the same file."""
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import ENGINE, RestdServer  # noqa: E402

API = "/api/v2"
JSON = {"Content-Type": "application/json"}


def config(extra="", idle_timeout="5s"):
    return f"""
[server]
listen = "127.0.0.1:0"
threads = 2
access_log = "off"
idle_timeout = "{idle_timeout}"

{extra}

[collections.things]
anonymous_read = true
[collections.things.fields]
name = {{ type = "string", required = true }}

[collections.notes]
visibility = "owner"
[collections.notes.fields]
text = {{ type = "string" }}
"""


SLOWDOWN = float(os.environ.get("RESTD_TEST_SLOWDOWN", "1"))


class Subscriber:
    """A raw SSE client: reads the stream on a thread, parses events.

    The constructor returns once the response's head has arrived (or the
    connection closed). The server subscribes a stream before it writes the
    head, so a write made after the constructor returns is in the stream;
    a write made before the head arrived may not be (a stream without
    Last-Event-ID starts live)."""

    opened = []  # every Subscriber not yet closed: a failed test's streams are closed by tearDown

    def __init__(self, port, path, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        lines = [f"GET {path} HTTP/1.1", "Host: x", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.raw = b""
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        Subscriber.opened.append(self)
        deadline = time.time() + 10 * SLOWDOWN
        while self.head() is None and not self.closed.is_set() and time.time() < deadline:
            time.sleep(0.01)

    def _read(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                with self.lock:
                    self.raw += chunk
        except OSError:
            pass
        self.closed.set()

    def head(self):
        with self.lock:
            end = self.raw.find(b"\r\n\r\n")
            return self.raw[:end].decode() if end >= 0 else None

    def text(self):
        """The stream's text, with the chunked framing taken off."""
        with self.lock:
            end = self.raw.find(b"\r\n\r\n")
            body = self.raw[end + 4:] if end >= 0 else b""
        if "chunked" not in (self.head() or "").lower():
            return body.decode()
        out, rest = b"", body
        while rest:
            nl = rest.find(b"\r\n")
            if nl < 0:
                break
            size = int(rest[:nl], 16)
            if size == 0 or len(rest) < nl + 2 + size:
                break
            out += rest[nl + 2:nl + 2 + size]
            rest = rest[nl + 2 + size + 2:]
        return out.decode()

    def events(self):
        out = []
        for block in self.text().split("\n\n"):
            ev = {}
            for line in block.split("\n"):
                if line.startswith(":") or not line:
                    continue
                k, _, v = line.partition(":")
                ev[k] = v[1:] if v.startswith(" ") else v
            if "event" in ev or "data" in ev:
                out.append(ev)
        return out

    def wait_for(self, n, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            evs = self.events()
            if len(evs) >= n:
                return evs
            time.sleep(0.02)
        return self.events()

    def close(self):
        if self in Subscriber.opened:
            Subscriber.opened.remove(self)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    @classmethod
    def close_all(cls):
        for s in list(cls.opened):
            s.close()


class Events(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = RestdServer(config('[events]\nheartbeat = "1s"\nmax_subscribers = 8'))
        cls.srv.start()
        cls.token = cls.srv.as_admin()
        key = cls.srv.api_key("writers")
        cls.srv.add_user("wes", "writer", "pw-w")
        cls.srv.add_user("ola", "writer", "pw-o")
        cls.wes = cls.srv.login("wes", "pw-w", key)
        cls.ola = cls.srv.login("ola", "pw-o", key)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def tearDown(self):
        # A closed stream leaves the server's count when its next write
        # fails (a heartbeat, at most a second later): wait for that, so the
        # next test starts with every one of the 8 slots free. A test that
        # failed half-way may have left its streams open: close them first,
        # so that one failure does not fail the tests after it.
        Subscriber.close_all()
        deadline = time.time() + 5
        while time.time() < deadline:
            if "restd_events_subscribers 0\n" in self.srv.request("GET", "/metrics").body.decode():
                return
            time.sleep(0.1)
        self.fail("streams of this test were still open 5 s after it ended")

    def post(self, coll, body, token=None):
        h = dict(JSON)
        if token:
            h["Authorization"] = "Bearer " + token
        r = self.srv.request("POST", f"{API}/{coll}", body=json.dumps(body), headers=h)
        self.assertIn(r.status, (201, 207), r)
        return r.json()

    def test_created_updated_deleted_in_order_with_the_standard_record(self):
        sub = Subscriber(self.srv.port, f"{API}/things/events")
        try:
            self.assertIsNotNone(sub.wait_for(0) is not None)
            time.sleep(0.2)
            head = sub.head()
            self.assertTrue(head.startswith("HTTP/1.1 200"), head)
            self.assertIn("Content-Type: text/event-stream", head)
            self.assertNotIn("Content-Length", head)
            self.assertIn("Transfer-Encoding: chunked", head)
            a = self.post("things", {"name": "first"})["data"]
            batch = self.post("things", [{"name": "b1"}, {"name": "b2"}])["data"]
            r = self.srv.request("PATCH", f"{API}/things/{a['id']}", body='{"name": "renamed"}', headers=JSON)
            self.assertEqual(r.status, 200)
            updated = r.json()["data"]
            r = self.srv.request("DELETE", f"{API}/things/{batch[0]['id']}")
            self.assertEqual(r.status, 200)
            # an atomic batch that fails adds nothing; a partial one only its successes
            r = self.srv.request("POST", f"{API}/things", body=json.dumps([{"name": "x"}, {}]), headers=JSON)
            self.assertEqual(r.status, 422)
            r = self.srv.request("POST", f"{API}/things?atomic=false", body=json.dumps([{}, {"name": "p"}]), headers=JSON)
            self.assertEqual(r.status, 207)
            partial = r.json()["data"][0]
            evs = sub.wait_for(6)
            self.assertEqual([e["event"] for e in evs], ["created", "created", "created", "updated", "deleted", "created"])
            ids = [int(e["id"]) for e in evs]
            self.assertEqual(ids, sorted(ids))
            self.assertEqual(len(set(ids)), len(ids))
            datas = [json.loads(e["data"]) for e in evs]
            self.assertEqual(datas[0], a)          # exactly the record as the standard profile renders it
            self.assertEqual(datas[3], updated)
            self.assertEqual(datas[4], batch[0])   # a delete carries the record as it was
            self.assertEqual(datas[5]["id"], partial["id"])
            self.assertEqual(list(datas[0]), list(a))  # member order too
            # Another collection's writes are not in this stream.
            self.post("notes", {"text": "elsewhere"}, self.wes)
            time.sleep(0.3)
            self.assertEqual(len(sub.events()), 6)
            # Heartbeats keep a quiet stream open.
            time.sleep(1.3)
            self.assertIn(": heartbeat", sub.text())
        finally:
            sub.close()

    def test_resume_with_last_event_id_and_reset_past_what_is_kept(self):
        sub = Subscriber(self.srv.port, f"{API}/things/events")
        self.post("things", {"name": "r1"})
        first = sub.wait_for(1)[0]
        sub.close()
        made = [self.post("things", {"name": f"missed {i}"})["data"] for i in range(3)]
        again = Subscriber(self.srv.port, f"{API}/things/events", {"Last-Event-ID": first["id"]})
        try:
            evs = again.wait_for(3)
            self.assertEqual([json.loads(e["data"])["id"] for e in evs], [m["id"] for m in made])
            self.assertTrue(all(int(e["id"]) > int(first["id"]) for e in evs))
            live = self.post("things", {"name": "live"})["data"]
            evs = again.wait_for(4)
            self.assertEqual(json.loads(evs[3]["data"])["id"], live["id"])
        finally:
            again.close()
        # An id from the future (or one whose successors were pruned): reset, then live.
        far = Subscriber(self.srv.port, f"{API}/things/events", {"Last-Event-ID": "999999999"})
        try:
            evs = far.wait_for(1)
            self.assertEqual(evs[0]["event"], "reset")
            self.assertEqual(json.loads(evs[0]["data"])["reason"], "history_expired")
            self.post("things", {"name": "after reset"})
            evs = far.wait_for(2)
            self.assertEqual(evs[1]["event"], "created")
        finally:
            far.close()

    def test_owner_visibility_and_roles(self):
        wes = Subscriber(self.srv.port, f"{API}/notes/events", {"Authorization": "Bearer " + self.wes})
        admin = Subscriber(self.srv.port, f"{API}/notes/events?access_token={self.token}")
        try:
            time.sleep(0.2)
            mine = self.post("notes", {"text": "wes's"}, self.wes)["data"]
            self.post("notes", {"text": "ola's"}, self.ola)
            self.assertEqual(len(admin.wait_for(2)), 2)
            evs = wes.wait_for(1)
            time.sleep(0.3)
            evs = wes.events()
            self.assertEqual([json.loads(e["data"])["id"] for e in evs], [mine["id"]])
        finally:
            wes.close()
            admin.close()
        # Anonymous: only where anonymous_read; never on owner collections' others' records.
        r = self.srv.request("GET", f"{API}/notes/events", headers={"Authorization": ""})
        self.assertEqual(r.status, 401)

    def new_writer_streaming(self, name):
        """A new writer's token and its open stream of things' events."""
        key = self.srv.api_key("key-" + name)
        self.srv.add_user(name, "writer", "pw-" + name)
        token = self.srv.login(name, "pw-" + name, key)
        sub = Subscriber(self.srv.port, f"{API}/things/events", {"Authorization": "Bearer " + token})
        time.sleep(0.3)
        self.assertFalse(sub.closed.is_set())
        return token, sub

    def test_revoking_the_token_ends_the_stream(self):
        token, sub = self.new_writer_streaming("tmp")
        try:
            r = self.srv.request("POST", f"{API}/logout", headers={"Authorization": "Bearer " + token})
            self.assertEqual(r.status, 200, r)
            self.assertTrue(sub.closed.wait(3), "the stream outlived its token")
            self.assertTrue(sub.text().endswith("\n\n") or sub.text() == "retry: 2000\n\n")
        finally:
            sub.close()

    def test_a_role_changed_in_the_storage_ends_the_stream(self):
        token, sub = self.new_writer_streaming("rolf")
        try:
            # Behind the server's back (the CLI has no role verb): another
            # process, or psql, demotes the user.
            self.srv.sql("UPDATE _restd_users SET role = 'reader' WHERE username = 'rolf'")
            self.assertTrue(sub.closed.wait(4), "the stream outlived the user's role")
            # The token still works, with the new role: a new stream is allowed for a reader.
            again = Subscriber(self.srv.port, f"{API}/things/events", {"Authorization": "Bearer " + token})
            deadline = time.time() + 3
            while again.head() is None and time.time() < deadline:
                time.sleep(0.05)
            self.assertTrue((again.head() or "").startswith("HTTP/1.1 200"), again.text())
            again.close()
        finally:
            sub.close()

    def test_bad_input_and_limits(self):
        for bad in ("abc", "-1", "1.5", "9" * 30, "0x10"):
            r = self.srv.request("GET", f"{API}/things/events", headers={"Last-Event-ID": bad})
            self.assertEqual(r.status, 400, bad)
            self.assertEqual(r.json()["error"]["reason"], "invalid_parameter")
        r = self.srv.request("POST", f"{API}/things/events", body="{}", headers=JSON)
        self.assertEqual(r.status, 405)
        self.assertIn("GET", r.header("Allow"))
        self.assertEqual(self.srv.request("GET", f"{API}/nothing/events").status, 404)
        r = self.srv.request("GET", f"{API}/things/events?page=2")
        self.assertEqual(r.status, 400)
        r = self.srv.request("HEAD", f"{API}/things/events")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/event-stream")
        self.assertIsNone(r.header("Content-Length"))
        # The slug "events" is never generated, and a record id is never "events".
        # max_subscribers = 8: the ninth is shed with 503 and Retry-After.
        subs = [Subscriber(self.srv.port, f"{API}/things/events") for _ in range(8)]
        try:
            for s in subs:
                s.wait_for(0)
            time.sleep(0.3)
            r = self.srv.request("GET", f"{API}/things/events")
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json()["error"]["reason"], "overloaded")
            self.assertEqual(r.header("Retry-After"), "5")
            text = self.srv.request("GET", "/metrics").body.decode()
            self.assertIn("restd_events_subscribers 8", text)
        finally:
            for s in subs:
                s.close()
        time.sleep(0.3)
        deadline = time.time() + 3
        while time.time() < deadline:
            s = Subscriber(self.srv.port, f"{API}/things/events")
            time.sleep(0.2)
            ok = (s.head() or "").startswith("HTTP/1.1 200")
            s.close()
            if ok:
                break
        self.assertTrue(ok, "closed streams were not released")


class Retention(unittest.TestCase):
    def test_events_older_than_the_retention_are_forgotten_and_a_resume_resets(self):
        with RestdServer(config('[events]\nretention = "2s"')) as srv:
            srv.as_admin()
            sub = Subscriber(srv.port, f"{API}/things/events")
            r = srv.request("POST", f"{API}/things", body='{"name": "old"}', headers=JSON)
            self.assertEqual(r.status, 201)
            old = sub.wait_for(1)[0]["id"]
            r = srv.request("POST", f"{API}/things", body='{"name": "newer"}', headers=JSON)
            second = sub.wait_for(2)[1]["id"]
            sub.close()
            # Resuming within the retention works ...
            again = Subscriber(srv.port, f"{API}/things/events", {"Last-Event-ID": old})
            self.assertEqual(again.wait_for(1)[0]["id"], second)
            again.close()
            time.sleep(3.5)  # past the retention: the feed forgets (the newest event is always kept)
            srv.request("POST", f"{API}/things", body='{"name": "fresh"}', headers=JSON)
            time.sleep(1.5)
            rows = srv.sql("SELECT count(*) FROM _restd_events")
            self.assertLessEqual(int(rows[0][0]), 2, rows)
            late = Subscriber(srv.port, f"{API}/things/events", {"Last-Event-ID": old})
            try:
                evs = late.wait_for(1)
                self.assertEqual(evs[0]["event"], "reset")
            finally:
                late.close()


class SlowConsumer(unittest.TestCase):
    def test_a_client_that_does_not_read_is_cut_off_with_a_retry_hint(self):
        # A long idle timeout: what ends this stream must be its full buffer,
        # not a write that timed out (under the sanitizers the writes are slow).
        with RestdServer(config(idle_timeout="120s")) as srv:
            srv.as_admin()
            sock = socket.create_connection(("127.0.0.1", srv.port))
            sock.sendall(f"GET {API}/things/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            time.sleep(0.3)
            # About 24 MB of events: more than the kernel's socket buffers
            # (4 MB to send and 6 MB to receive at most here) and the stream's own 64 KiB.
            big = "x" * 4000
            for i in range(600):
                srv.request("POST", f"{API}/things", body=json.dumps([{"name": big}] * 10), headers=JSON)
            time.sleep(1)
            data = b""
            sock.settimeout(30)
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                self.fail("the stream was not ended")
            sock.close()
            tail = data[-300:]
            self.assertIn(b"reconnect with Last-Event-ID\nretry: 1000", tail, tail)
            self.assertEqual(srv.request("GET", "/healthz").status, 200)


class Shutdown(unittest.TestCase):
    def test_sigterm_ends_streams_cleanly_and_exits_0(self):
        srv = RestdServer(config())
        srv.start()
        try:
            sub = Subscriber(srv.port, f"{API}/things/events")
            time.sleep(0.3)
            started = time.time()
            self.assertEqual(srv.stop(), 0)
            self.assertLess(time.time() - started, 5)
            self.assertTrue(sub.closed.wait(2))
            self.assertTrue(sub.raw.endswith(b"0\r\n\r\n"), sub.raw[-40:])  # the last chunk: a clean end
        finally:
            srv.cleanup()


class AnotherProcess(unittest.TestCase):
    def test_writes_of_another_node_or_process_reach_the_stream(self):
        # SQLite: two restd processes on one file; PostgreSQL: two nodes on one database.
        a = RestdServer(config())
        a.start()
        b = RestdServer(config(), storage_url=a.storage_url)
        b.start()
        try:
            token = a.as_admin()
            sub = Subscriber(a.port, f"{API}/things/events")
            time.sleep(0.3)
            sent = time.time()
            r = b.request("POST", f"{API}/things", body='{"name": "from b"}',
                          headers=dict(JSON, Authorization="Bearer " + token))
            self.assertEqual(r.status, 201)
            evs = sub.wait_for(1)
            self.assertEqual(len(evs), 1)
            self.assertLess(time.time() - sent, 1.0)
            self.assertEqual(json.loads(evs[0]["data"])["name"], "from b")
            # Ids are one order across nodes.
            for i in range(6):
                node = a if i % 2 else b
                node.request("POST", f"{API}/things", body=json.dumps({"name": f"n{i}"}),
                             headers=dict(JSON, Authorization="Bearer " + token))
            evs = sub.wait_for(7)
            self.assertEqual([json.loads(e["data"])["name"] for e in evs[1:]], [f"n{i}" for i in range(6)])
            ids = [int(e["id"]) for e in evs]
            self.assertEqual(ids, sorted(ids))
            sub.close()
            # Concurrent writers on both nodes, a subscriber on each: both
            # see every write, in one and the same id order.
            subs = [Subscriber(n.port, f"{API}/things/events", headers={"Last-Event-ID": str(ids[-1])})
                    for n in (a, b)]
            time.sleep(0.3)
            statuses = []

            def write(node, who):
                for i in range(25):
                    r = node.request("POST", f"{API}/things", body=json.dumps({"name": f"{who} {i}"}),
                                     headers=dict(JSON, Authorization="Bearer " + token))
                    statuses.append(r.status)
            writers = [threading.Thread(target=write, args=(n, f"{name}{k}"))
                       for n, name in ((a, "a"), (b, "b")) for k in range(2)]
            for t in writers:
                t.start()
            for t in writers:
                t.join()
            self.assertEqual(statuses, [201] * 100)
            seen = [[(int(e["id"]), json.loads(e["data"])["name"]) for e in sub.wait_for(100, timeout=10)]
                    for sub in subs]
            self.assertEqual(len(seen[0]), 100)
            self.assertEqual(seen[0], seen[1])
            self.assertEqual([i for i, _ in seen[0]], sorted({i for i, _ in seen[0]}))
            self.assertEqual(len({name for _, name in seen[0]}), 100)
            for sub in subs:
                sub.close()
        finally:
            for n in (b, a):
                n.stop()
                n.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
