"""Rate limits, maintenance, CORS, /metrics and HTTP caching (SPEC §7, §10),
over real sockets, on the engine the run selects."""
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, RestdServer, run_cli  # noqa: E402

API = "/api/v2"

COLLECTIONS = """
[collections.things]
anonymous_read = true
[collections.things.fields]
name = { type = "string", required = true }
note = { type = "string" }
"""


def config(extra):
    return f"""
[server]
listen = "127.0.0.1:0"
threads = 2
access_log = "off"
{extra}
{COLLECTIONS}
"""


def error_of(testcase, r, status, reason):
    testcase.assertEqual(r.status, status, r)
    e = r.json()["error"]
    testcase.assertEqual(e["reason"], reason, r)
    return e


class RateLimits(unittest.TestCase):
    """A bucket of requests_per_minute per user, else per client address."""

    def setUp(self):
        self.srv = RestdServer(config("[rate_limit]\nrequests_per_minute = 10"))
        self.srv.start()

    def tearDown(self):
        self.srv.stop()
        self.srv.cleanup()

    def token(self, name="ann"):
        key = self.srv.api_key("k-" + name)
        self.srv.add_user(name, "writer", "pw-" + name)
        return self.srv.login(name, "pw-" + name, key)  # spends one of the address's tokens

    def test_headers_meta_and_429_with_retry_after(self):
        seen = []
        for i in range(10):
            r = self.srv.request("GET", API + "/things")
            self.assertEqual(r.status, 200, r)
            seen.append(int(r.header("X-RateLimit-Remaining")))
            self.assertEqual(r.header("X-RateLimit-Limit"), "10")
            self.assertEqual(r.header("RateLimit-Policy"), '"default";q=10;w=60')
            reset = int(r.header("X-RateLimit-Reset"))
            self.assertEqual(r.header("RateLimit"), f'"default";r={seen[-1]};t={reset}')
            self.assertTrue(0 < reset <= 60, reset)
            meta = r.json()["meta"]["rateLimit"]
            self.assertEqual(meta, {"limit": 10, "remaining": seen[-1], "reset": reset})
        # Continuous refill: at most one token came back while we asked.
        self.assertEqual(seen[0], 9)
        self.assertLessEqual(seen[-1], 1)
        while int(r.header("X-RateLimit-Remaining")) > 0:
            r = self.srv.request("GET", API + "/things")
        r = self.srv.request("GET", API + "/things")
        e = error_of(self, r, 429, "rate_limited")
        retry = int(r.header("Retry-After"))
        self.assertTrue(1 <= retry <= 6, retry)  # one token per 6 s
        self.assertEqual(r.json()["meta"]["rateLimit"]["remaining"], 0)
        self.assertIn("try again", e["message"])
        # Not counted: liveness, readiness, metrics.
        for path in ("/healthz", "/readyz", "/metrics"):
            r = self.srv.request("GET", path)
            self.assertEqual(r.status, 200, (path, r))
            self.assertIsNone(r.header("X-RateLimit-Limit"), path)
        # The bucket refills: after Retry-After one more request passes.
        time.sleep(retry + 0.2)
        self.assertEqual(self.srv.request("GET", API + "/things").status, 200)
        self.assertEqual(self.srv.request("GET", API + "/things").status, 429)

    def test_a_user_has_a_bucket_of_its_own_and_bad_tokens_count_by_address(self):
        token = self.token()
        auth = {"Authorization": "Bearer " + token}
        # The address spends its tokens (anonymous reads, bad tokens) ...
        for _ in range(12):
            self.srv.request("GET", API + "/things")
        r = self.srv.request("GET", API + "/things", headers={"Authorization": "Bearer " + "0" * 40})
        error_of(self, r, 429, "rate_limited")  # guessing tokens meets the limit
        r = self.srv.request("POST", API + "/authenticate", body="userName=ann&apiKey=x&password=y",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        error_of(self, r, 429, "rate_limited")  # /authenticate counts per address
        # ... and the user still has all of theirs.
        r = self.srv.request("GET", API + "/things", headers=auth)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("X-RateLimit-Remaining"), "9")
        # A missing token is answered 401 before any rate limit (SPEC §10 order).
        r = self.srv.request("POST", API + "/things", body="{}", headers={"Content-Type": "application/json"})
        error_of(self, r, 401, "token_missing")

    def test_off_when_zero(self):
        with RestdServer(config("[rate_limit]\nrequests_per_minute = 0")) as srv:
            for _ in range(30):
                r = srv.request("GET", API + "/things")
                self.assertEqual(r.status, 200)
            self.assertIsNone(r.header("X-RateLimit-Limit"))
            self.assertNotIn("rateLimit", r.json()["meta"])


class Maintenance(unittest.TestCase):
    def test_on_and_off_reach_a_running_server_within_two_seconds(self):
        with RestdServer(config("")) as srv:
            code, out, err = srv.cli("maintenance", "on", "--retry-after", "30")
            self.assertEqual(code, 0, err)
            deadline = time.time() + 2.0
            while time.time() < deadline and srv.request("GET", API + "/things").status != 503:
                time.sleep(0.05)
            for method, path in (("GET", API + "/things"), ("GET", API + "/"), ("POST", API + "/things"),
                                 ("GET", API + "/nope"), ("GET", API + "/things/x.json")):
                r = srv.request(method, path, body="{}" if method == "POST" else None,
                                headers={"Content-Type": "application/json"} if method == "POST" else None)
                error_of(self, r, 503, "maintenance")
                self.assertEqual(r.header("Retry-After"), "30")
            self.assertEqual(srv.request("GET", "/healthz").status, 200)
            r = srv.request("GET", "/readyz")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["data"]["status"], "maintenance")
            self.assertEqual(srv.request("GET", "/docs").status, 200)
            # A node that starts while maintenance is on answers 503 at once.
            with RestdServer(config(""), storage_url=srv.storage_url) as other:
                error_of(self, other.request("GET", API + "/things"), 503, "maintenance")
            code, out, err = srv.cli("maintenance", "off")
            self.assertEqual(code, 0, err)
            deadline = time.time() + 2.0
            while time.time() < deadline and srv.request("GET", API + "/things").status == 503:
                time.sleep(0.05)
            self.assertEqual(srv.request("GET", API + "/things").status, 200)
            self.assertEqual(srv.request("GET", "/readyz").status, 200)

    def test_default_retry_after_is_60(self):
        with RestdServer(config("")) as srv:
            self.assertEqual(srv.cli("maintenance", "on")[0], 0)
            deadline = time.time() + 2.0  # what operations.md promises; the flag is read twice a second
            while time.time() < deadline and srv.request("GET", API + "/things").status != 503:
                time.sleep(0.05)
            r = srv.request("GET", API + "/things")
            error_of(self, r, 503, "maintenance")
            self.assertEqual(r.header("Retry-After"), "60")


class Cors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = RestdServer(config('[cors]\nallow_origins = ["https://app.example", "http://localhost:9"]'))
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def test_allowed_origin_is_echoed_with_vary_and_exposed_headers(self):
        r = self.srv.request("GET", API + "/things", headers={"Origin": "https://app.example"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://app.example")
        self.assertIn("Origin", [v.strip() for v in r.header("Vary").split(",")])
        exposed = [v.strip() for v in r.header("Access-Control-Expose-Headers").split(",")]
        for h in ("ETag", "Link", "X-Total-Count", "X-Request-Id", "X-RateLimit-Remaining", "RateLimit"):
            self.assertIn(h, exposed)

    def test_other_origins_get_no_cors_headers(self):
        for origin in ("https://evil.example", "null", "https://app.example.evil", "h\u00e9://x y", "*",
                       "https://app.example, https://evil.example", "x" * 4000):
            r = self.srv.request("GET", API + "/things", headers={"Origin": origin})
            self.assertEqual(r.status, 200, origin)
            self.assertFalse([k for k, _ in r.headers if k.lower().startswith("access-control-")], origin)
            self.assertIn("Origin", r.header("Vary"))  # the reply still depends on it
        # A control character is not a field value at all: a clean 400, before any CORS.
        r = self.srv.request("GET", API + "/things", headers={"Origin": "https://app.example\x01"})
        error_of(self, r, 400, "bad_request")

    def test_preflight(self):
        r = self.srv.request("OPTIONS", API + "/things/abc", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, if-match"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://app.example")
        methods = [m.strip() for m in r.header("Access-Control-Allow-Methods").split(",")]
        self.assertEqual(set(methods), {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
        allowed = [h.strip().lower() for h in r.header("Access-Control-Allow-Headers").split(",")]
        for h in ("authorization", "content-type", "idempotency-key", "x-envelope", "if-match"):
            self.assertIn(h, allowed)
        self.assertIsNotNone(r.header("Access-Control-Max-Age"))
        # Not allowed: 204 and no CORS headers. Malformed request headers are ignored.
        for headers in ({"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
                        {"Origin": "https://app.example", "Access-Control-Request-Method": "N\u00d6PE ??"},
                        {"Origin": "", "Access-Control-Request-Method": "GET"}):
            r = self.srv.request("OPTIONS", API + "/things", headers=headers)
            self.assertEqual(r.status, 204, headers)
            if headers["Origin"] != "https://app.example":
                self.assertFalse([k for k, _ in r.headers if k.lower().startswith("access-control-")])
        # Preflights need no token and spend no rate-limit token.
        self.assertIsNone(r.header("X-RateLimit-Limit"))

    def test_star_allows_any_origin_with_a_star(self):
        with RestdServer(config('[cors]\nallow_origins = ["*"]')) as srv:
            r = srv.request("GET", API + "/things", headers={"Origin": "https://anyone.example"})
            self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
            r = srv.request("GET", API + "/things")
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        with RestdServer(config("")) as srv:  # no [cors]: no Origin in Vary
            r = srv.request("GET", API + "/things", headers={"Origin": "https://a.example"})
            self.assertNotIn("Origin", r.header("Vary"))
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))


class Caching(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = RestdServer(config(""))
        cls.srv.start()
        cls.token = cls.srv.as_admin()
        r = cls.srv.request("POST", API + "/things", body=json.dumps({"name": "small"}),
                            headers={"Content-Type": "application/json"})
        cls.small = r.json()["data"]
        r = cls.srv.request("POST", API + "/things", body=json.dumps({"name": "large", "note": "x" * 3000}),
                            headers={"Content-Type": "application/json"})
        cls.large = r.json()["data"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def get(self, path, **headers):
        return self.srv.request("GET", path, headers=headers)

    def test_each_representation_has_its_own_etag(self):
        path = f"{API}/things/{self.large['id']}"
        tags = {
            "json": self.get(path).header("ETag"),
            "xml": self.get(path, Accept="application/xml").header("ETag"),
            "plain": self.get(path, **{"X-Envelope": "plain"}).header("ETag"),
            "gzip": self.get(path, **{"Accept-Encoding": "gzip"}).header("ETag"),
        }
        self.assertEqual(len(set(tags.values())), 4, tags)
        for t in tags.values():
            self.assertRegex(t, r'^"[^"]+"$')  # strong
        r = self.get(path, **{"Accept-Encoding": "gzip"})
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(json.loads(gzip.decompress(r.body))["data"]["id"], self.large["id"])
        # If-None-Match compares with the representation being selected.
        r = self.get(path, **{"Accept-Encoding": "gzip", "If-None-Match": tags["gzip"]})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.header("ETag"), tags["gzip"])
        self.assertEqual(r.body, b"")
        self.assertEqual(self.get(path, **{"Accept-Encoding": "gzip", "If-None-Match": tags["json"]}).status, 200)
        self.assertEqual(self.get(path, **{"If-None-Match": tags["gzip"]}).status, 200)
        self.assertEqual(self.get(path, **{"If-None-Match": tags["json"]}).status, 304)
        self.assertEqual(self.get(path, **{"If-None-Match": "W/" + tags["json"]}).status, 304)  # weak comparison
        self.assertEqual(self.get(path, **{"If-None-Match": f'"zzz", {tags["json"]}'}).status, 304)
        self.assertEqual(self.get(path, **{"If-None-Match": "*"}).status, 304)
        xml = self.get(path, **{"Accept": "application/xml", "If-None-Match": tags["xml"]})
        self.assertEqual(xml.status, 304)
        self.assertEqual(self.get(path, **{"Accept": "application/xml", "If-None-Match": tags["json"]}).status, 200)

    def test_if_match_takes_any_representation_of_the_current_version(self):
        r = self.srv.request("POST", API + "/things", body=json.dumps({"name": "m"}),
                             headers={"Content-Type": "application/json"})
        rec = r.json()["data"]
        path = f"{API}/things/{rec['id']}"
        xml_tag = self.get(path, Accept="application/xml").header("ETag")
        r = self.srv.request("PATCH", path, body='{"note": "a"}',
                             headers={"Content-Type": "application/json", "If-Match": xml_tag})
        self.assertEqual(r.status, 200, r)
        # The old version's tags no longer match; weak tags never do.
        r = self.srv.request("PATCH", path, body='{"note": "b"}',
                             headers={"Content-Type": "application/json", "If-Match": xml_tag})
        error_of(self, r, 412, "precondition_failed")
        new_tag = self.get(path, **{"X-Envelope": "problem"}).header("ETag")
        r = self.srv.request("PATCH", path, body='{"note": "b"}',
                             headers={"Content-Type": "application/json", "If-Match": "W/" + new_tag})
        error_of(self, r, 412, "precondition_failed")
        for bad in ('"', '""', "garbage", ",,,", '"' + rec["id"] + '.2x"'):
            r = self.srv.request("PATCH", path, body='{"note": "b"}',
                                 headers={"Content-Type": "application/json", "If-Match": bad})
            error_of(self, r, 412, "precondition_failed")
        # The gzip representation's tag names the current version as well.
        self.srv.request("PATCH", path, body=json.dumps({"note": "y" * 2000}), headers={"Content-Type": "application/json"})
        gzip_tag = self.get(path, **{"Accept-Encoding": "gzip"}).header("ETag")
        self.assertTrue(gzip_tag.endswith(':gzip"'), gzip_tag)
        r = self.srv.request("DELETE", path, headers={"If-Match": gzip_tag})
        self.assertEqual(r.status, 200, r)

    def test_vary_and_cache_control_on_every_reply(self):
        small = f"{API}/things/{self.small['id']}"

        def once(reply, name):  # each of these headers is sent exactly once
            values = [v for k, v in reply.headers if k.lower() == name.lower()]
            self.assertEqual(len(values), 1, (name, reply.headers))
            return values[0]

        r = self.get(small)
        self.assertEqual(once(r, "Vary"), "Accept, Accept-Encoding, X-Envelope")
        self.assertEqual(once(r, "Cache-Control"), "private, no-cache")
        r = self.get(small, **{"If-None-Match": r.header("ETag")})
        self.assertEqual(r.status, 304)
        self.assertEqual(once(r, "Vary"), "Accept, Accept-Encoding, X-Envelope")
        self.assertEqual(once(r, "Cache-Control"), "private, no-cache")
        self.assertIsNone(r.header("Content-Type"))
        anon = self.srv.request("GET", small, headers={"Authorization": ""})
        self.assertEqual(once(anon, "Cache-Control"), "private, no-cache")  # an Authorization header was sent
        self.srv.default_headers, saved = {}, self.srv.default_headers
        try:
            anon = self.srv.request("GET", small)
            self.assertEqual(anon.status, 200)
            self.assertEqual(once(anon, "Cache-Control"), "no-cache")
            for path in ("/healthz", "/readyz"):
                self.assertEqual(once(self.srv.request("GET", path), "Cache-Control"), "no-store")
            r = self.srv.request("POST", API + "/authenticate", body="userName=root&apiKey=x&password=y",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(once(r, "Cache-Control"), "no-store")
            self.assertEqual(once(self.srv.request("GET", "/docs"), "Vary"), "Accept-Encoding")
        finally:
            self.srv.default_headers = saved
        big = self.get(API + "/things?per_page=100", **{"Accept-Encoding": "gzip"})
        self.assertEqual(big.header("Content-Encoding"), "gzip")
        self.assertEqual(once(big, "Vary"), "Accept, Accept-Encoding, X-Envelope")
        # Lists: 304 with the list's tag; a change changes it.
        lst = self.get(API + "/things?sort=name")
        tag = lst.header("ETag")
        self.assertEqual(self.get(API + "/things?sort=name", **{"If-None-Match": tag}).status, 304)
        self.assertNotEqual(self.get(API + "/things?sort=name", Accept="application/xml").header("ETag"), tag)
        # If-Modified-Since when there is no If-None-Match.
        lm = self.get(small).header("Last-Modified")
        self.assertEqual(self.get(small, **{"If-Modified-Since": lm}).status, 304)
        self.assertEqual(self.get(small, **{"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}).status, 200)
        self.assertEqual(self.get(small, **{"If-Modified-Since": "not a date"}).status, 200)
        self.assertEqual(self.get(small, **{"If-Modified-Since": lm, "If-None-Match": '"other"'}).status, 200)

    def test_link_targets_are_valid_uri_references(self):
        for i in range(3):
            self.srv.request("POST", API + "/things", body=json.dumps({"name": f"lk {i}"}),
                             headers={"Content-Type": "application/json"})
        r = self.get(API + "/things?per_page=1&name[like]=lk%20*")
        link = r.header("Link")
        self.assertIn("name%5Blike%5D=lk%20%2A", link.replace("*", "%2A"))
        for target in re.findall(r"<([^>]*)>", link):
            self.assertNotRegex(target, r"[\[\] ]", target)

    def test_www_authenticate_realm(self):
        saved, self.srv.default_headers = self.srv.default_headers, {}
        try:
            r = self.srv.request("POST", API + "/things", body="{}", headers={"Content-Type": "application/json"})
            self.assertEqual(r.header("WWW-Authenticate"), 'Bearer realm="restd"')
            r = self.srv.request("GET", API + "/me")
            self.assertEqual(r.status, 200)
            r = self.srv.request("POST", API + "/things", body="{}",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer nope"})
            self.assertEqual(r.header("WWW-Authenticate"), 'Bearer realm="restd", error="invalid_token"')
        finally:
            self.srv.default_headers = saved

    def test_merge_patch_and_accept_patch(self):
        path = f"{API}/things/{self.small['id']}"
        r = self.srv.request("PATCH", path, body='{"note": "merged"}',
                             headers={"Content-Type": "application/merge-patch+json"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["note"], "merged")
        r = self.srv.request("PATCH", path, body='{"note": null}',
                             headers={"Content-Type": "application/merge-patch+json; charset=utf-8"})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json()["data"]["note"])
        r = self.srv.request("PATCH", path, body="<x/>", headers={"Content-Type": "application/xml"})
        error_of(self, r, 415, "unsupported_media_type")
        self.assertIn("application/merge-patch+json", r.header("Accept-Patch"))
        r = self.srv.request("OPTIONS", path)
        self.assertEqual(r.status, 204)
        self.assertIn("application/merge-patch+json", r.header("Accept-Patch"))
        # merge-patch is for PATCH only.
        r = self.srv.request("POST", API + "/things", body='{"name": "x"}',
                             headers={"Content-Type": "application/merge-patch+json"})
        error_of(self, r, 415, "unsupported_media_type")
        self.assertIsNone(r.header("Accept-Patch"))


class IdempotentFailures(unittest.TestCase):
    def test_a_failed_first_answer_is_replayed_not_run_again(self):
        with RestdServer(config("")) as srv:
            srv.as_admin()
            j = {"Content-Type": "application/json"}
            batch = json.dumps([{"name": "ok"}, {"note": "no name"}])
            first = srv.request("POST", API + "/things", body=batch, headers=dict(j, **{"Idempotency-Key": "b1"}))
            error_of(self, first, 422, "batch_invalid")
            again = srv.request("POST", API + "/things", body=batch, headers=dict(j, **{"Idempotency-Key": "b1"}))
            self.assertEqual(again.status, 422)
            self.assertEqual(again.header("Idempotent-Replayed"), "true")
            self.assertEqual(again.body, first.body)
            # A body refused before the write (422 of one record) is kept too.
            one = json.dumps({"note": "no name"})
            first = srv.request("POST", API + "/things", body=one, headers=dict(j, **{"Idempotency-Key": "o1"}))
            self.assertEqual(first.status, 422)
            self.assertIsNone(first.header("Idempotent-Replayed"))
            again = srv.request("POST", API + "/things", body=one, headers=dict(j, **{"Idempotency-Key": "o1"}))
            self.assertEqual(again.status, 422)
            self.assertEqual(again.header("Idempotent-Replayed"), "true")
            # The same key with another body is refused; nothing was written meanwhile.
            r = srv.request("POST", API + "/things", body=json.dumps({"name": "x"}),
                            headers=dict(j, **{"Idempotency-Key": "o1"}))
            error_of(self, r, 422, "idempotency_key_reused")
            self.assertEqual(srv.request("GET", API + "/things").json()["pagination"]["recordsCount"], 0)
            # Replays carry current exchange headers, not stored ones.
            self.assertIsNotNone(again.header("Cache-Control"))
            self.assertEqual(len([k for k, _ in again.headers if k.lower() == "vary"]), 1)


class BadInput(unittest.TestCase):
    """Malformed conditional, CORS and idempotency headers: a clean 4xx or
    ignored, never a 5xx, and nothing changes."""

    def test_malformed_headers(self):
        with RestdServer(config('[cors]\nallow_origins = ["https://a.example"]')) as srv:
            srv.as_admin()
            j = {"Content-Type": "application/json"}
            rec = srv.request("POST", API + "/things", body='{"name": "x"}', headers=j).json()["data"]
            path = f"{API}/things/{rec['id']}"
            for h in ({"If-None-Match": '"'}, {"If-None-Match": ",,, ,"}, {"If-None-Match": "W/"},
                      {"If-None-Match": "x" * 8000}, {"If-Modified-Since": "Mon, 99 Foo 99999 99:99:99 GMT"},
                      {"If-Modified-Since": ""}, {"Origin": "https://a.example", "Access-Control-Request-Method": ""},
                      {"Access-Control-Request-Headers": "\u00ff" * 100}, {"Origin": "x" * 8000}):
                r = srv.request("GET", path, headers=h)
                self.assertEqual(r.status, 200, (h, r))
            for h in ({"If-Match": ""}, {"If-Match": "W/"}, {"If-Match": '"' * 50}):
                r = srv.request("PUT", path, body='{"name": "y"}', headers=dict(j, **h))
                error_of(self, r, 412, "precondition_failed")
            for key in ("", " ", "\u00e9t\u00e9", "k" * 255):
                r = srv.request("POST", API + "/things", body='{"name": "k"}', headers=dict(j, **{"Idempotency-Key": key}))
                self.assertEqual(r.status, 201, (key, r))
            r = srv.request("POST", API + "/things", body='{"name": "k"}', headers=dict(j, **{"Idempotency-Key": "k" * 256}))
            error_of(self, r, 400, "invalid_parameter")
            self.assertEqual(srv.request("GET", path).json()["data"]["name"], "x")  # the 412s changed nothing


class MetricsEndpoint(unittest.TestCase):
    def test_prometheus_text_that_promtool_accepts(self):
        with RestdServer(config("[rate_limit]\nrequests_per_minute = 3")) as srv:
            for _ in range(5):
                srv.request("GET", API + "/things")
            srv.request("GET", API + "/nope")
            r = srv.request("GET", "/metrics")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
            self.assertEqual(r.header("Cache-Control"), "no-store")
            text = r.body.decode()
            check = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"], input=r.body,
                                   capture_output=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            self.assertEqual(check.stdout.strip() + check.stderr.strip(), b"")

            def value(line_prefix):
                for line in text.splitlines():
                    if line.startswith(line_prefix):
                        return float(line.rsplit(" ", 1)[1])
                return None
            self.assertEqual(value('restd_http_requests_total{route="/api/v2/things",method="GET",code="200"}'), 3)
            self.assertEqual(value('restd_http_requests_total{route="/api/v2/things",method="GET",code="429"}'), 2)
            self.assertEqual(value('restd_http_requests_total{route="none",method="GET",code="404"}'), 1)
            self.assertEqual(value("restd_rate_limited_total"), 2)
            self.assertEqual(value('restd_http_request_duration_seconds_count{route="/api/v2/things"}'), 5)
            self.assertEqual(value('restd_http_request_duration_seconds_bucket{route="/api/v2/things",le="+Inf"}'), 5)
            self.assertGreater(value("restd_http_response_bytes_total"), 0)
            self.assertGreaterEqual(value("restd_http_requests_in_flight"), 1)  # this scrape
            self.assertIsNotNone(value("restd_write_queue_depth"))
            self.assertIsNotNone(value('restd_commit_group_size_bucket{le="1"}'))
            self.assertEqual(value("restd_maintenance"), 0)
            if os.environ.get("RESTD_TEST_ENGINE") == "postgres":
                self.assertGreater(value("restd_storage_pool_size"), 0)
                self.assertIsNotNone(value("restd_storage_pool_in_use"))

    def test_writes_show_in_commit_groups_and_metrics_can_be_off(self):
        with RestdServer(config("")) as srv:
            srv.as_admin()
            for i in range(4):
                srv.request("POST", API + "/things", body=json.dumps({"name": f"n{i}"}),
                            headers={"Content-Type": "application/json"})
            text = srv.request("GET", "/metrics").body.decode()
            # Writes answer from the writer thread: still counted under their route.
            self.assertIn('restd_http_requests_total{route="/api/v2/things",method="POST",code="201"} 4', text)
            count = [l for l in text.splitlines() if l.startswith("restd_commit_group_size_count")]
            self.assertGreaterEqual(float(count[0].split()[1]), 4)  # the 4 writes (and the CLI's own are elsewhere)
        with RestdServer(config("metrics = false")) as srv:
            self.assertEqual(srv.request("GET", "/metrics").status, 404)


class CommandLine(unittest.TestCase):
    def test_no_command_prints_usage_and_errors_are_one_line(self):
        p = subprocess.run([BIN], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("serve", p.stdout)
        self.assertIn("maintenance", p.stdout)
        for args in (["bogus"], ["maintenance"], ["user", "add"], ["maintenance", "on", "--retry-after", "x"]):
            code, out, err = run_cli(*args)
            self.assertNotEqual(code, 0, args)
            self.assertEqual(len(err.strip().splitlines()), 1, (args, err))
            self.assertTrue(err.startswith("restd: "), err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
