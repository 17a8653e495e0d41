"""Batch writes with per-item failures, 207 partial mode and Idempotency-Key
(SPEC §5), over real sockets."""
import json
import os
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import RestdServer  # noqa: E402

API = "/api/v2"
JSON = {"Content-Type": "application/json"}

CONFIG = """
[server]
listen = "127.0.0.1:0"
threads = 2
max_batch_items = 1000
access_log = "off"

[collections.things]
slug_from = "name"

[collections.things.fields]
name = { type = "string", required = true }
code = { type = "string", unique = true }
qty  = { type = "integer", min = 0 }
"""


def j(x):
    return json.dumps(x).encode()


class Batch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = RestdServer(CONFIG)
        cls.srv.start()
        cls.srv.as_admin()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def post(self, body, query="", headers=None):
        return self.srv.request("POST", f"{API}/things{query}", body=j(body), headers={**JSON, **(headers or {})})

    def count(self, query=""):
        return int(self.srv.request("GET", f"{API}/things?per_page=1{query}").header("X-Total-Count"))

    def names(self, prefix):
        r = self.srv.request("GET", f"{API}/things?per_page=100&name[like]={urllib.parse.quote(prefix)}*")
        return [x["name"] for x in r.json()["data"]]

    # --- create many --------------------------------------------------------
    def test_create_many_in_request_order(self):
        r = self.post([{"name": "bc a"}, {"name": "bc b", "qty": 2}, {"name": "bc c"}])
        self.assertEqual(r.status, 201, r)
        body = r.json()
        self.assertEqual([x["name"] for x in body["data"]], ["bc a", "bc b", "bc c"])
        self.assertEqual(body["meta"]["receivedItemsCount"], 3)
        self.assertEqual(body["meta"]["validItems"], [0, 1, 2])
        self.assertEqual(body["meta"]["invalidItems"], [])
        self.assertNotIn("failures", body)
        ids = [x["id"] for x in body["data"]]
        self.assertEqual(ids, sorted(ids))

    def test_atomic_failure_saves_nothing_and_reports_each_item(self):
        before = self.count()
        r = self.post([{"name": "at ok"}, {"qty": -1}, {"name": "at ok 2", "bogus": 1}, {"name": "at ok 3"}])
        self.assertEqual(r.status, 422, r)
        body = r.json()
        self.assertEqual(body["error"]["reason"], "batch_invalid")
        self.assertEqual(body["error"]["type"], "content")
        self.assertEqual(body["error"]["message"], "2 of 4 items are invalid")
        self.assertEqual(body["meta"]["receivedItemsCount"], 4)
        self.assertEqual(body["meta"]["validItems"], [0, 3])
        self.assertEqual(body["meta"]["invalidItems"], [1, 2])
        f1, f2 = body["failures"]
        self.assertEqual(f1["index"], 1)
        self.assertEqual(f1["rawData"], {"qty": -1})
        self.assertEqual([(e["field"], e["reason"]) for e in f1["errors"]],
                         [("name", "field_required"), ("qty", "field_rule")])
        self.assertEqual(f2["index"], 2)
        self.assertEqual(f2["errors"][0]["reason"], "unknown_field")
        self.assertEqual(f2["errors"][0]["field"], "bogus")
        self.assertIn("info", f2["errors"][0])
        self.assertEqual(self.count(), before)

    def test_thousand_items_with_one_bad_in_the_middle(self):
        before = self.count()
        items = [{"name": f"k{i}", "qty": i} for i in range(1000)]
        items[500] = {"name": "k500", "qty": "five hundred"}
        t0 = time.time()
        r = self.post(items)
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.json()["meta"]["invalidItems"], [500])
        self.assertEqual(len(r.json()["meta"]["validItems"]), 999)
        self.assertEqual(r.json()["failures"][0]["errors"][0]["field"], "qty")
        self.assertEqual(self.count(), before)
        items[500]["qty"] = 500
        r = self.post(items)
        self.assertEqual(r.status, 201)
        self.assertEqual(len(r.json()["data"]), 1000)
        self.assertEqual(self.count(), before + 1000)
        self.assertLess(time.time() - t0, 10)

    def test_non_atomic_partial_207_all_201_none_422(self):
        r = self.post([{"name": "na 1"}, {"qty": 1}, {"name": "na 2"}], query="?atomic=false")
        self.assertEqual(r.status, 207, r)
        body = r.json()
        self.assertEqual([x["name"] for x in body["data"]], ["na 1", "na 2"])
        self.assertEqual(body["meta"]["validItems"], [0, 2])
        self.assertEqual(body["meta"]["invalidItems"], [1])
        self.assertEqual(body["failures"][0]["index"], 1)
        self.assertEqual(self.names("na "), ["na 1", "na 2"])
        self.assertEqual(self.post([{"name": "na 3"}], query="?atomic=false").status, 201)
        none = self.post([{"qty": 1}, {"qty": 2}], query="?atomic=false")
        self.assertEqual(none.status, 422)
        self.assertEqual(none.json()["error"]["reason"], "batch_invalid")
        self.assertEqual(self.names("na "), ["na 1", "na 2", "na 3"])

    def test_uniqueness_against_the_store_and_within_the_batch(self):
        self.assertEqual(self.post({"name": "u0", "code": "U-1"}).status, 201)
        r = self.post([{"name": "u1", "code": "U-1"}, {"name": "u2", "code": "U-2"}, {"name": "u3", "code": "U-2"}])
        self.assertEqual(r.status, 422)
        body = r.json()
        self.assertEqual(body["meta"]["invalidItems"], [0, 2])   # the later of the repeated pair fails
        self.assertEqual([f["errors"][0]["reason"] for f in body["failures"]], ["unique_violation"] * 2)
        self.assertEqual(body["failures"][1]["errors"][0]["field"], "code")
        self.assertEqual(self.count("&code=U-2"), 0)
        r = self.post([{"name": "u2", "code": "U-2"}, {"name": "u3", "code": "U-2"}], query="?atomic=false")
        self.assertEqual(r.status, 207)
        self.assertEqual(self.count("&code=U-2"), 1)

    def test_bad_batches(self):
        before = self.count()
        self.assertEqual(self.post([]).json()["error"]["reason"], "empty_batch")
        self.assertEqual(self.post([]).status, 422)
        r = self.post([{"name": "ok"}, "not an object", 3], query="?atomic=false")
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json()["meta"]["invalidItems"], [1, 2])
        self.assertEqual(self.post("a string").status, 400)
        too_many = self.post([{"name": "x"}] * 1001)
        self.assertEqual(too_many.status, 413)
        self.assertEqual(too_many.json()["error"]["reason"], "payload_too_large")
        self.assertEqual(self.post([{"name": "x"}], query="?atomic=maybe").status, 400)
        self.assertEqual(self.count(), before)

    # --- update many --------------------------------------------------------
    def test_patch_many(self):
        made = self.post([{"name": "pm 1", "qty": 1}, {"name": "pm 2", "qty": 2}]).json()["data"]
        a, b = made[0]["id"], made[1]["id"]
        r = self.srv.request("PATCH", f"{API}/things", body=j([{"id": b, "qty": 20}, {"id": a, "qty": 10}]), headers=JSON)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual([(x["id"], x["qty"], x["version"]) for x in body["data"]], [(b, 20, 2), (a, 10, 2)])
        self.assertEqual(body["meta"]["validItems"], [0, 1])
        # an unknown id is that item's failure; atomic: nothing changes
        ghost = "thing_01jdq6x9k8f3t5v7w2y4z6a8b0"
        r = self.srv.request("PATCH", f"{API}/things", body=j([{"id": a, "qty": 11}, {"id": ghost, "qty": 1}]),
                             headers=JSON)
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json()["failures"][0]["errors"][0]["reason"], "not_found")
        self.assertEqual(self.srv.request("GET", f"{API}/things/{a}").json()["data"]["qty"], 10)
        r = self.srv.request("PATCH", f"{API}/things?atomic=false",
                             body=j([{"id": a, "qty": 11}, {"id": ghost, "qty": 1}, {"id": b, "qty": -5}]), headers=JSON)
        self.assertEqual(r.status, 207)
        self.assertEqual(r.json()["meta"]["invalidItems"], [1, 2])
        self.assertEqual(self.srv.request("GET", f"{API}/things/{a}").json()["data"]["qty"], 11)
        # repeated ids and items without ids refuse the whole batch
        for bad in ([{"id": a, "qty": 1}, {"id": a, "qty": 2}], [{"qty": 1}], [5], {"id": a}):
            r = self.srv.request("PATCH", f"{API}/things?atomic=false", body=j(bad), headers=JSON)
            self.assertIn(r.status, (400, 422), bad)
        self.assertEqual(self.srv.request("GET", f"{API}/things/{a}").json()["data"]["qty"], 11)
        self.assertEqual(self.srv.request("PATCH", f"{API}/things", body=b"[]", headers=JSON).json()["error"]["reason"],
                         "empty_batch")

    # --- delete many --------------------------------------------------------
    def test_delete_many_by_body_or_query(self):
        made = [x["id"] for x in self.post([{"name": f"dm {i}"} for i in range(5)]).json()["data"]]
        r = self.srv.request("DELETE", f"{API}/things", body=j(made[:2]), headers=JSON)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"], [{"id": made[0], "deleted": True}, {"id": made[1], "deleted": True}])
        r = self.srv.request("DELETE", f"{API}/things?ids={made[3]},{made[2]}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([x["id"] for x in r.json()["data"]], [made[3], made[2]])
        ghost = "thing_01jdq6x9k8f3t5v7w2y4z6a8b0"
        r = self.srv.request("DELETE", f"{API}/things?ids={made[4]},{ghost}")
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json()["failures"][0]["rawData"], ghost)
        self.assertEqual(self.names("dm "), ["dm 4"])
        r = self.srv.request("DELETE", f"{API}/things?ids={made[4]},{ghost}&atomic=false")
        self.assertEqual(r.status, 207)
        self.assertEqual(self.names("dm "), [])
        self.assertEqual(self.srv.request("DELETE", f"{API}/things?ids=").json()["error"]["reason"], "empty_batch")
        self.assertEqual(self.srv.request("DELETE", f"{API}/things?ids=a,a").status, 422)

    # --- idempotency ----------------------------------------------------------
    def test_idempotent_retry_replays_the_stored_reply(self):
        h = {"Idempotency-Key": "order-42"}
        first = self.post({"name": "idem once"}, headers=h)
        self.assertEqual(first.status, 201)
        self.assertIsNone(first.header("Idempotent-Replayed"))
        again = self.post({"name": "idem once"}, headers=h)
        self.assertEqual(again.status, 201)
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        self.assertEqual(again.body, first.body)                      # byte for byte
        self.assertEqual(again.header("Location"), first.header("Location"))
        self.assertNotEqual(again.header("X-Request-Id"), first.header("X-Request-Id"))
        self.assertEqual(self.names("idem once"), ["idem once"])
        reused = self.post({"name": "something else"}, headers=h)
        self.assertEqual(reused.status, 422)
        self.assertEqual(reused.json()["error"]["reason"], "idempotency_key_reused")
        # batches and PATCH too
        hb = {"Idempotency-Key": "batch-7"}
        b1 = self.post([{"name": "idem b1"}, {"name": "idem b2"}], headers=hb)
        b2 = self.post([{"name": "idem b1"}, {"name": "idem b2"}], headers=hb)
        self.assertEqual(b1.body, b2.body)
        self.assertEqual(self.names("idem b"), ["idem b1", "idem b2"])
        rid = first.json()["data"]["id"]
        p1 = self.srv.request("PATCH", f"{API}/things/{rid}", body=j({"qty": 1}), headers={**JSON, "Idempotency-Key": "p"})
        p2 = self.srv.request("PATCH", f"{API}/things/{rid}", body=j({"qty": 1}), headers={**JSON, "Idempotency-Key": "p"})
        self.assertEqual(p2.header("Idempotent-Replayed"), "true")
        self.assertEqual(self.srv.request("GET", f"{API}/things/{rid}").json()["data"]["version"], 2)

    def test_keys_are_per_user_and_stored_in_the_database(self):
        key = self.srv.api_key("second")
        self.srv.add_user("other", "writer", "pw")
        token = self.srv.login("other", "pw", key)
        h = {"Idempotency-Key": "shared-key"}
        a = self.post({"name": "idem user a"}, headers=h)
        b = self.post({"name": "idem user b"}, headers={**h, "Authorization": "Bearer " + token})
        self.assertEqual((a.status, b.status), (201, 201))
        self.assertIsNone(b.header("Idempotent-Replayed"))
        self.assertEqual(self.srv.sql("SELECT count(*) FROM _restd_idempotency WHERE key = 'shared-key'"), [("2",)])

    def test_concurrent_requests_with_one_key_never_both_write(self):
        results = []
        lock = threading.Lock()

        def go():
            r = self.post([{"name": "race"}, {"name": "race"}], headers={"Idempotency-Key": "race-key"})
            with lock:
                results.append(r)
        threads = [threading.Thread(target=go) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(all(r.status == 201 for r in results), [r.status for r in results])
        self.assertEqual(len({r.body for r in results}), 1)
        self.assertEqual(sum(r.header("Idempotent-Replayed") == "true" for r in results), 7)
        self.assertEqual(self.names("race"), ["race", "race"])

    def test_replays_survive_a_restart(self):
        first = self.post({"name": "idem restart"}, headers={"Idempotency-Key": "k-restart"})
        self.srv.stop()
        self.srv.start()
        again = self.post({"name": "idem restart"}, headers={"Idempotency-Key": "k-restart"})
        self.assertEqual(again.body, first.body)
        self.assertEqual(again.header("Idempotent-Replayed"), "true")


if __name__ == "__main__":
    unittest.main(verbosity=2)
