"""The command line: serve/init/check-config/version, config errors with
file:line:column, environment and flag overrides, --demo."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, RestdServer, run_cli  # noqa: E402


class Cli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="restd-cli-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_version(self):
        code, out, err = run_cli("version")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^restd \d+\.\d+\.\d+\n$")
        code, out, _ = run_cli("--version")
        self.assertEqual(code, 0)

    def test_every_command_takes_config_and_storage(self):
        path = os.path.join(self.dir, "custom.toml")
        code, out, err = run_cli("init", "--config", path, "--storage", "sqlite::memory:")
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.exists(path))
        self.assertEqual(run_cli("version", "--config", path, "--storage", "sqlite::memory:")[0], 0)
        self.assertEqual(run_cli("check-config", "--config", path, "--storage", "sqlite::memory:")[0], 0)
        code, out, err = run_cli("user", "list", "--config", path, "--storage", "sqlite:" + os.path.join(self.dir, "x.db"))
        self.assertEqual(code, 0, err)

    def test_help_lists_the_commands(self):
        code, out, _ = run_cli("--help")
        self.assertEqual(code, 0)
        for verb in ("serve", "init", "check-config", "version"):
            self.assertIn(verb, out)
        code, out, _ = run_cli("serve", "--help")
        self.assertEqual(code, 0)
        for flag in ("--config", "--listen", "--storage", "--threads", "--demo"):
            self.assertIn(flag, out)

    def test_unknown_command_fails_with_one_clear_line(self):
        code, out, err = run_cli("frobnicate")
        self.assertNotEqual(code, 0)
        self.assertTrue(err.strip())

    def test_init_writes_a_config_that_checks_clean(self):
        target = os.path.join(self.dir, "proj")
        code, out, err = run_cli("init", target)
        self.assertEqual(code, 0, err)
        path = os.path.join(target, "restd.toml")
        text = open(path).read()
        self.assertIn("[collections.things]", text)
        self.assertIn("#", text)  # commented
        code, out, err = run_cli("check-config", "--config", path)
        self.assertEqual(code, 0, err)
        self.assertIn("ok", out)
        # never overwrites
        code, out, err = run_cli("init", target)
        self.assertNotEqual(code, 0)
        self.assertIn("already exists", err)

    def test_check_config_names_file_line_column_and_key(self):
        path = self.write("bad.toml", '[server]\nlisten = "127.0.0.1:8080"\nthreads = "many"\n')
        code, out, err = run_cli("check-config", "--config", path)
        self.assertEqual(code, 1)
        self.assertEqual(err.strip(), f"{path}:3:11: server.threads: must be a whole number")

    def test_check_config_relative_path_is_echoed_as_given(self):
        self.write("rel.toml", "[collections.things.fields]\nname = { type = \"strng\" }\n")
        code, out, err = run_cli("check-config", "--config", "rel.toml", cwd=self.dir)
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith("rel.toml:2:"), err)
        self.assertIn("collections.things.fields.name.type", err)

    def test_serve_refuses_a_broken_config_and_never_listens(self):
        path = self.write("broken.toml", '[server]\nlisten = "127.0.0.1:0"\n[collections.things.fields]\n'
                                         'id = { type = "string" }\n')
        p = subprocess.run([BIN, "serve", "--config", path], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, re.escape(path) + r":4:1: collections\.things\.fields\.id: ")
        self.assertNotIn("listening", p.stdout)

    def test_serve_without_any_config_explains_what_to_do(self):
        p = subprocess.run([BIN, "serve"], capture_output=True, text=True, timeout=20, cwd=self.dir,
                           env={k: v for k, v in os.environ.items() if k != "RESTD_CONFIG"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("restd init", p.stderr)

    def test_unreachable_postgres_is_refused_in_one_clear_line(self):
        path = self.write("pg.toml", '[server]\nlisten = "127.0.0.1:0"\n')
        p = subprocess.run([BIN, "serve", "--config", path, "--storage", "postgres://u:p@127.0.0.1:1/db"],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PostgreSQL", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)

    def test_bad_override_values_are_refused(self):
        path = self.write("ok.toml", "")
        code, out, err = run_cli("serve", "--config", path, "--listen", "nonsense")
        self.assertNotEqual(code, 0)
        self.assertIn("--listen", err)
        code, out, err = run_cli("serve", "--config", path, env={"RESTD_STORAGE": "ftp://x"})
        self.assertNotEqual(code, 0)
        self.assertIn("RESTD_STORAGE", err)


class Overrides(unittest.TestCase):
    def test_env_overrides_config_and_flags_override_env(self):
        # The file says port 1 (unusable); RESTD_LISTEN moves it; --listen wins over both.
        cfg = '[server]\nlisten = "127.0.0.1:1"\n'
        with RestdServer(cfg, env={"RESTD_LISTEN": "127.0.0.1:0"}) as srv:
            self.assertEqual(srv.request("GET", "/healthz").status, 200)
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        with RestdServer(cfg, env={"RESTD_LISTEN": "127.0.0.1:1"}, extra_args=["--listen", f"127.0.0.1:{port}"]) as srv:
            self.assertEqual(srv.port, port)

    def test_restd_config_env_names_the_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "from-env.toml")
            with open(path, "w") as f:
                f.write('[server]\nlisten = "127.0.0.1:0"\nbase_path = "/v9"\n')
            p = subprocess.Popen([BIN, "serve", "--storage", "sqlite::memory:"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=dict(os.environ, RESTD_CONFIG=path), cwd=d)
            try:
                line = p.stdout.readline().decode()
                self.assertIn("/v9", line)
            finally:
                p.terminate()
                self.assertEqual(p.wait(timeout=10), 0)


class Demo(unittest.TestCase):
    def test_demo_prints_url_and_curl_line_and_serves_demo_collections(self):
        import http.client
        import json
        import shlex
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.Popen([BIN, "serve", "--demo", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, cwd=d)
            try:
                lines = [p.stdout.readline().decode() for _ in range(4)]
                port = int(re.search(r"http://127\.0\.0\.1:(\d+)", lines[0]).group(1))
                try_line = [l for l in lines if l.startswith("Try: curl ")]
                self.assertEqual(len(try_line), 1, lines)
                # the printed curl line works as printed
                argv = shlex.split(try_line[0][len("Try: "):])
                out = subprocess.run(argv + ["-s"], capture_output=True, text=True, timeout=20).stdout
                body = out[out.index("{"):]
                token = json.loads(body)["data"]["access_token"]
                self.assertRegex(token, r"^[0-9a-f]{40}$")
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/api/v2/")
                body = json.loads(c.getresponse().read())
                names = [x["name"] for x in body["data"]["collections"]]
                self.assertEqual(names, ["things", "announcements", "connections"])
                c.request("GET", "/api/v2/me", headers={"Authorization": "Bearer " + token})
                me = json.loads(c.getresponse().read())["data"]
                self.assertEqual((me["logged_in"], me["user"]["userName"], me["user"]["role"]), (True, "api", "admin"))
                self.assertTrue(os.path.exists(os.path.join(d, "restd-demo.db")))
            finally:
                p.terminate()
                self.assertEqual(p.wait(timeout=10), 0)
                p.stdout.close()
                p.stderr.close()
            # a second start on the same database keeps the account (no duplicate errors)
            p = subprocess.Popen([BIN, "serve", "--demo", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, cwd=d)
            try:
                self.assertIn("listening", p.stdout.readline().decode())
            finally:
                p.terminate()
                self.assertEqual(p.wait(timeout=10), 0)
                p.stdout.close()
                p.stderr.close()

if __name__ == "__main__":
    unittest.main(verbosity=2)
