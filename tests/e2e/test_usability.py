"""What a new user trips over, fixed: JSON sent as a form, relative database
paths, --demo with --config, init --storage, --listen PORT, bare storage
paths, "did you mean", a silent drain, a lock-out with no way out, ?pretty,
unknown envelopes, and POST /logout without a body."""
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, RestdServer, SharedServerTest, free_port, run_cli  # noqa: E402

API = "/api/v2"
CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
access_log = "off"
[auth]
lockout_attempts = 3
[collections.things]
[collections.things.fields]
name = { type = "string", required = true }
"""


class Http(SharedServerTest):
    config = CONFIG

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token = cls.srv.as_admin()

    def test_json_sent_as_a_form_is_415_with_a_hint_and_changes_nothing(self):
        form = {"Content-Type": "application/x-www-form-urlencoded"}   # what curl -d sends
        for body in ('{"name": "x"}', '  [{"name": "x"}]\n'):
            r = self.srv.request("POST", API + "/things", body=body, headers=form)
            self.assertEqual(r.status, 415, r)
            e = r.json()["error"]
            self.assertEqual(e["reason"], "unsupported_media_type")
            self.assertIn("Content-Type: application/json", e["message"])
        r = self.srv.request("POST", API + "/authenticate",
                             body='{"userName": "root", "apiKey": "x", "password": "y"}', headers=form)
        self.assertEqual(r.status, 415, r)
        self.assertEqual(self.srv.request("GET", API + "/things").json()["pagination"]["recordsCount"], 0)
        # A real form still works.
        r = self.srv.request("POST", API + "/things", body="name=from+a+form", headers=form)
        self.assertEqual(r.status, 201, r)
        self.srv.request("DELETE", f"{API}/things/{r.json()['data']['id']}")

    def test_logout_takes_a_post_without_a_body(self):
        key = self.srv.api_key("logout-key")
        self.srv.add_user("lou", "writer", "pw-lou")
        token = self.srv.login("lou", "pw-lou", key)
        # curl -X POST sends neither Content-Length nor a body.
        r = self.srv.raw(f"POST {API}/logout HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                         "Connection: close\r\n\r\n".encode())[0]
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json()["data"]["logged_in"])
        self.assertEqual(self.srv.request("GET", API + "/things", headers={"Authorization": "Bearer " + token}).status,
                         401)
        # Any other POST still needs a length (SPEC §10).
        r = self.srv.raw(f"POST {API}/things HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())[0]
        self.assertEqual(r.status, 411)
        r = self.srv.raw(f"POST {API}/logoutx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())[0]
        self.assertEqual(r.status, 411)

    def test_unknown_envelope_names_the_profiles(self):
        r = self.srv.request("GET", API + "/things", headers={"X-Envelope": "nope"})
        self.assertEqual(r.status, 400)
        message = r.json()["error"]["message"]
        for name in ("standard", "problem", "request-result", "success-flag", "plain", "data-meta", "result-metadata"):
            self.assertIn(name, message)

    def test_pretty_is_indented_ends_in_a_newline_and_has_its_own_etag(self):
        created = self.srv.request("POST", API + "/things", body='{"name": "p"}',
                                   headers={"Content-Type": "application/json"}).json()["data"]
        path = f"{API}/things/{created['id']}"
        compact = self.srv.request("GET", path)
        pretty = self.srv.request("GET", path + "?pretty")
        self.assertEqual(pretty.status, 200)
        self.assertTrue(pretty.body.startswith(b'{\n  "data": {\n    "id": '), pretty.body[:40])
        self.assertTrue(pretty.body.endswith(b"}\n"))
        self.assertNotIn(b"\n", compact.body)
        self.assertEqual(json.loads(pretty.body)["data"], json.loads(compact.body)["data"])
        self.assertNotEqual(pretty.header("ETag"), compact.header("ETag"))
        self.assertEqual(self.srv.request("GET", path + "?pretty=true",
                                          headers={"If-None-Match": pretty.header("ETag")}).status, 304)
        self.assertEqual(self.srv.request("GET", path, headers={"If-None-Match": pretty.header("ETag")}).status, 200)
        xml = self.srv.request("GET", path + "?pretty", headers={"Accept": "application/xml"})
        self.assertIn(b"\n  <data>", xml.body)
        lst = self.srv.request("GET", API + "/things?pretty=1&per_page=1")
        self.assertEqual(lst.status, 200)
        self.assertIn(b'\n  "pagination": {', lst.body)
        r = self.srv.request("GET", path + "?pretty=maybe")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["reason"], "invalid_parameter")
        off = self.srv.request("GET", path + "?pretty=false")
        self.assertNotIn(b"\n", off.body)
        self.assertEqual(off.header("ETag"), compact.header("ETag"))

    def test_admins_see_users_and_api_keys_read_only_and_never_a_hash(self):
        self.srv.add_user("ursula", "writer", "pw-ursula")
        users = self.srv.request("GET", API + "/_users")
        self.assertEqual(users.status, 200, users)
        by_name = {u["userName"]: u for u in users.json()["data"]}
        self.assertEqual(by_name["ursula"]["role"], "writer")
        self.assertEqual(set(by_name["ursula"]), {"id", "userName", "role", "createdAt"})
        self.assertTrue(by_name["ursula"]["id"].startswith("user_"))
        keys = self.srv.request("GET", API + "/_apikeys")
        self.assertEqual(keys.status, 200)
        labels = {k["label"]: k for k in keys.json()["data"]}
        self.assertIn("admin-key", labels)
        self.assertEqual(set(labels["admin-key"]), {"label", "prefix", "createdAt"})
        self.assertNotIn(b"argon2", users.body + keys.body)
        key = self.srv.api_key("ursula-key")
        token = self.srv.login("ursula", "pw-ursula", key)
        for path in ("/_users", "/_apikeys"):
            r = self.srv.request("GET", API + path, headers={"Authorization": "Bearer " + token})
            self.assertEqual(r.status, 403, r)
            self.assertEqual(r.json()["error"]["reason"], "forbidden")
            self.assertEqual(self.srv.request("GET", API + path, headers={"Authorization": None}).status, 401)
        self.assertEqual(self.srv.request("POST", API + "/_users", body="{}",
                                          headers={"Content-Type": "application/json"}).status, 405)

    def test_a_lock_out_ends_with_user_unlock(self):
        key = self.srv.api_key("unlock-key")
        self.srv.add_user("lock", "writer", "pw-right")

        def login(password):
            return self.srv.request("POST", API + "/authenticate",
                                    body=json.dumps({"userName": "lock", "apiKey": key, "password": password}),
                                    headers={"Content-Type": "application/json", "Authorization": None})
        for _ in range(3):
            self.assertEqual(login("wrong").status, 401)
        self.assertEqual(login("pw-right").status, 429)
        basic = "Basic " + base64.b64encode(b"lock:pw-right").decode()
        self.assertEqual(self.srv.request("GET", API + "/things", headers={"Authorization": basic}).status, 429)
        code, out, err = self.srv.cli("user", "unlock", "lock", "--address", "127.0.0.1")
        self.assertEqual(code, 0, err)
        self.assertIn("unlocked", out)
        self.assertEqual(login("pw-right").status, 200)
        self.assertEqual(self.srv.request("GET", API + "/things", headers={"Authorization": basic}).status, 200)
        code, out, err = self.srv.cli("user", "unlock", "nobody")
        self.assertNotEqual(code, 0)
        self.assertEqual(len(err.strip().splitlines()), 1, err)


class CommandLine(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="restd-usability-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_in(self, cwd, *args, env=None):
        p = subprocess.run([BIN, *args], capture_output=True, text=True, cwd=cwd, timeout=60,
                           env=dict(os.environ, **(env or {})))
        return p.returncode, p.stdout, p.stderr

    def test_a_relative_sqlite_path_in_the_config_is_the_config_files(self):
        app = os.path.join(self.dir, "myapi")
        os.mkdir(app)
        elsewhere = os.path.join(self.dir, "elsewhere")
        os.mkdir(elsewhere)
        with open(os.path.join(app, "restd.toml"), "w") as f:
            f.write('[storage]\nurl = "sqlite:data/app.db"\n')
        db = os.path.join(app, "data", "app.db")
        code, out, err = self.run_in(elsewhere, "user", "add", "ann", "--role", "admin", "--config", "../myapi/restd.toml",
                                     env={"RESTD_PASSWORD": "pw"})
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.exists(db), os.listdir(app))
        self.assertEqual(os.listdir(elsewhere), [])
        self.assertIn(f"created a new, empty database file {db}", err)
        # From the config's own directory: the same database, and no new file.
        code, out, err = self.run_in(app, "user", "list", "--config", "restd.toml")
        self.assertEqual(code, 0, err)
        self.assertIn("ann\tadmin", out)
        self.assertNotIn("created", err)
        # The server prints the absolute path it uses.
        p = subprocess.Popen([BIN, "serve", "--config", "../myapi/restd.toml", "--listen", "127.0.0.1:0"],
                             cwd=elsewhere, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = p.stdout.readline()
            self.assertIn(f"storage sqlite:{db})", first)
        finally:
            p.terminate()
            p.communicate(timeout=30)
        # --storage on the command line is the working directory's.
        code, out, err = self.run_in(elsewhere, "user", "list", "--config", "../myapi/restd.toml", "--storage", "mine.db")
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.exists(os.path.join(elsewhere, "mine.db")))
        self.assertIn("created a new, empty database file " + os.path.join(elsewhere, "mine.db"), err)

    def test_demo_with_a_config_is_refused_in_one_line(self):
        code, out, err = self.run_in(self.dir, "serve", "--demo", "--config", "x.toml")
        self.assertNotEqual(code, 0)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("--demo", err)
        self.assertIn("x.toml", err)

    def test_init_writes_the_storage_it_is_given(self):
        code, out, err = self.run_in(self.dir, "init", "--storage", "data/app.db")
        self.assertEqual(code, 0, err)
        with open(os.path.join(self.dir, "restd.toml")) as f:
            self.assertIn('url = "sqlite:data/app.db"', f.read())
        self.assertEqual(self.run_in(self.dir, "check-config")[0], 0)
        code, out, err = self.run_in(self.dir, "init", "other", "--storage", "ftp://nope")
        self.assertNotEqual(code, 0)
        self.assertIn("--storage", err)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "other", "restd.toml")))

    def test_version_lists_no_options_it_ignores(self):
        code, out, err = run_cli("version", "--help")
        self.assertEqual(code, 0)
        self.assertNotIn("--config", out)
        self.assertNotIn("--storage", out)
        self.assertEqual(run_cli("version", "--config", "x", "--storage", "sqlite::memory:")[0], 0)  # SPEC §1

    def test_listen_takes_a_bare_port_and_colon_port(self):
        with open(os.path.join(self.dir, "restd.toml"), "w") as f:
            f.write("")
        for given, host in (("{}", "127.0.0.1"), (":{}", "0.0.0.0")):
            port = free_port()
            p = subprocess.Popen([BIN, "serve", "--listen", given.format(port), "--storage", "sqlite::memory:"],
                                 cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                first = p.stdout.readline()
                self.assertIn(f"listening on http://{host}:{port} ", first)
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.close()
            finally:
                p.terminate()
                p.communicate(timeout=30)
        code, out, err = run_cli("serve", "--listen", "nonsense")
        self.assertNotEqual(code, 0)

    def test_a_bare_storage_path_is_a_sqlite_file(self):
        with open(os.path.join(self.dir, "restd.toml"), "w") as f:
            f.write("")
        code, out, err = self.run_in(self.dir, "user", "list", "--storage", "plain.db")
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.exists(os.path.join(self.dir, "plain.db")))
        code, out, err = self.run_in(self.dir, "user", "list", "--storage", "ftp://x")
        self.assertNotEqual(code, 0)

    def test_did_you_mean(self):
        code, out, err = run_cli("serve", "--lisen", "8080")
        self.assertNotEqual(code, 0)
        self.assertIn('did you mean "--listen"?', err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        code, out, err = run_cli("sevre")
        self.assertIn('did you mean "serve"?', err)
        code, out, err = run_cli("user", "ad", "x")
        self.assertIn('did you mean "add"?', err)
        path = os.path.join(self.dir, "typo.toml")
        with open(path, "w") as f:
            f.write('[server]\nlisen = "127.0.0.1:1"\n[storage]\nurll = "sqlite:x.db"\n')
        code, out, err = run_cli("check-config", "--config", path)
        self.assertNotEqual(code, 0)
        self.assertIn('server.lisen: unknown key; did you mean "listen"?', err)
        self.assertIn('storage.urll: unknown key; did you mean "url"?', err)
        code, out, err = run_cli("serve", "--zzzzzzzz")
        self.assertNotIn("did you mean", err)   # nothing close: no guess

    def test_ctrl_c_says_what_it_waits_for_and_a_second_one_stops_at_once(self):
        with RestdServer(CONFIG) as srv:
            # A client that sends half a body and stalls: a request in flight.
            s = srv.connect()
            s.sendall(f"POST {API}/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 100\r\n\r\n{\"na".encode())
            time.sleep(0.3)
            srv.proc.send_signal(signal.SIGINT)
            deadline = time.time() + 5
            while time.time() < deadline and not any("draining" in l for l in srv.stderr_lines):
                time.sleep(0.05)
            self.assertTrue(any("draining 1 request (up to 30s; Ctrl-C again to stop now)" in l
                                for l in srv.stderr_lines), srv.stderr_lines)
            self.assertIsNone(srv.proc.poll())   # still waiting for the stalled request
            started = time.time()
            srv.proc.send_signal(signal.SIGINT)
            srv.proc.wait(timeout=10)
            self.assertLess(time.time() - started, 5)
            s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
