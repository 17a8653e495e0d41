"""The browser side: CORS and the change feed from a real browser.

CORS: headless Chromium (Debian's chromium, driven by
playwright-core from npm, tests/browser/) on one origin fetching restd on
another, with a preflighted write, a merge-patch with If-Match, a list whose
headers the page must be able to read, and an origin that is not allowed.
The change feed: an EventSource that receives events, loses the server,
and resumes with Last-Event-ID when it is back, missing nothing."""
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import RestdServer, free_port  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BROWSER_DIR = os.path.join(ROOT, "tests", "browser")


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>a client app</title><p>app"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_page():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


class BrowserCors(unittest.TestCase):
    def test_cross_origin_fetches_from_chromium(self):
        allowed, denied = serve_page(), serve_page()
        allowed_origin = f"http://127.0.0.1:{allowed.server_address[1]}"
        config = f"""
[server]
listen = "127.0.0.1:0"
threads = 2
access_log = "off"

[rate_limit]
requests_per_minute = 100

[cors]
allow_origins = ["{allowed_origin}"]

[collections.things.fields]
name = {{ type = "string", required = true }}
"""
        try:
            with RestdServer(config) as srv:
                token = srv.as_admin()
                args = {"api": f"http://127.0.0.1:{srv.port}/api/v2", "allowedPage": allowed_origin + "/",
                        "deniedPage": f"http://127.0.0.1:{denied.server_address[1]}/", "token": token}
                p = subprocess.run(["node", os.path.join(BROWSER_DIR, "cors.mjs"), json.dumps(args)],
                                   capture_output=True, text=True, timeout=120, cwd=BROWSER_DIR)
                self.assertEqual(p.returncode, 0, p.stderr)
                seen = json.loads(p.stdout)
        finally:
            allowed.shutdown()
            denied.shutdown()
        a = seen["allowed"]
        self.assertEqual(a["create"]["status"], 201, a)
        self.assertTrue(a["create"]["location"].startswith("/api/v2/things/"), a)
        self.assertRegex(a["create"]["etag"], r'^"thing_[0-9a-z]+\.1:json:standard"$')
        self.assertTrue(a["create"]["requestId"])
        self.assertEqual(a["patch"]["status"], 200, a)
        self.assertEqual(a["patch"]["body"]["data"]["name"], "patched")
        self.assertEqual(a["list"]["status"], 200)
        self.assertTrue(a["list"]["etag"])
        self.assertEqual(a["list"]["total"], "1")
        self.assertIn('rel="first"', a["list"]["link"])
        self.assertIsNotNone(a["list"]["remaining"])
        self.assertTrue(a["list"]["rateLimit"].startswith('"default";r='))
        self.assertEqual(a["stale"]["status"], 412)
        self.assertEqual(a["stale"]["body"]["error"]["reason"], "precondition_failed")
        # The origin not in allow_origins: the browser refuses to hand over the reply.
        self.assertIn("TypeError", seen["denied"].get("error", ""), seen["denied"])


class BrowserEventSource(unittest.TestCase):
    def test_eventsource_receives_events_and_resumes_after_a_restart(self):
        page = serve_page()
        origin = f"http://127.0.0.1:{page.server_address[1]}"
        port = free_port()
        config = f"""
[server]
listen = "127.0.0.1:{port}"
threads = 2
access_log = "off"

[cors]
allow_origins = ["{origin}"]

[collections.things]
anonymous_read = true
[collections.things.fields]
name = {{ type = "string", required = true }}
"""
        srv = RestdServer(config)
        srv.start()
        node = None
        try:
            token = srv.as_admin()
            feed = f"http://127.0.0.1:{port}/api/v2/things/events?access_token={token}"
            node = subprocess.Popen(["node", os.path.join(BROWSER_DIR, "events.mjs"),
                                     json.dumps({"page": origin + "/", "feed": feed, "expect": 5})],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=BROWSER_DIR)
            self.assertEqual(json.loads(node.stdout.readline()), {"ready": True})
            time.sleep(1.0)  # the EventSource is connected
            post = lambda name: srv.request("POST", "/api/v2/things", body=json.dumps({"name": name}),
                                            headers={"Content-Type": "application/json"})
            for name in ("one", "two"):
                self.assertEqual(post(name).status, 201)
            time.sleep(0.5)
            # The server goes away (streams end cleanly) and comes back on the
            # same port and database; writes meanwhile are in the log.
            srv.stop()
            writer = RestdServer(config.replace(f"127.0.0.1:{port}", "127.0.0.1:0"), storage_url=srv.storage_url)
            writer.start()
            writer.default_headers = dict(srv.default_headers)
            for name in ("three", "four"):
                r = writer.request("POST", "/api/v2/things", body=json.dumps({"name": name}),
                                   headers={"Content-Type": "application/json"})
                self.assertEqual(r.status, 201)
            writer.stop()
            srv.start()
            self.assertEqual(srv.port, port)
            time.sleep(2.5)  # retry: 2000 — the browser reconnects with Last-Event-ID
            self.assertEqual(post("five").status, 201)
            out, err = node.communicate(timeout=60)
            self.assertEqual(node.returncode, 0, err)
            seen = json.loads(out.strip().splitlines()[-1])
        finally:
            if node and node.poll() is None:
                node.kill()
            srv.stop()
            srv.cleanup()
            page.shutdown()
        names = [e["data"]["name"] for e in seen["seen"]]
        self.assertEqual(names, ["one", "two", "three", "four", "five"], seen)
        self.assertEqual([e["kind"] for e in seen["seen"]], ["created"] * 5)
        ids = [int(e["id"]) for e in seen["seen"]]
        self.assertEqual(ids, sorted(ids))
        self.assertGreaterEqual(seen["opens"], 2, seen)  # it did reconnect


# The pages' tests: one collection with a rule to break, screenshots kept
# under build/screenshots for a person to look at.
PAGES_CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
access_log = "off"

[collections.things]
[collections.things.fields]
name = { type = "string", required = true, max_length = 200 }
price = { type = "number", min = 0 }
"""
SCREENSHOTS = os.path.join(ROOT, "build", "screenshots")


def run_page_script(testcase, script, args):
    """Runs tests/browser/SCRIPT with `args`; returns what it printed, parsed."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    p = subprocess.run(["node", os.path.join(BROWSER_DIR, script), json.dumps(dict(args, screenshots=SCREENSHOTS))],
                       capture_output=True, text=True, timeout=180, cwd=BROWSER_DIR)
    testcase.assertEqual(p.returncode, 0, p.stderr[-3000:])
    return json.loads(p.stdout)


class BrowserDocs(unittest.TestCase):
    def test_docs_render_the_openapi_document_and_try_it_out_works(self):
        shots = SCREENSHOTS
        with RestdServer(PAGES_CONFIG) as srv:
            token = srv.as_admin()
            base = f"http://127.0.0.1:{srv.port}"
            seen = run_page_script(self, "docs.mjs", {"base": base, "token": token})
        self.assertIn("restd API", seen["title"])
        self.assertTrue(any("things" in t for t in seen["tags"]), seen["tags"])
        for path in ("/things", "/things/{id}", "/things/events", "/authenticate", "/me"):
            self.assertIn(path, [o.replace("\u200b", "").strip() for o in seen["operations"]], seen["operations"])
        # Try it out answered from this server, with the token given to Authorize.
        self.assertEqual(seen["meStatus"], "200", seen)
        self.assertTrue(json.loads(seen["meBody"])["data"]["logged_in"], seen["meBody"])
        # Nothing from outside the server; no errors; the token never in a URL.
        outside = [u for u in seen["requests"] if not u.startswith(base) and not u.startswith("data:")]
        self.assertEqual(outside, [])
        self.assertEqual(seen["consoleErrors"], [])
        self.assertEqual(seen["pageErrors"], [])
        self.assertFalse(seen["authHeaderInUrl"])
        for name in ("docs.png", "docs-try-it.png"):
            self.assertGreater(os.path.getsize(os.path.join(shots, name)), 10000)


class BrowserAdmin(unittest.TestCase):
    def test_sign_in_field_errors_create_edit_sort_filter_live_delete(self):
        shots = SCREENSHOTS
        with RestdServer(PAGES_CONFIG) as srv:
            token = srv.as_admin()
            key = srv.api_key("admin-ui")
            args = {"base": f"http://127.0.0.1:{srv.port}", "user": "root", "password": "root-password",
                    "apiKey": key, "token": token}
            seen = run_page_script(self, "admin.mjs", args)
            names = [r["name"] for r in srv.request("GET", "/api/v2/things?sort=name&per_page=100").json()["data"]]
        self.assertTrue(seen["signInError"], seen)   # the server's 401 message, shown on the form
        self.assertEqual(seen["heading"], "things")
        self.assertEqual(seen["who"], "root (admin)")
        self.assertEqual(seen["fieldErrors"], {"name": 'The field "name" is required.',
                                               "price": 'The field "price" must be at least 0.'})
        self.assertEqual(len(seen["afterCreate"]), 2)
        self.assertTrue(any("Lamp, brass" in r for r in seen["afterEdit"]), seen["afterEdit"])
        self.assertIn("Chair", seen["sortedUp"][0])
        self.assertIn("Lamp, brass", seen["sortedDown"][0])
        self.assertEqual(len(seen["filtered"]), 1)
        self.assertIn("Lamp, brass", seen["filtered"][0])
        self.assertEqual(seen["elsewhereStatus"], 201)
        self.assertTrue(seen["live"].startswith("Live: created"), seen["live"])
        self.assertIn("Delete thing", seen["dialog"])
        self.assertFalse(any("Chair" in r for r in seen["afterDelete"]))
        self.assertEqual(names[:2], ["Lamp, brass", "Stool 00"])   # what the storage holds
        self.assertEqual(len(names), 27)
        self.assertTrue(any("root\tadmin" in r for r in seen["users"]), seen["users"])
        self.assertTrue(any("admin-ui" in r for r in seen["keys"]), seen["keys"])
        self.assertEqual(seen["page1"], {"rows": 20, "pager": "Page 1 of 2 · 27 records"})
        self.assertEqual(seen["page2"], {"rows": 7, "pager": "Page 2 of 2 · 27 records"})
        self.assertIsNone(seen["storedAfterSignOut"])
        self.assertFalse(seen["oldTokenLoggedIn"])
        self.assertEqual(seen["consoleErrors"], [])
        self.assertEqual(seen["pageErrors"], [])
        self.assertTrue(seen["storedToken"])
        self.assertFalse(seen["tokenInUrl"])
        outside = [u for u in seen["requests"] if not u.startswith(args["base"]) and not u.startswith("data:")]
        self.assertEqual(outside, [])
        for name in ("sign-in", "field-errors", "list", "edit", "filtered", "after-delete", "users"):
            self.assertGreater(os.path.getsize(os.path.join(shots, f"admin-{name}.png")), 5000, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
