"""GET /api/v2/openapi.json (SPEC §4): an OpenAPI 3.1 document generated from
the config, lint-clean with Redocly CLI, and (through the harness, for every
suite) in agreement with the replies the server really sends."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SharedServerTest  # noqa: E402

API = "/api/v2"
NODE_TOOLS = os.path.join(os.path.dirname(__file__), "..", "browser")

CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
access_log = "off"

[auth]
basic = false

[collections.things]
slug_from = "name"
anonymous_read = true
[collections.things.fields]
name = { type = "string", required = true, max_length = 200 }
price = { type = "number", min = 0, max = 1000 }
qty = { type = "integer", min = 1, max = 1000, default = 1 }
state = { type = "string", enum = ["draft", "live"], default = "draft" }
code = { type = "string", pattern = "^[A-Z]{3}$", unique = true }
due = { type = "datetime" }
done = { type = "boolean" }
tags = { type = "array", max_length = 5 }
meta = { type = "object" }
stamp = { type = "string", read_only = true, default = "fixed" }

[collections.notes]
visibility = "owner"
extra_fields = "allow"
[collections.notes.fields]
text = { type = "string", required = true }
"""


def redocly(path):
    env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true", NO_COLOR="1")
    return subprocess.run([os.path.join(NODE_TOOLS, "node_modules", ".bin", "redocly"), "lint", path],
                          capture_output=True, text=True, env=env, timeout=120)


class OpenApi(SharedServerTest):
    config = CONFIG

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.srv.request("GET", API + "/openapi.json")
        assert r.status == 200, r
        cls.reply = r
        cls.doc = r.json()

    def test_served_without_a_token_as_json(self):
        self.assertEqual(self.reply.header("Content-Type"), "application/json; charset=utf-8")
        self.assertEqual(self.doc["openapi"], "3.1.0")
        self.assertEqual(self.doc["servers"], [{"url": "/api/v2", "description": "This server"}])
        self.assertEqual(self.srv.request("GET", API + "/openapi").body, self.reply.body)
        self.assertEqual(self.srv.request("GET", API + "/openapi.xml").status, 404)
        head = self.srv.request("HEAD", API + "/openapi.json")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")

    def test_redocly_lint_is_clean(self):
        with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
            f.write(self.reply.body)
        try:
            p = redocly(f.name)
        finally:
            os.unlink(f.name)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("Your API description is valid", out)
        self.assertNotIn("warning", out.lower(), out)

    def test_every_path_and_method_of_spec_4(self):
        paths = self.doc["paths"]
        expected = {
            "/": {"get"}, "/openapi.json": {"get"}, "/authenticate": {"post"}, "/me": {"get"}, "/logout": {"post"},
            "/_users": {"get"}, "/_apikeys": {"get"},
            "/things": {"get", "post", "patch", "delete"}, "/things/{id}": {"get", "put", "patch", "delete"},
            "/things/events": {"get"},
            "/notes": {"get", "post", "patch", "delete"}, "/notes/{id}": {"get", "put", "patch", "delete"},
            "/notes/events": {"get"},
        }
        self.assertEqual(set(paths), set(expected))
        for path, methods in expected.items():
            self.assertEqual({m for m in paths[path] if m != "parameters"}, methods, path)
        names = {p.get("name") for p in paths["/things"]["get"]["parameters"] if "name" in p}
        refs = {p["$ref"].rsplit("/", 1)[1] for p in paths["/things"]["get"]["parameters"] if "$ref" in p}
        for p in ("sort", "fields", "name", "name[like]", "price[gte]", "state[in]", "createdAt[lt]", "slug"):
            self.assertIn(p, names)
        self.assertNotIn("price[like]", names)   # like is for text fields
        self.assertNotIn("meta", names)          # objects cannot be filtered
        self.assertTrue({"page", "per_page", "cursor", "count", "envelope", "X-Envelope"} <= refs, refs)
        post = paths["/things"]["post"]
        self.assertEqual(set(post["responses"]) >= {"201", "207", "401", "409", "413", "415", "422"}, True)
        self.assertIn("application/x-www-form-urlencoded", post["requestBody"]["content"])
        patch = paths["/things/{id}"]["patch"]
        self.assertIn("application/merge-patch+json", patch["requestBody"]["content"])
        self.assertIn("412", patch["responses"])
        self.assertIn("text/event-stream", paths["/things/events"]["get"]["responses"]["200"]["content"])

    def test_record_schemas_follow_the_field_rules(self):
        schemas = self.doc["components"]["schemas"]
        thing = schemas["Thing"]["properties"]
        self.assertEqual(thing["name"]["type"], "string")
        self.assertEqual(thing["name"]["maxLength"], 200)
        self.assertIsInstance(thing["qty"]["maximum"], int)     # 1000, never 1000.0 or 1.000000
        self.assertEqual(thing["qty"]["default"], 1)
        self.assertEqual(thing["price"]["type"], ["number", "null"])
        self.assertEqual(thing["state"]["enum"], ["draft", "live", None])
        self.assertEqual(thing["code"]["pattern"], "^[A-Z]{3}$")
        self.assertEqual(thing["due"]["format"], "date-time")
        self.assertEqual(thing["tags"]["maxItems"], 5)
        self.assertTrue(thing["stamp"]["readOnly"])
        for system in ("id", "slug", "createdAt", "updatedAt", "version", "owner"):
            self.assertTrue(thing[system]["readOnly"], system)
        self.assertFalse(schemas["Thing"]["additionalProperties"])
        self.assertTrue(schemas["Note"]["additionalProperties"])   # extra_fields = "allow"
        create = schemas["ThingCreate"]
        self.assertEqual(create["required"], ["name"])
        self.assertNotIn("stamp", create["properties"])   # read-only: not written by clients
        self.assertNotIn("id", create["properties"])
        self.assertNotIn("required", schemas["ThingPatch"])
        self.assertEqual(schemas["ThingPatchItem"]["required"], ["id"])
        reasons = schemas["Error"]["properties"]["reason"]["enum"]
        self.assertIn("unique_violation", reasons)
        self.assertIn("rate_limited", reasons)

    def test_security_schemes_follow_the_auth_config(self):
        schemes = self.doc["components"]["securitySchemes"]
        self.assertEqual(set(schemes), {"bearer", "access_token"})   # basic = false
        self.assertEqual(schemes["bearer"], {"type": "http", "scheme": "bearer",
                                             "description": schemes["bearer"]["description"]})
        self.assertEqual(schemes["access_token"]["in"], "query")
        paths = self.doc["paths"]
        self.assertEqual(paths["/things"]["get"]["security"][0], {})        # anonymous_read
        self.assertNotIn({}, paths["/notes"]["get"]["security"])
        self.assertNotIn({}, paths["/things"]["post"]["security"])
        self.assertEqual(paths["/authenticate"]["post"]["security"], [])

    def test_a_reply_that_disagrees_with_the_document_is_caught(self):
        # The harness's checker, given a reply the document does not allow.
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "docs"))
            with open(os.path.join(d, "docs", "0.json"), "wb") as f:
                f.write(self.reply.body)
            bad = [
                {"doc": 0, "method": "GET", "path": "/api/v2/things/x", "status": 200,
                 "body": {"data": {"id": "thing_01m8vm6b1zetq80avkpntbb1w4", "price": "cheap"},
                          "meta": {"requestId": "r", "date": "2026-12-02T10:00:00Z"}}},
                {"doc": 0, "method": "GET", "path": "/api/v2/things", "status": 418, "body": {}},
                {"doc": 0, "method": "GET", "path": "/api/v2/me", "status": 200,
                 "body": {"data": {"logged_in": False, "statusMessage": "x"}, "meta": {"requestId": "r"}}},
            ]
            with open(os.path.join(d, "replies.jsonl"), "w") as f:
                for r in bad:
                    f.write(json.dumps(r) + "\n")
            p = subprocess.run(["node", os.path.join(NODE_TOOLS, "check_replies.mjs"), d],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("/data/price", p.stdout)
        self.assertIn("status not documented", p.stdout)
        self.assertIn("must have required property 'date'", p.stdout)
        self.assertIn("3 disagreements", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
