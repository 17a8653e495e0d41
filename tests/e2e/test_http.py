"""The HTTP core over real sockets: limits, timeouts, keep-alive, pipelining,
HEAD/OPTIONS/404/405/501, gzip, request ids, bad input, SIGTERM drain."""
import gzip
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import RestdServer, parse_responses, read_all, read_responses, sqlite_only  # noqa: E402

CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
max_body_bytes = 4096
header_timeout = "1s"
idle_timeout = "2s"

[collections.things.fields]
name = { type = "string", required = true }
"""


def envelope_error(testcase, resp, status, reason):
    testcase.assertEqual(resp.status, status, resp)
    body = json.loads(resp.body)
    testcase.assertEqual(body["error"]["code"], status)
    testcase.assertEqual(body["error"]["reason"], reason)
    testcase.assertIn("message", body["error"])
    testcase.assertEqual(body["error"]["info"], "/docs/errors#" + reason)
    testcase.assertIn("requestId", body["meta"])
    testcase.assertEqual(resp.header("Content-Type"), "application/json; charset=utf-8")
    return body


class HttpCore(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = RestdServer(CONFIG)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    # --- basics ---------------------------------------------------------
    def test_healthz_standard_envelope_and_headers(self):
        r = self.srv.request("GET", "/healthz")
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual(body["data"], {"status": "ok"})
        self.assertRegex(body["meta"]["date"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
        self.assertEqual(body["meta"]["requestId"], r.header("X-Request-Id"))
        self.assertTrue(r.header("Server").startswith("restd"))
        self.assertRegex(r.header("Date"), r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")
        self.assertEqual(int(r.header("Content-Length")), len(r.body))

    def test_readyz(self):
        r = self.srv.request("GET", "/readyz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["data"]["status"], "ready")

    def test_request_id_kept_when_sane_replaced_otherwise(self):
        r = self.srv.request("GET", "/healthz", headers={"X-Request-Id": "abc.DEF_123-x"})
        self.assertEqual(r.header("X-Request-Id"), "abc.DEF_123-x")
        self.assertEqual(r.json()["meta"]["requestId"], "abc.DEF_123-x")
        for bad in ["has space", "x" * 129, "semi;colon", "ü"]:
            resp = self.srv.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + bad.encode() +
                                b"\r\nConnection: close\r\n\r\n")[0]
            rid = resp.header("X-Request-Id")
            self.assertNotEqual(rid, bad)
            self.assertRegex(rid, r"^[A-Za-z0-9._-]{1,128}$")
        r1 = self.srv.request("GET", "/healthz")
        r2 = self.srv.request("GET", "/healthz")
        self.assertNotEqual(r1.header("X-Request-Id"), r2.header("X-Request-Id"))

    def test_unknown_path_404(self):
        envelope_error(self, self.srv.request("GET", "/nowhere"), 404, "not_found")
        envelope_error(self, self.srv.request("GET", "/api/v2/nothings"), 404, "not_found")
        # an unknown method on an unknown path is still 404
        envelope_error(self, self.srv.request("BREW", "/nowhere"), 404, "not_found")

    def test_wrong_method_405_with_allow(self):
        r = self.srv.request("DELETE", "/healthz")
        envelope_error(self, r, 405, "method_not_allowed")
        self.assertEqual(r.header("Allow"), "GET, HEAD, OPTIONS")
        self.assertEqual(r.json()["error"]["type"], "client")

    def test_unknown_method_501(self):
        r = self.srv.request("BREW", "/healthz")
        body = envelope_error(self, r, 501, "not_implemented")
        self.assertEqual(body["error"]["type"], "system")

    def test_head_matches_get(self):
        g = self.srv.request("GET", "/api/v2/", headers={"X-Request-Id": "same-id"})
        h = self.srv.raw(b"HEAD /api/v2/ HTTP/1.1\r\nHost: x\r\nX-Request-Id: same-id\r\nConnection: close\r\n\r\n",
                         head=True)[0]
        self.assertEqual(h.status, 200)
        self.assertEqual(h.body, b"")
        self.assertEqual(h.header("Content-Length"), g.header("Content-Length"))
        self.assertEqual(h.header("Content-Type"), g.header("Content-Type"))
        # and no stray body bytes follow the HEAD reply on a kept-alive connection
        s = self.srv.connect()
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}"):
            data += s.recv(65536)
        s.close()
        first_end = data.find(b"\r\n\r\n") + 4
        self.assertTrue(data[first_end:].startswith(b"HTTP/1.1 200 OK"))

    def test_options_204_with_allow(self):
        r = self.srv.request("OPTIONS", "/healthz")
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Allow"), "GET, HEAD, OPTIONS")
        self.assertEqual(r.body, b"")
        envelope_error(self, self.srv.request("OPTIONS", "/nowhere"), 404, "not_found")

    # --- connections ----------------------------------------------------
    def test_keep_alive_serves_several_requests(self):
        s = self.srv.connect()
        for _ in range(3):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            r = read_responses(s, 1)[0]
            self.assertEqual(r.status, 200)
            self.assertNotEqual((r.header("Connection") or "").lower(), "close")
        s.close()

    def test_two_pipelined_requests_written_at_once(self):
        s = self.srv.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: first\r\n\r\n"
                  b"GET /nowhere HTTP/1.1\r\nHost: x\r\nX-Request-Id: second\r\n\r\n")
        rs = read_responses(s, 2)
        s.close()
        self.assertEqual([r.status for r in rs], [200, 404])
        self.assertEqual([r.header("X-Request-Id") for r in rs], ["first", "second"])

    def test_http10_closes_by_default(self):
        data = read_all_after(self.srv, b"GET /healthz HTTP/1.0\r\n\r\n")
        rs = parse_responses(data)
        self.assertEqual(len(rs), 1)
        self.assertTrue(rs[0].status == 200 and data.startswith(b"HTTP/1.0 200"))

    def test_half_closed_connection_still_gets_its_reply(self):
        s = self.srv.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        rs = parse_responses(read_all(s, 5))
        s.close()
        self.assertEqual(len(rs), 1)
        self.assertEqual(rs[0].status, 200)

    # --- limits ---------------------------------------------------------
    def test_headers_too_large_431(self):
        big = b"X-Big: " + b"a" * 17000 + b"\r\n"
        r = self.srv.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")[0]
        envelope_error(self, r, 431, "headers_too_large")
        self.assertEqual(r.header("Connection"), "close")

    def test_many_headers_total_over_16k_431(self):
        hdrs = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 200) for i in range(90))
        r = self.srv.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")[0]
        envelope_error(self, r, 431, "headers_too_large")

    def test_uri_too_long_414(self):
        r = self.srv.raw(b"GET /healthz?x=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")[0]
        envelope_error(self, r, 414, "uri_too_long")
        r = self.srv.raw(b"GET /healthz?x=" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")[0]
        envelope_error(self, r, 414, "uri_too_long")
        # just under the limit is fine
        r = self.srv.raw(b"GET /healthz?x=" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0]
        self.assertEqual(r.status, 200)

    def test_body_too_large_413_by_content_length(self):
        r = self.srv.raw(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 5000\r\n\r\n" + b"a" * 5000)[0]
        envelope_error(self, r, 413, "payload_too_large")

    def test_body_too_large_413_chunked(self):
        chunk = b"a" * 3000
        body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk, len(chunk), chunk)
        r = self.srv.raw(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + body)[0]
        envelope_error(self, r, 413, "payload_too_large")

    def test_chunked_body_is_read_and_connection_reused(self):
        s = self.srv.connect()
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        rs = read_responses(s, 2)
        s.close()
        self.assertEqual([r.status for r in rs], [405, 200])

    def test_expect_100_continue(self):
        s = self.srv.connect()
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        s.settimeout(5)
        interim = s.recv(65536)
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
        s.sendall(b"{}")
        rs = read_responses(s, 1)
        s.close()
        self.assertEqual(rs[0].status, 405)

    def test_expect_other_417(self):
        r = self.srv.raw(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: magic\r\n\r\n{}")[0]
        envelope_error(self, r, 417, "expectation_failed")

    def test_length_required_411(self):
        for m in (b"POST", b"PUT", b"PATCH"):
            r = self.srv.raw(m + b" /healthz HTTP/1.1\r\nHost: x\r\n\r\n")[0]
            envelope_error(self, r, 411, "length_required")

    def test_http_version_505(self):
        for v in (b"HTTP/2.0", b"HTTP/3.0", b"HTTP/1.2", b"HTTP/0.9"):
            r = self.srv.raw(b"GET /healthz " + v + b"\r\nHost: x\r\n\r\n")[0]
            envelope_error(self, r, 505, "http_version_not_supported")

    # --- bad input ------------------------------------------------------
    def test_malformed_requests_400_and_server_survives(self):
        cases = [
            b"\x00\x01\x02\xff garbage\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: \x01\x02\r\n\r\n",
            b"GET /healthz HTTP/x.y\r\n\r\n",
        ]
        for c in cases:
            rs = self.srv.raw(c, timeout=5)
            self.assertEqual(len(rs), 1, c)
            envelope_error(self, rs[0], 400, "bad_request")
        self.assertEqual(self.srv.request("GET", "/healthz").status, 200)

    def test_connection_dropped_mid_request_does_not_hurt(self):
        for payload in (b"GET /heal", b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"):
            s = self.srv.connect()
            s.sendall(payload)
            s.close()
        self.assertEqual(self.srv.request("GET", "/healthz").status, 200)

    def test_random_garbage_never_crashes(self):
        import random
        rnd = random.Random(1234)
        for _ in range(40):
            blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300))) + b"\r\n\r\n"
            try:
                self.srv.raw(blob, timeout=3)
            except OSError:
                pass
        self.assertEqual(self.srv.request("GET", "/healthz").status, 200)
        self.assertIsNone(self.srv.proc.poll())

    # --- timeouts -------------------------------------------------------
    def test_header_read_timeout_408_and_close(self):
        s = self.srv.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finish
        t0 = time.time()
        data = read_all(s, 6)
        s.close()
        elapsed = time.time() - t0
        rs = parse_responses(data)
        self.assertEqual(len(rs), 1)
        envelope_error(self, rs[0], 408, "request_timeout")
        self.assertLess(elapsed, 4.5)

    def test_idle_keep_alive_timeout_closes_quietly(self):
        s = self.srv.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        read_responses(s, 1)
        t0 = time.time()
        rest = read_all(s, 8)   # returns when the server closes
        elapsed = time.time() - t0
        s.close()
        self.assertEqual(rest, b"")
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 6)

    def test_busy_connection_outlives_idle_timeout_then_times_out(self):
        # Deadlines are lazy (the timer re-schedules itself when it fires
        # early): a connection in use for longer than idle_timeout (2 s) must
        # stay open, and still close 2 s after its last request.
        s = self.srv.connect()
        t_start = time.time()
        while time.time() - t_start < 3.5:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(read_responses(s, 1)[0].status, 200)
            time.sleep(0.4)
        t0 = time.time()
        rest = read_all(s, 8)
        elapsed = time.time() - t0
        s.close()
        self.assertEqual(rest, b"")
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 6)

    def test_header_timeout_after_keep_alive_requests(self):
        # The header deadline (1 s) is earlier than the idle one already
        # pending (2 s): the timer must be moved forward, not left waiting.
        s = self.srv.connect()
        for _ in range(3):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            read_responses(s, 1)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        t0 = time.time()
        data = read_all(s, 6)
        elapsed = time.time() - t0
        s.close()
        rs = parse_responses(data)
        self.assertEqual(len(rs), 1)
        envelope_error(self, rs[0], 408, "request_timeout")
        self.assertLess(elapsed, 1.8)

    # --- content --------------------------------------------------------
    def test_gzip_for_large_replies_when_accepted(self):
        plain = self.srv.request("GET", "/docs/errors")
        self.assertGreater(len(plain.body), 1024)
        self.assertIsNone(plain.header("Content-Encoding"))
        z = self.srv.request("GET", "/docs/errors", headers={"Accept-Encoding": "gzip, deflate"})
        self.assertEqual(z.header("Content-Encoding"), "gzip")
        self.assertEqual(z.header("Vary"), "Accept-Encoding")
        self.assertEqual(int(z.header("Content-Length")), len(z.body))
        self.assertEqual(gzip.decompress(z.body), plain.body)
        refused = self.srv.request("GET", "/docs/errors", headers={"Accept-Encoding": "gzip;q=0, br"})
        self.assertIsNone(refused.header("Content-Encoding"))
        small = self.srv.request("GET", "/healthz", headers={"Accept-Encoding": "gzip"})
        self.assertIsNone(small.header("Content-Encoding"))

    def test_not_acceptable_406_and_xml(self):
        envelope_error(self, self.srv.request("GET", "/healthz", headers={"Accept": "text/html"}), 406,
                       "not_acceptable")
        x = self.srv.request("GET", "/healthz", headers={"Accept": "application/xml"})
        self.assertEqual(x.status, 200)
        self.assertEqual(x.header("Content-Type"), "application/xml; charset=utf-8")
        import xml.etree.ElementTree as ET
        root = ET.fromstring(x.body)
        self.assertEqual(root.tag, "response")
        self.assertEqual(root.find("data/status").text, "ok")
        j = self.srv.request("GET", "/healthz.json", headers={"Accept": "application/xml"})
        self.assertEqual(j.header("Content-Type"), "application/json; charset=utf-8")

    def test_unknown_envelope_400_in_default_profile(self):
        for r in (self.srv.request("GET", "/healthz?envelope=nope"),
                  self.srv.request("GET", "/healthz", headers={"X-Envelope": "nope"})):
            envelope_error(self, r, 400, "unknown_envelope")
        ok = self.srv.request("GET", "/healthz?envelope=standard", headers={"X-Envelope": "nope"})
        self.assertEqual(ok.status, 200)

    def test_access_log_lines(self):
        self.srv.request("GET", "/healthz?access_token=secret123&x=1", headers={"X-Request-Id": "log-check-1"})
        deadline = time.time() + 5
        entry = None
        while time.time() < deadline and entry is None:
            for e in self.srv.access_log():
                if e.get("requestId") == "log-check-1":
                    entry = e
            time.sleep(0.05)
        self.assertIsNotNone(entry)
        self.assertEqual(set(entry), {"time", "requestId", "method", "path", "status", "bytes", "duration"})
        self.assertEqual(entry["method"], "GET")
        self.assertEqual(entry["status"], 200)
        self.assertIsInstance(entry["status"], int)
        self.assertNotIn("secret123", json.dumps(entry))
        self.assertEqual(entry["path"], "/healthz?access_token=REDACTED&x=1")
        self.assertGreater(entry["bytes"], 0)
        self.assertGreaterEqual(entry["duration"], 0)

    def test_docs_pages(self):
        page = self.srv.request("GET", "/docs")
        self.assertEqual(page.status, 200)
        self.assertTrue(page.header("Content-Type").startswith("text/html"))
        self.assertIn(b"/api/v2/things", page.body)
        errors = self.srv.request("GET", "/docs/errors").body.decode()
        reasons = ("invalid_json invalid_parameter unknown_parameter unknown_envelope token_missing token_expired "
                   "invalid_credentials forbidden field_required field_type field_rule unknown_field "
                   "read_only_field unique_violation batch_invalid empty_batch idempotency_key_reused not_found "
                   "method_not_allowed not_acceptable request_timeout precondition_failed payload_too_large "
                   "uri_too_long unsupported_media_type headers_too_large rate_limited overloaded maintenance "
                   "storage_unavailable not_implemented length_required expectation_failed "
                   "http_version_not_supported bad_request internal").split()
        self.assertEqual(len(reasons), 36)
        for reason in reasons:
            self.assertIn(f'id="{reason}"', errors)

    def test_admin_ui_and_docs_assets_are_served_without_a_token(self):
        page = self.srv.request("GET", "/_/", headers={"Authorization": None})
        self.assertEqual(page.status, 200)
        self.assertEqual(page.header("Content-Type"), "text/html; charset=utf-8")
        self.assertIn(b'<meta name="restd-base" content="/api/v2">', page.body)
        self.assertIn(b'src="/_/assets/admin.js"', page.body)
        self.assertEqual(self.srv.request("GET", "/_").body, page.body)
        for path, kind in (("/_/assets/admin.js", "text/javascript; charset=utf-8"),
                           ("/_/assets/admin.css", "text/css; charset=utf-8"),
                           ("/docs/assets/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
                           ("/docs/assets/favicon-32x32.png", "image/png")):
            r = self.srv.request("GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.header("Content-Type"), kind, path)
            self.assertEqual(r.header("Cache-Control"), "public, max-age=86400", path)
            tag = r.header("ETag")
            self.assertRegex(tag, r'^"[0-9a-f]{16}"$')
            self.assertEqual(self.srv.request("GET", path, headers={"If-None-Match": tag}).status, 304, path)
        self.assertEqual(self.srv.request("GET", "/_/assets/nope.js").status, 404)
        self.assertEqual(self.srv.request("POST", "/_/", body="x", headers={"Content-Type": "text/plain"}).status, 405)

    def test_index_lists_collections(self):
        r = self.srv.request("GET", "/api/v2/")
        self.assertEqual(r.status, 200)
        names = [c["name"] for c in r.json()["data"]["collections"]]
        self.assertEqual(names, ["things"])
        self.assertEqual(self.srv.request("GET", "/api/v2").status, 200)


def read_all_after(srv, data):
    s = srv.connect()
    s.sendall(data)
    out = read_all(s, 5)
    s.close()
    return out


class ReadinessFollowsStorage(unittest.TestCase):
    @sqlite_only
    def test_readyz_503_when_database_file_vanishes(self):
        with RestdServer(CONFIG) as srv:
            self.assertEqual(srv.request("GET", "/readyz").status, 200)
            os.rename(srv.db_path, srv.db_path + ".moved")
            r = srv.request("GET", "/readyz")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["data"]["storage"], "unreachable")
            self.assertEqual(srv.request("GET", "/healthz").status, 200)
            os.rename(srv.db_path + ".moved", srv.db_path)
            self.assertEqual(srv.request("GET", "/readyz").status, 200)


class Overload(unittest.TestCase):
    def test_requests_beyond_max_in_flight_get_503(self):
        cfg = CONFIG.replace("threads = 2", "threads = 2\nmax_in_flight = 1")
        with RestdServer(cfg) as srv:
            hold = srv.connect()
            hold.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 10\r\n\r\n{")   # in flight until the body completes
            time.sleep(0.2)
            r = srv.raw(b"GET /api/v2/ HTTP/1.1\r\nHost: x\r\n\r\n")[0]
            envelope_error(self, r, 503, "overloaded")
            self.assertEqual(r.header("Retry-After"), "1")
            # Liveness is never shed.
            self.assertEqual(srv.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0].status, 200)
            hold.sendall(b'"a":1234}')
            self.assertEqual(read_responses(hold, 1)[0].status, 405)
            hold.close()
            time.sleep(0.1)
            self.assertEqual(srv.request("GET", "/healthz").status, 200)


class Drain(unittest.TestCase):
    def test_sigterm_finishes_request_in_flight_then_exits_0(self):
        with RestdServer(CONFIG.replace('idle_timeout = "2s"', 'idle_timeout = "20s"')) as srv:
            idle = srv.connect()   # an idle keep-alive connection must not hold up the exit
            s = srv.connect()
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 12\r\n\r\n{\"a\":")   # body still arriving
            time.sleep(0.2)
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertIsNone(srv.proc.poll(), "exited with a request in flight")
            # no new connections are accepted while draining
            with self.assertRaises(OSError):
                c = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if not c.recv(10):
                    raise OSError("closed")
            s.sendall(b'"bcdefg"}')
            rs = read_responses(s, 1)
            self.assertEqual(rs[0].status, 405)
            self.assertEqual(rs[0].header("Connection"), "close")
            s.close()
            idle.close()
            self.assertEqual(srv.proc.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
