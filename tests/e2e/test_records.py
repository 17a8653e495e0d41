"""Collections and records on SQLite over real sockets: CRUD, system fields,
slugs, validation, lists (paging, filters, sort, fields, cursor), ETags and
conditional requests, bad input."""
import base64
import json
import os
import re
import sqlite3
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import ENGINE, RestdServer, postgres_only, psql, sqlite_only  # noqa: E402

CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
timezone = "+05:30"
access_log = "off"

[collections.things]
slug_from = "name"

[collections.things.fields]
name  = { type = "string", required = true, max_length = 200 }
price = { type = "number", min = 0 }
qty   = { type = "integer", max = 1000 }
tags  = { type = "array" }
meta  = { type = "object" }
state = { type = "string", enum = ["draft", "live"], default = "draft" }
code  = { type = "string", unique = true, pattern = "^[A-Z]{3}[0-9]{3}$" }
done  = { type = "boolean" }
due   = { type = "datetime" }
stamp = { type = "string", read_only = true, default = "fixed" }

[collections.notes]
extra_fields = "allow"

[collections.notes.fields]
title = { type = "string" }
"""

ID_RE = re.compile(r"^thing_[0-7][0-9a-hjkmnp-tv-z]{25}$")
API = "/api/v2"


def j(body):
    return json.dumps(body).encode()


JSON = {"Content-Type": "application/json"}


class Records(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = RestdServer(CONFIG)
        cls.srv.start()
        cls.token = cls.srv.as_admin()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def post(self, body, coll="things", headers=None):
        return self.srv.request("POST", f"{API}/{coll}", body=j(body) if not isinstance(body, bytes) else body,
                                headers=headers or JSON)

    def create(self, **fields):
        r = self.post(fields)
        self.assertEqual(r.status, 201, r)
        return r.json()["data"]

    def get(self, path, headers=None):
        return self.srv.request("GET", API + path, headers=headers)

    def error(self, r, status, reason, field=None):
        self.assertEqual(r.status, status, r)
        e = r.json()["error"]
        self.assertEqual(e["reason"], reason, e)
        self.assertEqual(e["code"], status)
        if field is not None:
            self.assertEqual(e.get("field"), field, e)
        return e

    # --- create and system fields -------------------------------------
    def test_create_returns_201_with_system_fields(self):
        r = self.post({"name": "My first thing", "price": 9.99, "tags": ["a", None, {"x": [1, None]}],
                       "meta": {"deep": {"n": None, "s": "x"}}, "done": True, "due": "2026-12-01T10:00:00Z"})
        self.assertEqual(r.status, 201, r)
        d = r.json()["data"]
        self.assertRegex(d["id"], ID_RE)
        self.assertEqual(d["name"], "My first thing")
        self.assertEqual(d["price"], 9.99)
        self.assertEqual(d["tags"], ["a", None, {"x": [1, None]}])     # nested values exactly, nulls included
        self.assertEqual(d["meta"], {"deep": {"n": None, "s": "x"}})
        self.assertEqual(d["state"], "draft")                           # default
        self.assertEqual(d["stamp"], "fixed")                           # read_only default
        self.assertIsNone(d["code"])                                    # optional, no default: null
        self.assertIsNone(d["qty"])
        self.assertIs(d["done"], True)
        self.assertEqual(d["due"], "2026-12-01T15:30:00+05:30")         # configured zone
        self.assertEqual(d["version"], 1)
        self.assertRegex(d["owner"], r"^user_[0-9a-z]{26}$")
        self.assertRegex(d["createdAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30$")
        self.assertEqual(d["createdAt"], d["updatedAt"])
        self.assertEqual(r.header("Location"), f"{API}/things/{d['id']}")
        self.assertEqual(r.header("ETag"), f'"{d["id"]}.1:json:standard"')
        self.assertEqual(list(d)[:3], ["id", "slug", "name"])

    def test_ids_sort_by_creation_even_within_a_millisecond(self):
        ids = [self.create(name=f"order {i}")["id"] for i in range(30)]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 30)
        # the first 10 characters of the suffix encode the creation time in ms
        ms = 0
        for ch in ids[0][len("thing_"):][:10]:
            ms = ms * 32 + "0123456789abcdefghjkmnpqrstvwxyz".index(ch)
        self.assertLess(abs(ms / 1000 - time.time()), 60)

    def test_slugs_collide_with_suffixes_and_resolve(self):
        a = self.create(name="Hello, World!")
        b = self.create(name="hello world")
        c = self.create(name="HELLO   world??")
        self.assertEqual([a["slug"], b["slug"], c["slug"]], ["hello-world", "hello-world-2", "hello-world-3"])
        got = self.get("/things/hello-world-2").json()["data"]
        self.assertEqual(got["id"], b["id"])
        self.assertEqual(self.create(name="events")["slug"], "events-2")
        long = self.create(name="x" * 100)
        self.assertEqual(long["slug"], "x" * 80)
        long2 = self.create(name="x" * 100)
        self.assertEqual(long2["slug"], "x" * 78 + "-2")
        odd = self.create(name="¡¿ !!")
        self.assertEqual(odd["slug"], odd["id"].split("_")[1])
        # a slug is fixed at creation
        r = self.srv.request("PATCH", f"{API}/things/{a['id']}", body=j({"name": "Other"}), headers=JSON)
        self.assertEqual(r.json()["data"]["slug"], "hello-world")
        self.error(self.srv.request("PATCH", f"{API}/things/{a['id']}", body=j({"slug": "x"}), headers=JSON),
                   422, "read_only_field", "slug")

    def test_get_put_patch_delete_cycle(self):
        d = self.create(name="cycle", price=1, tags=["t"], meta={"a": {"b": 1, "c": 2}})
        path = f"/things/{d['id']}"
        g = self.get(path)
        self.assertEqual(g.status, 200)
        self.assertEqual(g.json()["data"], d)
        # PATCH: merge patch (RFC 7396), nested objects merge, null removes
        p = self.srv.request("PATCH", API + path, body=j({"price": 2, "tags": None, "meta": {"a": {"b": None, "d": 4}}}),
                             headers=JSON)
        self.assertEqual(p.status, 200, p)
        pd = p.json()["data"]
        self.assertEqual(pd["price"], 2)
        self.assertIsNone(pd["tags"])
        self.assertEqual(pd["meta"], {"a": {"c": 2, "d": 4}})
        self.assertEqual(pd["name"], "cycle")
        self.assertEqual(pd["version"], 2)
        self.assertEqual(pd["createdAt"], d["createdAt"])
        # PUT: replace; what is left out is gone (or back to its default)
        u = self.srv.request("PUT", API + path, body=j({"name": "replaced", "state": "live"}), headers=JSON)
        self.assertEqual(u.status, 200, u)
        ud = u.json()["data"]
        self.assertEqual(ud["name"], "replaced")
        self.assertIsNone(ud["price"])
        self.assertIsNone(ud["meta"])
        self.assertEqual(ud["version"], 3)
        self.error(self.srv.request("PUT", API + path, body=j({"price": 3}), headers=JSON), 422, "field_required",
                   "name")
        # DELETE: the exact message
        x = self.srv.request("DELETE", API + path)
        self.assertEqual(x.status, 200)
        body = x.json()
        self.assertEqual(body["data"], {"id": d["id"], "deleted": True})
        self.assertEqual(body["meta"]["message"], f"Your thing (id: {d['id']}) was deleted")
        self.error(self.get(path), 404, "not_found")
        self.error(self.srv.request("DELETE", API + path), 404, "not_found")

    def test_put_and_patch_to_unknown_ids_are_404_never_create(self):
        for m in ("PUT", "PATCH"):
            self.error(self.srv.request(m, f"{API}/things/thing_01jdq6x9k8f3t5v7w2y4z6a8b0", body=j({"name": "x"}),
                                        headers=JSON), 404, "not_found")
        # the record check comes before the body check
        self.error(self.srv.request("PUT", f"{API}/things/nope", body=b"{bad", headers=JSON), 404, "not_found")
        total = self.get("/things?count=true").header("X-Total-Count")
        self.assertIsNotNone(total)

    def test_head_on_records_and_lists(self):
        d = self.create(name="head me")
        for path in (f"/things/{d['id']}", "/things"):
            g = self.get(path)
            h = self.srv.request("HEAD", API + path)
            self.assertEqual(h.status, 200)
            self.assertEqual(h.body, b"")
            self.assertEqual(h.header("ETag"), g.header("ETag"))
            self.assertEqual(h.header("Content-Type"), g.header("Content-Type"))

    def test_form_encoded_bodies(self):
        r = self.srv.request("POST", f"{API}/things", body=b"name=From+a+form&price=12.5&qty=3&done=true&tags=%5B1%2C2%5D",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 201, r)
        d = r.json()["data"]
        self.assertEqual((d["name"], d["price"], d["qty"], d["done"], d["tags"]), ("From a form", 12.5, 3, True, [1, 2]))
        bad = self.srv.request("POST", f"{API}/things", body=b"name=x&qty=lots",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.error(bad, 422, "field_type", "qty")

    # --- validation ------------------------------------------------------
    def test_validation_errors_name_every_field_in_order(self):
        r = self.post({"bogus": 1, "price": -1, "id": "x", "qty": "many", "state": "gone", "code": "abc",
                       "stamp": "mine", "name": "y" * 201})
        e = self.error(r, 422, "field_rule", "name")
        self.assertEqual(e["type"], "validation")
        got = [(d["field"], d["reason"]) for d in e["details"]]
        self.assertEqual(got, [("name", "field_rule"), ("price", "field_rule"), ("qty", "field_type"),
                               ("state", "field_rule"), ("code", "field_rule"), ("stamp", "read_only_field"),
                               ("bogus", "unknown_field"), ("id", "read_only_field")])
        for d in e["details"]:
            self.assertEqual(d["code"], 422)
            self.assertTrue(d["info"].endswith("#" + d["reason"]))
        self.assertEqual(self.get("/things?name=" + "y" * 201).json()["pagination"]["recordsCount"], 0)

    def test_each_rule(self):
        cases = [
            ({}, "field_required", "name"),
            ({"name": None}, "field_required", "name"),
            ({"name": 5}, "field_type", "name"),
            ({"name": "n", "qty": 1.5}, "field_type", "qty"),
            ({"name": "n", "qty": 9223372036854775808}, "field_type", "qty"),
            ({"name": "n", "qty": 1001}, "field_rule", "qty"),
            ({"name": "n", "price": "1"}, "field_type", "price"),
            ({"name": "n", "done": "yes"}, "field_type", "done"),
            ({"name": "n", "due": "tomorrow"}, "field_type", "due"),
            ({"name": "n", "due": "2026-02-30T00:00:00Z"}, "field_type", "due"),
            ({"name": "n", "tags": {}}, "field_type", "tags"),
            ({"name": "n", "meta": []}, "field_type", "meta"),
            ({"name": "n", "createdAt": "x"}, "read_only_field", "createdAt"),
            ({"name": "n", "version": 9}, "read_only_field", "version"),
            ({"name": "n", "owner": "me"}, "read_only_field", "owner"),
        ]
        for body, reason, field in cases:
            with self.subTest(body=body):
                self.error(self.post(body), 422, reason, field)

    def test_unique_violation_409_names_the_field(self):
        self.create(name="u1", code="UNI001")
        self.error(self.post({"name": "u2", "code": "UNI001"}), 409, "unique_violation", "code")
        other = self.create(name="u3", code="UNI002")
        self.error(self.srv.request("PATCH", f"{API}/things/{other['id']}", body=j({"code": "UNI001"}), headers=JSON),
                   409, "unique_violation", "code")
        self.assertEqual(self.get(f"/things/{other['id']}").json()["data"]["code"], "UNI002")

    def test_extra_fields_allowed_are_kept(self):
        r = self.post({"title": "t", "anything": {"goes": [1, None]}, "x": 1}, coll="notes")
        self.assertEqual(r.status, 201, r)
        d = r.json()["data"]
        self.assertEqual(d["anything"], {"goes": [1, None]})
        got = self.get(f"/notes/{d['id']}").json()["data"]
        self.assertEqual(got["anything"], {"goes": [1, None]})
        self.assertEqual(got["x"], 1)
        self.assertNotIn("slug", got)

    def test_malformed_bodies(self):
        bad = [
            b'{"name": "a", "name": "b"}',          # duplicate key
            b'\xef\xbb\xbf{"name": "a"}',            # BOM
            b'{"name": "a"',                         # truncated
            b'{"name": "a"} x',                      # trailing garbage
            b'{"name": "\xff\xfe"}',                 # invalid UTF-8
            b'{"name": "a", "price": 1e400}',        # does not fit a double
            b'{"name": NaN}',
            b"",
            b"[" * 65 + b"]" * 65,                   # 65 levels
            b'{"name":"x","meta":' + b'{"a":' * 64 + b"1" + b"}" * 64 + b"}",
        ]
        for body in bad:
            with self.subTest(body=body[:30]):
                self.error(self.post(body), 400, "invalid_json")
        # 64 levels are fine
        ok = self.post(b'{"name":"deep","meta":' + b'{"a":' * 62 + b"1" + b"}" * 62 + b"}")
        self.assertEqual(ok.status, 201, ok)

    def test_unsupported_media_types_415(self):
        self.error(self.post(j({"name": "x"}), headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
        for other in ("application/merge-patch+json", "application/vnd.api+json", "application/xml"):
            self.error(self.post(j({"name": "x"}), headers={"Content-Type": other}), 415, "unsupported_media_type")
        self.assertEqual(self.post(j({"name": "charset ok"}), headers={"Content-Type": "application/json; charset=utf-8"})
                         .status, 201)
        r = self.srv.raw(b"POST /api/v2/things HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nConnection: close\r\n"
                         b"Authorization: Bearer " + self.token.encode() + b"\r\n\r\n" b'{"name":"x"}')[0]
        self.error(r, 415, "unsupported_media_type")

    def test_nul_and_sql_metacharacters_are_plain_data(self):
        name = "a\u0000b'; DROP TABLE things; --"
        d = self.create(name=name, tags=["\u0000"])
        got = self.get(f"/things/{d['id']}").json()["data"]
        self.assertEqual(got["name"], name)
        self.assertEqual(got["tags"], ["\u0000"])
        q = urllib.parse.quote("'; DROP TABLE things; --")
        r = self.get(f"/things?name={q}")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.get("/things").status, 200)

    def test_path_tricks_and_long_ids(self):
        self.error(self.get("/things/" + "a" * 5000), 404, "not_found")
        self.error(self.get("/things/..%2F..%2Fetc%2Fpasswd"), 404, "not_found")
        self.error(self.get("/things/%00"), 404, "not_found")
        self.error(self.get("/things/a/b"), 404, "not_found")

    # --- lists -----------------------------------------------------------
    def test_pagination_links_and_counts(self):
        for i in range(7):
            self.create(name=f"pg {i}", qty=i, code=f"PGA{i:03d}")
        base = "/things?name[like]=pg*&per_page=3"
        r = self.get(base + "&page=2")
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual(body["pagination"], {"page": 2, "pagesCount": 3, "recordsPerPage": 3, "recordsCount": 7})
        self.assertEqual([x["name"] for x in body["data"]], ["pg 3", "pg 4", "pg 5"])
        self.assertEqual(r.header("X-Total-Count"), "7")
        links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', r.header("Link")))
        self.assertEqual(set(links), {"first", "prev", "next", "last"})
        self.assertTrue(links["next"].startswith("/api/v2/things?"))
        self.assertIn("page=3", links["next"])
        self.assertIn("page=3", links["last"])
        self.assertIn("page=1", links["prev"])
        self.assertIn("name[like]=pg*", urllib.parse.unquote(links["next"]))
        last = self.get(base + "&page=3")
        self.assertEqual(len(last.json()["data"]), 1)
        self.assertNotIn('rel="next"', last.header("Link"))
        first = self.get(base)
        self.assertNotIn('rel="prev"', first.header("Link"))
        # count=false: no totals, no last
        nc = self.get(base + "&count=false")
        self.assertIsNone(nc.header("X-Total-Count"))
        self.assertNotIn("recordsCount", nc.json()["pagination"])
        self.assertNotIn("pagesCount", nc.json()["pagination"])
        self.assertNotIn('rel="last"', nc.header("Link"))
        self.assertIn('rel="next"', nc.header("Link"))

    def test_empty_list(self):
        r = self.get("/things?name=nothing-is-called-this")
        p = r.json()["pagination"]
        self.assertEqual((p["recordsCount"], p["pagesCount"]), (0, 0))
        self.assertEqual(r.json()["data"], [])
        self.assertIn("page=1>; rel=\"last\"", r.header("Link"))
        self.assertIn("page=1>; rel=\"first\"", r.header("Link"))

    def test_default_and_max_page_sizes(self):
        for i in range(25):
            self.create(name=f"size {i}")
        r = self.get("/things?name[like]=size*")
        self.assertEqual(len(r.json()["data"]), 20)
        self.assertEqual(r.json()["pagination"]["recordsPerPage"], 20)
        self.assertEqual(len(self.get("/things?name[like]=size*&per_page=100").json()["data"]), 25)
        for bad in ("per_page=101", "per_page=0", "page=0", "page=-1", "page=x", "per_page=", "count=maybe",
                    "page=1&cursor="):
            with self.subTest(bad=bad):
                self.error(self.get("/things?" + bad), 400, "invalid_parameter")

    def test_unknown_fields_and_operators_400_naming_them(self):
        e = self.error(self.get("/things?colour=red"), 400, "unknown_parameter")
        self.assertIn("colour", e["message"])
        e = self.error(self.get("/things?price[approx]=3"), 400, "unknown_parameter")
        self.assertIn("approx", e["message"])
        self.assertIn("flavour", self.error(self.get("/things?sort=flavour"), 400, "unknown_parameter")["message"])
        self.assertIn("nope", self.error(self.get("/things?fields=id,nope"), 400, "unknown_parameter")["message"])
        self.error(self.get("/things?qty=abc"), 400, "invalid_parameter")
        self.error(self.get("/things?due[gt]=soon"), 400, "invalid_parameter")
        self.error(self.get("/things?done=yes"), 400, "invalid_parameter")
        self.error(self.get("/things?tags=x"), 400, "invalid_parameter")

    def test_filters_with_every_operator(self):
        rows = [("Flt Alpha", 1, "FLA001"), ("flt beta", 5, "FLA002"), ("Flt Gamma*", 9, "FLA003"),
                ("Flt 100% _x", 5, "FLA004")]
        ids = [self.create(name=n, qty=q, code=c, price=q * 1.5, done=q > 4)["id"] for n, q, c in rows]
        def names(query):
            r = self.get("/things?name[like]=flt*&per_page=100&" + query)
            self.assertEqual(r.status, 200, r)
            return sorted(x["name"] for x in r.json()["data"])
        self.assertEqual(names("qty=5"), ["Flt 100% _x", "flt beta"])
        self.assertEqual(names("qty[eq]=5"), ["Flt 100% _x", "flt beta"])
        self.assertEqual(names("qty[ne]=5"), ["Flt Alpha", "Flt Gamma*"])
        self.assertEqual(names("qty[gt]=5"), ["Flt Gamma*"])
        self.assertEqual(names("qty[gte]=5"), ["Flt 100% _x", "Flt Gamma*", "flt beta"])
        self.assertEqual(names("qty[lt]=5"), ["Flt Alpha"])
        self.assertEqual(names("qty[lte]=5"), ["Flt 100% _x", "Flt Alpha", "flt beta"])
        self.assertEqual(names("qty[in]=1,9"), ["Flt Alpha", "Flt Gamma*"])
        self.assertEqual(names("price[gt]=7.4"), ["Flt 100% _x", "Flt Gamma*", "flt beta"])
        self.assertEqual(names("done=true"), ["Flt 100% _x", "Flt Gamma*", "flt beta"])
        self.assertEqual(names("code[in]=FLA001,FLA004"), ["Flt 100% _x", "Flt Alpha"])
        # eq is case-sensitive; like is not
        self.assertEqual(names("name=flt%20beta"), ["flt beta"])
        self.assertEqual(names("name=FLT%20BETA"), [])
        self.assertEqual(names("name[like]=FLT%20B*"), ["flt beta"])
        # `\*` is a literal star; % and _ are literal
        self.assertEqual(names("name[like]=*" + urllib.parse.quote("\\*")), ["Flt Gamma*"])
        self.assertEqual(names("name[like]=*100" + urllib.parse.quote("%") + "*"), ["Flt 100% _x"])
        self.assertEqual(names("name[like]=*_x"), ["Flt 100% _x"])
        self.assertEqual(names("name[like]=f_t*"), [])
        # system fields
        self.assertEqual(names(f"id={ids[0]}"), ["Flt Alpha"])
        self.assertEqual(names("version=1"), sorted(n for n, _, _ in rows))
        created = self.get(f"/things/{ids[0]}").json()["data"]["createdAt"]
        self.assertIn("Flt Alpha", names("createdAt[gte]=" + urllib.parse.quote(created)))

    def test_sort_and_sparse_fields(self):
        for n, q in (("srt a", 2), ("srt b", 1), ("srt c", 2), ("srt d", None)):
            self.create(name=n, qty=q)
        r = self.get("/things?name[like]=srt*&sort=-qty,name&fields=name,qty")
        self.assertEqual(r.status, 200, r)
        data = r.json()["data"]
        self.assertEqual([(x["name"], x["qty"]) for x in data],
                         [("srt a", 2), ("srt c", 2), ("srt b", 1), ("srt d", None)])
        for x in data:
            self.assertEqual(set(x), {"name", "qty"})
        one = self.get("/things?name[like]=srt*&fields=id").json()["data"][0]
        self.assertEqual(set(one), {"id"})
        # ties broken by id in the sort's direction
        asc = [x["name"] for x in self.get("/things?name[like]=srt*&sort=qty").json()["data"]]
        self.assertEqual(asc, ["srt d", "srt b", "srt a", "srt c"])
        desc = [x["name"] for x in self.get("/things?name[like]=srt*&sort=-qty").json()["data"]]
        self.assertEqual(desc, ["srt c", "srt a", "srt b", "srt d"])
        # a list without sort is in creation order
        plain = [x["name"] for x in self.get("/things?name[like]=srt*").json()["data"]]
        self.assertEqual(plain, ["srt a", "srt b", "srt c", "srt d"])
        self.assertEqual(set(self.get("/things?fields=name").json()["data"][0]), {"name"})

    def test_cursor_paging_walks_everything_once(self):
        for i in range(23):
            self.create(name=f"cur {i:02d}", qty=i % 4)
        for sort in ("", "qty", "-qty", "-name", "qty,-name"):
            seen = []
            cursor = ""
            pages = 0
            while True:
                q = f"/things?name[like]=cur*&per_page=5&cursor={cursor}" + (f"&sort={sort}" if sort else "")
                r = self.get(q)
                self.assertEqual(r.status, 200, r)
                body = r.json()
                self.assertNotIn("recordsCount", body["pagination"])
                seen += [x["name"] for x in body["data"]]
                pages += 1
                nxt = body["pagination"].get("nextCursor")
                link = r.header("Link") or ""
                if not nxt:
                    self.assertNotIn('rel="next"', link)
                    break
                self.assertIn('rel="next"', link)
                self.assertNotIn('rel="last"', link)
                cursor = nxt
            self.assertEqual(len(seen), 23, sort)
            self.assertEqual(len(set(seen)), 23, sort)
            self.assertEqual(pages, 5)
            full = [x["name"] for x in self.get("/things?name[like]=cur*&per_page=100" +
                                                    (f"&sort={sort}" if sort else "")).json()["data"]]
            self.assertEqual(seen, full, sort)
        self.error(self.get("/things?cursor=garbage"), 400, "invalid_parameter")
        # a cursor made for one sort is refused under another
        c = self.get("/things?name[like]=cur*&per_page=5&cursor=&sort=qty").json()["pagination"]["nextCursor"]
        self.error(self.get(f"/things?per_page=5&cursor={c}&sort=name"), 400, "invalid_parameter")

    # --- conditional requests ---------------------------------------------
    def test_etags_and_conditional_requests(self):
        d = self.create(name="etag")
        path = f"{API}/things/{d['id']}"
        g = self.srv.request("GET", path)
        etag, lm = g.header("ETag"), g.header("Last-Modified")
        self.assertTrue(etag and lm)
        nm = self.srv.request("GET", path, headers={"If-None-Match": etag})
        self.assertEqual(nm.status, 304)
        self.assertEqual(nm.body, b"")
        self.assertEqual(nm.header("ETag"), etag)
        self.assertEqual(self.srv.request("GET", path, headers={"If-None-Match": '"other"'}).status, 200)
        self.assertEqual(self.srv.request("GET", path, headers={"If-Modified-Since": lm}).status, 304)
        self.assertEqual(self.srv.request("GET", path, headers={"If-Modified-Since": "Tue, 01 Jan 2019 00:00:00 GMT"})
                         .status, 200)
        # If-Match that does not match: 412 and nothing changes
        for m, body in (("PUT", {"name": "no"}), ("PATCH", {"name": "no"}), ("DELETE", None)):
            r = self.srv.request(m, path, body=j(body) if body else None, headers={**JSON, "If-Match": '"stale.1"'})
            self.error(r, 412, "precondition_failed")
        after = self.srv.request("GET", path)
        self.assertEqual(after.json()["data"]["name"], "etag")
        self.assertEqual(after.header("ETag"), etag)
        ok = self.srv.request("PATCH", path, body=j({"name": "yes"}), headers={**JSON, "If-Match": etag})
        self.assertEqual(ok.status, 200)
        self.assertNotEqual(ok.header("ETag"), etag)
        self.error(self.srv.request("DELETE", path, headers={"If-Match": etag}), 412, "precondition_failed")
        self.assertEqual(self.srv.request("DELETE", path, headers={"If-Match": "*"}).status, 200)

    def test_list_etag_changes_with_the_data(self):
        q = f"{API}/things?name[like]=letag*"
        self.create(name="letag 1")
        a = self.srv.request("GET", q)
        self.assertEqual(self.srv.request("GET", q, headers={"If-None-Match": a.header("ETag")}).status, 304)
        d = self.create(name="letag 2")
        b = self.srv.request("GET", q)
        self.assertNotEqual(a.header("ETag"), b.header("ETag"))
        self.srv.request("PATCH", f"{API}/things/{d['id']}", body=j({"qty": 3}), headers=JSON)
        c = self.srv.request("GET", q)
        self.assertNotEqual(b.header("ETag"), c.header("ETag"))
        self.assertEqual(self.srv.request("GET", q, headers={"If-None-Match": c.header("ETag")}).status, 304)

    def test_xml_record_and_list(self):
        import xml.etree.ElementTree as ET
        d = self.create(name="xml <&> thing", tags=["a", "b"])
        x = self.get(f"/things/{d['id']}.xml")
        self.assertEqual(x.header("Content-Type"), "application/xml; charset=utf-8")
        root = ET.fromstring(x.body)
        self.assertEqual(root.find("data/name").text, "xml <&> thing")
        self.assertEqual([e.text for e in root.findall("data/tags/item")], ["a", "b"])
        lst = ET.fromstring(self.get("/things.xml?name[like]=xml*").body)
        self.assertEqual(len(lst.findall("data/thing")), 1)
        self.assertEqual(lst.find("pagination/recordsCount").text, "1")


class Schema(unittest.TestCase):
    @sqlite_only
    def test_tables_columns_indexes_and_wal(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            srv.request("POST", f"{API}/things", body=j({"name": "x"}), headers=JSON)
            db = sqlite3.connect(srv.db_path)
            cols = {r[1]: r[2] for r in db.execute('PRAGMA table_info("things")')}
            self.assertEqual(cols["name"], "TEXT")
            self.assertEqual(cols["qty"], "INTEGER")
            self.assertEqual(cols["price"], "NUMERIC")
            self.assertEqual(cols["due"], "INTEGER")
            self.assertIn("createdAt", cols)
            indexes = [r[1] for r in db.execute('PRAGMA index_list("things")')]
            self.assertIn("things__unique_code", indexes)
            self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            db.close()

    @sqlite_only
    def test_slug_index_is_partial_and_old_full_ones_are_rebuilt(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            a = srv.request("POST", f"{API}/things", body=j({"name": "Same Name"}), headers=JSON).json()["data"]
            srv.stop()
            db = sqlite3.connect(srv.db_path)
            sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'things__unique_slug'").fetchone()[0]
            self.assertIn('WHERE "slug" IS NOT NULL', sql)
            # as an older restd made it: a full index; the next start rebuilds it
            db.executescript('DROP INDEX things__unique_slug; CREATE UNIQUE INDEX things__unique_slug ON things ("slug");')
            db.close()
            srv.start()
            db = sqlite3.connect(srv.db_path)
            sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'things__unique_slug'").fetchone()[0]
            db.close()
            self.assertIn('WHERE "slug" IS NOT NULL', sql)
            b = srv.request("POST", f"{API}/things", body=j({"name": "Same Name"}), headers=JSON).json()["data"]
            self.assertEqual((a["slug"], b["slug"]), ("same-name", "same-name-2"))
            self.assertEqual(srv.request("GET", f"{API}/things/same-name-2").json()["data"]["id"], b["id"])

    def test_migrations(self):
        import subprocess
        from harness import BIN
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            d = srv.request("POST", f"{API}/things", body=j({"name": "old", "qty": 3}), headers=JSON).json()["data"]
            srv.stop()
            # an added field and an added collection are applied; existing records get the default
            added = CONFIG.replace('done  = { type = "boolean" }',
                                   'done  = { type = "boolean" }\nrank = { type = "integer", default = 7 }')
            added += '\n[collections.extra.fields]\nx = { type = "string" }\n'
            with open(srv.config_path, "w") as f:
                f.write(added)
            srv.start()
            got = srv.request("GET", f"{API}/things/{d['id']}").json()["data"]
            self.assertEqual(got["rank"], 7)
            self.assertEqual(got["qty"], 3)
            self.assertEqual(srv.request("GET", f"{API}/extra").status, 200)
            srv.stop()
            # a removed field or a changed type is refused with exit status 2, naming collection and field
            for bad, words in ((added.replace('qty   = { type = "integer", max = 1000 }\n', ""), ["things", "qty"]),
                               (added.replace('qty   = { type = "integer", max = 1000 }',
                                              'qty   = { type = "string" }'), ["things", "qty", "integer", "string"])):
                with open(srv.config_path, "w") as f:
                    f.write(bad)
                p = subprocess.run([BIN, "serve", "--config", srv.config_path, "--storage", srv.storage_url],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, p.stderr)
                for w in words:
                    self.assertIn(w, p.stderr)
                self.assertIn("--allow-destructive-migration", p.stderr)
            # ... unless allowed
            srv.args.append("--allow-destructive-migration")
            srv.start()
            got = srv.request("GET", f"{API}/things/{d['id']}").json()["data"]
            self.assertIsNone(got["qty"])
            self.assertEqual(srv.request("POST", f"{API}/things", body=j({"name": "n", "qty": "now text"}),
                                         headers=JSON).status, 201)


class IndexedFirstPages(unittest.TestCase):
    """`index = true`: the first page of a filtered list sorted on an indexed
    field walks that field's index (docs/records.md "Indexes"), and totals
    are remembered only while nothing changes."""

    CONFIG = """
[server]
listen = "127.0.0.1:0"
access_log = "off"

[collections.listings.fields]
name  = { type = "string" }
state = { type = "string", index = true }
price = { type = "number", index = true }
"""
    N = 3000
    PAGE = f"{API}/listings?state=live&sort=-price&per_page=20"

    def load(self, srv):
        states = ("live", "draft", "sold")
        for b in range(self.N // 1000):
            items = [{"name": f"l{b * 1000 + i}", "state": states[(b * 1000 + i) % 3],
                      "price": ((b * 1000 + i) * 7919) % 10007 / 10} for i in range(1000)]
            self.assertEqual(srv.request("POST", f"{API}/listings", body=j(items), headers=JSON).status, 201)
        return [x for x in srv.request("GET", f"{API}/listings?per_page=100&state=live&sort=-price&count=false")
                .json()["data"]]

    @staticmethod
    def total(srv, path):
        return int(srv.request("GET", path).header("X-Total-Count"))

    def test_the_page_is_filtered_sorted_and_its_total_follows_every_change(self):
        with RestdServer(self.CONFIG) as srv:
            srv.as_admin()
            self.load(srv)
            r = srv.request("GET", self.PAGE)
            self.assertEqual(int(r.header("X-Total-Count")), self.N // 3)
            r = r.json()
            prices = [x["price"] for x in r["data"]]
            self.assertEqual(len(prices), 20)
            self.assertEqual(prices, sorted(prices, reverse=True))
            self.assertTrue(all(x["state"] == "live" for x in r["data"]))
            self.assertEqual(self.total(srv, self.PAGE), self.N // 3)  # asked again
            # A new live listing above every price: first on the page, and counted.
            top = srv.request("POST", f"{API}/listings", body=j({"name": "top", "state": "live", "price": 5000}),
                              headers=JSON).json()["data"]
            self.assertEqual(srv.request("GET", self.PAGE).json()["data"][0]["id"], top["id"])
            self.assertEqual(self.total(srv, self.PAGE), self.N // 3 + 1)
            # Other filters' totals are their own.
            self.assertEqual(self.total(srv, f"{API}/listings?state=sold"), self.N // 3)
            self.assertEqual(self.total(srv, f"{API}/listings?price=5000"), 1)
            self.assertEqual(self.total(srv, f"{API}/listings?price=500.0001"), 0)
            # Leaving the filter, and deleting, count too.
            self.assertEqual(srv.request("PATCH", f"{API}/listings/{top['id']}", body=j({"state": "sold"}),
                                         headers=JSON).status, 200)
            self.assertEqual(self.total(srv, self.PAGE), self.N // 3)
            self.assertEqual(self.total(srv, f"{API}/listings?state=sold"), self.N // 3 + 1)
            self.assertEqual(srv.request("DELETE", f"{API}/listings/{top['id']}").status, 200)
            self.assertEqual(self.total(srv, f"{API}/listings?state=sold"), self.N // 3)

    @sqlite_only
    def test_sqlite_plans_walk_the_sort_index_from_statistics_restd_keeps(self):
        with RestdServer(self.CONFIG) as srv:
            srv.as_admin()
            self.load(srv)  # 3000 changes: past the first thresholds (1,000 and 2,000)
            db = sqlite3.connect(srv.db_path)
            sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'listings__index_price'").fetchone()[0]
            self.assertEqual(sql, 'CREATE INDEX "listings__index_price" ON "listings" ("price", "id")')
            stats = dict(db.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'listings'"))
            rows, per_state, _ = map(int, stats["listings__index_state"].split())
            self.assertGreaterEqual(rows, 2000)
            self.assertGreater(per_state, rows / 6)  # three states: about a third each
            self.assertLess(int(stats["listings__index_price"].split()[1]), 20)  # prices: nearly distinct
            db.close()
            # What a reader plans with those statistics: the price index, no sort.
            srv.stop()
            db = sqlite3.connect(srv.db_path)
            plan = " | ".join(r[3] for r in db.execute(
                'EXPLAIN QUERY PLAN SELECT * FROM "listings" WHERE "state" = ? ORDER BY "price" DESC, "id" DESC '
                'LIMIT 21 OFFSET 0', ("live",)))
            db.close()
            self.assertIn("listings__index_price", plan)
            self.assertNotIn("TEMP B-TREE", plan)


    @postgres_only
    def test_postgres_plans_walk_the_sort_index_backward(self):
        with RestdServer(self.CONFIG) as srv:
            srv.as_admin()
            self.load(srv)
            definition = psql(srv.storage_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'listings__index_price'")
            self.assertIn("(price NULLS FIRST, id)", definition.replace('"', ""))
            psql(srv.storage_url, 'ANALYZE "listings"')  # what autovacuum does as the table grows
            plan = psql(srv.storage_url, 'EXPLAIN SELECT * FROM "listings" WHERE "state" = \'live\' '
                                         'ORDER BY "price" DESC NULLS LAST, "id" DESC LIMIT 21 OFFSET 0')
            self.assertIn("Index Scan Backward using listings__index_price", plan)
            self.assertNotIn("Sort", plan)


class MemoryStorage(unittest.TestCase):
    def test_in_memory_storage_counts_and_revocations_stay_exact(self):
        import subprocess
        import http.client
        from harness import BIN
        p = subprocess.Popen([BIN, "serve", "--demo", "--listen", "127.0.0.1:0", "--storage", "sqlite::memory:"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            port = int(re.search(r":(\d+) ", p.stdout.readline().decode()).group(1))

            def req(method, path, body=None, token=None):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                h = {"Content-Type": "application/json"}
                if token:
                    h["Authorization"] = "Bearer " + token
                c.request(method, API + path, body=body, headers=h)
                r = c.getresponse()
                return r.status, r.getheader("X-Total-Count"), r.read()

            st, _, body = req("POST", "/authenticate", j({"userName": "api", "apiKey": "demo-key", "password": "api"}))
            token = json.loads(body)["data"]["access_token"]
            for n in range(1, 4):
                self.assertEqual(req("POST", "/things", j({"name": f"m{n}"}), token)[0], 201)
                self.assertEqual(req("GET", "/things", token=token)[1], str(n))   # no stale cached total
            self.assertEqual(req("POST", "/logout", b"", token)[0], 200)
            self.assertEqual(req("GET", "/things", token=token)[0], 401)           # no stale cached token
        finally:
            p.terminate()
            p.wait(timeout=10)
            p.stdout.close()
            p.stderr.close()


class InternalErrors(unittest.TestCase):
    def test_a_500_shows_no_internals_and_the_log_has_them_under_the_request_id(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            self.assertEqual(srv.request("GET", f"{API}/things").status, 200)
            kept = srv.request("POST", f"{API}/things", body=j({"name": "kept"}), headers=JSON).json()["data"]["id"]
            srv.sql('DROP TABLE "things"')   # behind the server's back: its SQL now fails
            # Another process's commit reaches idle SQLite snapshots within a
            # few milliseconds (docs/performance.md), not synchronously.
            t0, attempt = time.time(), 0
            while True:
                attempt += 1
                rid = f"boom-{attempt}"
                r = srv.request("GET", f"{API}/things", headers={"X-Request-Id": rid})
                if r.status != 200 or time.time() - t0 > 1.0:
                    break
                time.sleep(0.005)
            self.assertEqual(r.status, 500, r)
            e = r.json()["error"]
            self.assertEqual((e["reason"], e["type"], e["code"]), ("internal", "system", 500))
            text = r.body.decode().lower()
            for leak in ("sqlite", "postgres", "no such table", "does not exist", "select", "things\""):
                self.assertNotIn(leak, text)
            deadline = time.time() + 5
            logged = []
            while time.time() < deadline and not logged:
                logged = [l for l in srv.stderr_lines if f'"requestId":"{rid}"' in l]
                time.sleep(0.05)
            self.assertTrue(logged, srv.stderr_lines)
            self.assertIn("no such table" if ENGINE == "sqlite" else "does not exist", logged[0])
            # A write that cannot read the record it changes is a 500 too, never
            # a 404 that says the record is gone.
            for method, body in (("GET", None), ("PATCH", j({"name": "x"})), ("PUT", j({"name": "x"})),
                                 ("DELETE", None)):
                r = srv.request(method, f"{API}/things/{kept}", body=body, headers=JSON if body else None)
                self.assertEqual((r.status, r.json()["error"]["reason"]), (500, "internal"), method)
            self.assertEqual(srv.request("GET", "/healthz").status, 200)   # and it keeps serving


class ReadSnapshots(unittest.TestCase):
    """Readers keep one SQLite read transaction across requests (docs/performance.md):
    it must end at every commit of the server, at every write by another
    process, and must not hold back WAL checkpoints."""

    def test_own_writes_are_read_back_at_once(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            d = srv.request("POST", f"{API}/things", body=j({"name": "v0"}), headers=JSON).json()["data"]
            for n in range(1, 40):
                self.assertEqual(srv.request("GET", f"{API}/things/{d['id']}").status, 200)   # holds a snapshot
                r = srv.request("PATCH", f"{API}/things/{d['id']}", body=j({"name": f"v{n}"}), headers=JSON)
                self.assertEqual(r.status, 200, r)
                got = srv.request("GET", f"{API}/things/{d['id']}").json()["data"]
                self.assertEqual((got["name"], got["version"]), (f"v{n}", n + 1))

    @sqlite_only
    def test_other_processes_writes_are_seen_promptly(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            d = srv.request("POST", f"{API}/things", body=j({"name": "before"}), headers=JSON).json()["data"]
            self.assertEqual(srv.request("GET", f"{API}/things/{d['id']}").json()["data"]["name"], "before")
            db = sqlite3.connect(srv.db_path)
            db.execute('UPDATE "things" SET "name" = \'after\' WHERE "id" = ?', (d["id"],))
            db.commit()
            db.close()
            t0 = time.time()
            while srv.request("GET", f"{API}/things/{d['id']}").json()["data"]["name"] != "after":
                self.assertLess(time.time() - t0, 1.0, "another process's commit was not seen")
                time.sleep(0.005)

    @sqlite_only
    def test_idle_snapshots_do_not_hold_back_checkpoints(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            # Basic credentials are cached after the first check, so the writes
            # below read nothing: the reader from this GET idles in its snapshot.
            basic = {"Authorization": "Basic " + base64.b64encode(b"root:root-password").decode(), **JSON}
            self.assertEqual(srv.request("GET", f"{API}/things", headers=basic).status, 200)
            self.assertEqual(srv.request("GET", f"{API}/things").status, 200)
            for b in range(25):
                items = [{"name": f"bulk {b}-{i}", "meta": {"pad": "x" * 1000}} for i in range(400)]
                r = srv.request("POST", f"{API}/things", body=j(items), headers=basic)
                self.assertEqual(r.status, 201, r)
            # ~10,000 records, far more than SQLite's 1000-page auto-checkpoint:
            # the WAL is reset and reused instead of holding every frame.
            wal = os.path.getsize(srv.db_path + "-wal")
            self.assertLess(wal, 8 * 1024 * 1024, wal)
            self.assertEqual(srv.request("GET", f"{API}/things?per_page=1").header("X-Total-Count"), "10000")


class StorageFailure(unittest.TestCase):
    @sqlite_only
    def test_read_only_or_vanished_database_gives_502_and_recovers(self):
        with RestdServer(CONFIG) as srv:
            srv.as_admin()
            d = srv.request("POST", f"{API}/things", body=j({"name": "kept"}), headers=JSON).json()["data"]
            os.chmod(srv.db_path, 0o444)
            time.sleep(0.3)
            r = srv.request("POST", f"{API}/things", body=j({"name": "refused"}), headers=JSON)
            self.assertEqual(r.status, 502, r)
            e = r.json()["error"]
            self.assertEqual((e["reason"], e["type"]), ("storage_unavailable", "system"))
            self.assertNotIn("sqlite", r.body.decode().lower())
            self.assertEqual(srv.request("GET", "/readyz").status, 503)
            os.chmod(srv.db_path, 0o644)
            time.sleep(0.3)
            self.assertEqual(srv.request("GET", "/readyz").status, 200)
            os.rename(srv.db_path, srv.db_path + ".gone")
            time.sleep(0.3)
            self.assertEqual(srv.request("GET", f"{API}/things/{d['id']}").status, 502)
            self.assertEqual(srv.request("POST", f"{API}/things", body=j({"name": "lost?"}), headers=JSON).status, 502)
            os.rename(srv.db_path + ".gone", srv.db_path)
            time.sleep(0.3)
            self.assertEqual(srv.request("GET", f"{API}/things/{d['id']}").status, 200)
            self.assertEqual(srv.request("POST", f"{API}/things", body=j({"name": "back"}), headers=JSON).status, 201)
            names = [x["name"] for x in srv.request("GET", f"{API}/things").json()["data"]]
            self.assertEqual(names, ["kept", "back"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
