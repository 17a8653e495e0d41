"""Golden tests of the seven envelope profiles (SPEC §6): for each profile and
each kind of reply, tests/golden/PROFILE/KIND.json holds a request and the
expected status, reason phrase, content type and body. Volatile values are
placeholders: "<id:thing>", "<id:user>", "<date:rfc3339>", "<date:rfc2822>",
"<date:compact>", "<token>", "<requestId>", "<cursor>". Every case runs twice:
as JSON (compared to the file) and as XML (parsed, well-formedness checked,
and compared structurally with the same expectation mapped by SPEC §6's
XML rules).

Regenerate after an intended change, then review the diff:
    RESTD_BIN=build/restd python3 tests/e2e/test_profiles.py --regenerate
"""
import json
import os
import re
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
from harness import RestdServer  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden")
API = "/api/v2"
# The cases and their setting are data, shared with tests/unit/api/golden_test.cpp.
with open(os.path.join(GOLDEN, "cases.json")) as _f:
    _GOLDEN_CASES = json.load(_f)
CONFIG = _GOLDEN_CASES["config"]
PROFILES = _GOLDEN_CASES["profiles"]
# kind -> request (paths may use {id}: a fixture record, or {fresh}: a new one made for this case)
CASES = _GOLDEN_CASES["cases"]

PATTERNS = {
    "<id:thing>": r"thing_[0-7][0-9a-hjkmnp-tv-z]{25}",
    "<id:user>": r"user_[0-7][0-9a-hjkmnp-tv-z]{25}",
    "<date:rfc3339>": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?[+-]\d\d:\d\d",
    "<date:rfc2822>": r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}",
    "<date:compact>": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}",
    "<token>": r"[0-9a-f]{40}",
    "<requestId>": r"[0-9a-z]{20}",
    "<cursor>": r"[A-Za-z0-9_-]{8,}",
}


def placeholder_for(value):
    """The placeholder a volatile string value becomes when regenerating."""
    for ph in ("<id:thing>", "<id:user>", "<date:rfc3339>", "<date:rfc2822>", "<date:compact>", "<token>"):
        if re.fullmatch(PATTERNS[ph], value):
            return ph
    return None


def generalise(v, key=None):
    if isinstance(v, dict):
        return {k: generalise(x, k) for k, x in v.items()}
    if isinstance(v, list):
        return [generalise(x, key) for x in v]
    if isinstance(v, str):
        if key == "requestId":
            return "<requestId>"
        if key == "nextCursor":
            return "<cursor>"
        ph = placeholder_for(v)
        if ph:
            return ph
        # ids inside messages ("Your thing (id: …) was deleted")
        return re.sub(PATTERNS["<id:thing>"], "<id:thing>", v)
    return v


def matches(expected, actual):
    if isinstance(expected, dict):
        return isinstance(actual, dict) and list(expected) == list(actual) and all(
            matches(expected[k], actual[k]) for k in expected)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            matches(e, a) for e, a in zip(expected, actual))
    if isinstance(expected, str) and isinstance(actual, str):
        if expected in PATTERNS:
            return re.fullmatch(PATTERNS[expected], actual) is not None
        if "<id:thing>" in expected:
            rx = re.escape(expected).replace(re.escape("<id:thing>"), PATTERNS["<id:thing>"])
            return re.fullmatch(rx, actual) is not None
        return expected == actual
    return type(expected) is type(actual) and expected == actual


# --- the XML mapping of SPEC §6, as an independent implementation -------------
ITEM_NAMES = {"failures": "failure", "errors": "error", "details": "detail", "things": "thing"}


def is_record(x):
    return isinstance(x, dict) and ("id" in x or "idx" in x) and ("name" in x or "deleted" in x or len(x) == 1)


def expected_xml(value, tag, attrs=None):
    """Builds the element the JSON `value` becomes under the element named `tag`."""
    el = ET.Element(tag, attrs or {})
    fill(el, value, tag)
    return el


def fill(el, value, key):
    if isinstance(value, dict):
        for k, v in value.items():
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9._-]*", k) and not k.lower().startswith("xml"):
                child = ET.SubElement(el, k)
            else:
                child = ET.SubElement(el, "entry", {"key": k})
            fill(child, v, k)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and len(item) == 1 and "thing" in item and key == "things":
                name, item = "thing", item["thing"]   # request-result wraps each record in its singular
            elif is_record(item):
                name = "thing"
            else:
                name = ITEM_NAMES.get(key, "item")
            child = ET.SubElement(el, name)
            fill(child, item, name)
    elif value is None:
        el.set("nil", "true")
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    else:
        el.text = str(value)


def same_tree(exp, act, path=""):
    where = f"{path}/{act.tag}"
    if exp.tag != act.tag.split("}")[-1]:
        return f"{where}: expected <{exp.tag}>"
    if exp.get("key") != act.get("key") or exp.get("nil") != act.get("nil"):
        return f"{where}: attributes {dict(act.attrib)} != {dict(exp.attrib)}"
    ek, ak = list(exp), list(act)
    if len(ek) != len(ak):
        return f"{where}: {len(ak)} children, expected {len(ek)} ({[c.tag for c in ek]} vs {[c.tag for c in ak]})"
    if not ek and not matches(exp.text or "", act.text or ""):
        if not (exp.text in ("True", "False") and act.text in ("true", "false")):
            return f"{where}: text {act.text!r} != {exp.text!r}"
    for e, a in zip(ek, ak):
        problem = same_tree(e, a, where)
        if problem:
            return problem
    return None


class Profiles(unittest.TestCase):
    regenerate = False

    @classmethod
    def setUpClass(cls):
        cls.srv = RestdServer(CONFIG)
        cls.srv.start()
        cls.key = cls.srv.api_key("golden")
        cls.srv.add_user("api", "admin", "api")
        cls.token = cls.srv.login("api", "api", cls.key)
        for record in _GOLDEN_CASES["records"]:
            r = cls.post("/things", record)
            assert r.status == 201, r
        cls.fixture = cls.post("/things", _GOLDEN_CASES["fixture"]).json()["data"]["id"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    @classmethod
    def post(cls, path, body):
        return cls.srv.request("POST", API + path, body=json.dumps(body),
                               headers={"Content-Type": "application/json", "Authorization": "Bearer " + cls.token})

    def run_case(self, profile, case, xml):
        path = case["path"].replace("{id}", self.fixture)
        if "{fresh}" in path:
            fresh = self.post("/things", _GOLDEN_CASES["fresh"]).json()["data"]["id"]
            path = path.replace("{fresh}", fresh)
        sep = "&" if "?" in path else "?"
        path = API + path + f"{sep}envelope={profile}"
        headers = {"Accept": "application/xml" if xml else "application/json"}
        if not case.get("anonymous"):
            headers["Authorization"] = "Bearer " + case.get("token", self.token)
        body = None
        if "body" in case:
            body = json.dumps(case["body"])
            headers["Content-Type"] = "application/json"
        if "form" in case:
            body = case["form"].replace("{key}", self.key)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if case["method"] in ("POST", "PATCH", "PUT", "DELETE") and body is None:
            body = ""
        return self.srv.request(case["method"], path, body=body, headers=headers)

    def test_every_profile_and_reply_kind(self):
        checked = 0
        for profile in PROFILES:
            for kind, case in CASES.items():
                file = os.path.join(GOLDEN, profile, kind + ".json")
                with self.subTest(profile=profile, kind=kind):
                    r = self.run_case(profile, case, xml=False)
                    if self.regenerate:
                        os.makedirs(os.path.dirname(file), exist_ok=True)
                        golden = {"request": case, "status": r.status, "reason": r.reason,
                                  "contentType": r.header("Content-Type"), "body": generalise(r.json())}
                        with open(file, "w") as f:
                            json.dump(golden, f, indent=2, ensure_ascii=False)
                            f.write("\n")
                    with open(file) as f:
                        golden = json.load(f)
                    self.assertEqual(r.status, golden["status"])
                    self.assertEqual(r.reason, golden["reason"])
                    self.assertEqual(r.header("Content-Type"), golden["contentType"])
                    self.assertTrue(matches(golden["body"], r.json()),
                                    f"\nexpected {json.dumps(golden['body'])}\nactual   {r.body.decode()}")
                    # XML: well-formed, same status, same tree
                    x = self.run_case(profile, case, xml=True)
                    self.assertEqual(x.status, golden["status"])
                    self.assertIn("xml", x.header("Content-Type"))
                    root = ET.fromstring(x.body)
                    exp_body = golden["body"]
                    if profile == "request-result":
                        exp_body = exp_body["response"]   # the root element is <response> itself
                    if root.tag == "{urn:ietf:rfc:7807}problem":
                        expected = expected_xml(exp_body, "problem")
                    else:
                        expected = expected_xml(exp_body, "response")
                    problem = same_tree(expected, root)
                    self.assertIsNone(problem, f"{profile}/{kind} XML: {problem}\n{x.body.decode()[:600]}")
                    checked += 1
        self.assertEqual(checked, len(PROFILES) * len(CASES))

    def test_seed_000_error_and_success_layouts(self):
        r = self.srv.request("GET", API + "/things.json?envelope=request-result")
        body = r.json()["response"]
        self.assertEqual(body["request"]["resource"], "/things.json")
        self.assertEqual(body["request"]["status"], {
            "flag": "error", "code": 401,
            "info": "Please include the access_token parameter in your requests. You can obtain one using the "
                    "/api/v2/authenticate endpoint: /docs/errors#token_missing"})
        self.assertNotIn("result", body)
        self.assertRegex(body["request"]["date"], PATTERNS["<date:rfc2822>"])
        self.assertTrue(body["request"]["date"].endswith("-0300"))

    def test_seed_001_reason_phrases_and_dates(self):
        r = self.srv.request("GET", API + "/things", headers={"X-Envelope": "success-flag",
                                                              "Authorization": "Bearer " + "0" * 40})
        self.assertEqual((r.status, r.reason), (401, "Please renew your access_token"))
        self.assertEqual(r.json(), {"success": False, "statusMessage": "Please renew your access_token"})
        r = self.srv.request("GET", API + "/things", headers={"X-Envelope": "success-flag"})
        self.assertEqual(r.reason, "Please include the access_token parameter in your requests. You can obtain one "
                                   "using the /api/v2/authenticate endpoint")
        me = self.srv.request("GET", API + "/me?envelope=success-flag")
        self.assertEqual(me.json(), {"success": True, "statusMessage": "you are not logged in", "logged_in": False})
        rec = self.srv.request("GET", f"{API}/things/{self.fixture}?envelope=success-flag",
                               headers={"Authorization": "Bearer " + self.token}).json()
        self.assertRegex(rec["createdAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0300$")

    def test_envelope_parameter_beats_the_header(self):
        r = self.srv.request("GET", API + "/me?envelope=plain", headers={"X-Envelope": "data-meta"})
        self.assertEqual(set(r.json()), {"logged_in", "statusMessage"})
        r = self.srv.request("GET", API + "/me?envelope=nope", headers={"X-Envelope": "plain"})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["reason"], "unknown_envelope")   # in the server's default profile

    def test_problem_xml_namespace_and_type(self):
        r = self.srv.request("GET", API + "/things.xml?envelope=problem")
        self.assertEqual(r.header("Content-Type"), "application/problem+xml; charset=utf-8")
        self.assertIn(b'<problem xmlns="urn:ietf:rfc:7807">', r.body)
        r = self.srv.request("GET", API + "/things?envelope=problem")
        self.assertEqual(r.header("Content-Type"), "application/problem+json; charset=utf-8")


class DeclaredDates(unittest.TestCase):
    """A declared datetime field takes the profile's date layout like
    createdAt does, in every reply that holds records: one, a list, a batch."""

    def test_datetime_fields_in_records_lists_and_batches(self):
        config = """
[server]
listen = "127.0.0.1:0"
timezone = "-03:00"
access_log = "off"

[collections.meetings.fields]
title = { type = "string", required = true }
at    = { type = "datetime" }
"""
        compact = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0300$"
        with RestdServer(config) as srv:
            srv.as_admin()
            flag = {"X-Envelope": "success-flag", "Content-Type": "application/json"}
            made = srv.request("POST", API + "/meetings", body=json.dumps(
                [{"title": "a", "at": "2026-12-01T09:30:00Z"}, {"title": "b", "at": "2026-12-02T10:00:00Z"}]),
                headers=flag)
            self.assertEqual(made.status, 201, made.body)
            records = made.json()["meetings"]
            self.assertEqual([r["at"] for r in records], ["2026-12-01T06:30:00-0300", "2026-12-02T07:00:00-0300"])
            listed = srv.request("GET", API + "/meetings?sort=title", headers=flag).json()
            self.assertEqual([r["at"] for r in listed], ["2026-12-01T06:30:00-0300", "2026-12-02T07:00:00-0300"])
            self.assertRegex(listed[0]["createdAt"], compact)
            one = srv.request("GET", f"{API}/meetings/{listed[0]['id']}", headers=flag).json()
            self.assertEqual(one["at"], "2026-12-01T06:30:00-0300")
            plain = srv.request("GET", API + "/meetings?sort=title").json()["data"]
            self.assertEqual(plain[0]["at"], "2026-12-01T06:30:00-03:00")   # standard: RFC 3339 in the zone


if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        sys.argv.remove("--regenerate")
        Profiles.regenerate = True
    unittest.main(verbosity=2)
