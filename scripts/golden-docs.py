#!/usr/bin/env python3
"""Writes docs/profiles/PROFILE.md from the golden test files in tests/golden/,
so the documented replies are exactly the tested ones. Run after regenerating
the golden files: python3 scripts/golden-docs.py"""
import json
import os

ROOT = os.path.join(os.path.dirname(__file__), "..")
GOLDEN = os.path.join(ROOT, "tests", "golden")
OUT = os.path.join(ROOT, "docs", "profiles")

INTRO = {
    "standard": ("restd's own envelope, the default.",
                 "Successes: `{\"data\": …, \"pagination\": {…} (lists), \"failures\": […] (batches), \"meta\": {\"requestId\", \"date\", …}}`. "
                 "Errors: `{\"error\": {error object}, \"meta\": {…}}`. Dates are RFC 3339 in `server.timezone`."),
    "problem": ("RFC 9457 problem details for errors.",
                "Successes are exactly as `standard`. Errors are `application/problem+json` (`application/problem+xml` with "
                "root `<problem xmlns=\"urn:ietf:rfc:7807\">` in XML): `type` (the error reference link), `title` (the "
                "status text), `status`, `detail` (the message), `instance` (the request path), and the extensions "
                "`reason`, `field`, `errors` (one error object per problem), `failures` and batch counts, `requestId`."),
    "request-result": ("From seed 000 (a social-login API's `response` / `request` / `result` layout).",
                       "Every reply is `{\"response\": {\"request\": {date, resource, status: {flag, code}}, \"result\": "
                       "{\"status\": {flag, count}, \"data\": …}}}`. `resource` is the path below `base_path` as requested "
                       "(suffix kept, query dropped); `count` is the number of records in the reply. One record is "
                       "`data: {\"thing\": {…}}`, several are `data: {\"things\": [{\"thing\": {…}}, …]}`. Errors have no "
                       "`result`; their status is `{\"flag\": \"error\", \"code\": …, \"info\": \"MESSAGE: INFO-URL\"}`. "
                       "All dates, the records' included, look like `Tue, 24 Nov 2026 10:00:00 +0000`. In XML the root "
                       "element is `<response>` itself and records are `<things><thing>…</thing></things>`."),
    "success-flag": ("From seed 001 (a social gateway API: bare GETs, `success` flags, reason phrases).",
                     "GET returns the bare record or a bare array (paging in `Link` and `X-Total-Count`). Every other "
                     "success is an object with `success: true` and `statusMessage` plus its payload: `access_token` "
                     "and `expires` for /authenticate, `logged_in` for /me (GET too), the record under its singular for "
                     "writes (`thing created`, `thing updated`), `{\"success\": true, \"statusMessage\": \"thing deleted\", "
                     "\"id\": ID}` for a delete. Errors carry the message as the HTTP reason phrase "
                     "(`HTTP/1.1 401 Please renew your access_token`) and the body is exactly `{\"success\": false, "
                     "\"statusMessage\": MESSAGE}`. Dates look like `2015-02-20T16:32:51-0300`."),
    "plain": ("From seed 002 (a minimal things API).",
              "The bare record or bare array; POST returns the created record with 201; DELETE returns "
              "`{\"code\": 200, \"message\": \"Your thing (id: …) was deleted\"}`. Errors are `{\"code\": STATUS, "
              "\"message\": MESSAGE}` with the messages of the error reference; batch failures add `failures` and the "
              "counts. A 207 batch is `{\"code\": 207, \"message\": \"N of M items are invalid\", \"data\": […], "
              "\"failures\": […]}`."),
    "data-meta": ("From seed 003 (an announcements API with `data` / `meta` / `pagination`).",
                  "`{\"data\": …, \"meta\": {\"code\": STATUS, \"requestId\", \"date\", …}, \"pagination\": {\"total\", "
                  "\"page\", \"perPage\", \"pagesCount\"}}` — pagination on lists only (`nextCursor` in cursor mode, no "
                  "`total` with `count=false`). Record ids are rendered as `idx`. `meta.code` is the reply's status "
                  "(201 on create). Errors: `{\"error\": true, \"message\": MESSAGE, \"meta\": {\"code\": STATUS, \"reason\", "
                  "…}}`, with `failures` for batches."),
    "result-metadata": ("From seed 004 (a bulk API with `result`, `metadata` and `failures`).",
                        "`result` is `success`, `failure` (some or all items failed: `failures` with index, rawData "
                        "and errors) or `error` (`{\"result\": \"error\", \"error\": {error object}}`). Records are listed "
                        "under the collection's name — even one record, even a GET of one; a delete lists `{\"id\": …}` "
                        "objects. `metadata` holds page, pagesCount, recordsPerPage and recordsCount for lists, and "
                        "receivedItemsCount, validItems and invalidItems for writes (a single write counts as a batch "
                        "of one). A 207 partial batch is a `failure` that also lists the records that were saved."),
}

TITLES = {
    "record": "One record: `GET /things/{id}`",
    "list": "A list: `GET /things?per_page=2&sort=name`",
    "list-cursor": "A list in cursor mode: `GET /things?per_page=2&sort=name&cursor=`",
    "created": "Create: `POST /things`",
    "updated": "Update: `PATCH /things/{id}`",
    "deleted": "Delete: `DELETE /things/{id}`",
    "batch-created": "Batch create: `POST /things` with an array",
    "batch-partial": "Partial batch: `POST /things?atomic=false`, one bad item",
    "batch-invalid": "Atomic batch with a bad item: `POST /things`",
    "batch-deleted": "Batch delete: `DELETE /things?ids=…`",
    "authenticate": "`POST /authenticate`",
    "me": "`GET /me` with a token",
    "me-anonymous": "`GET /me` without a token",
    "error-token-missing": "Error: no token",
    "error-token-expired": "Error: unknown or expired token",
    "error-not-found": "Error: unknown record",
    "error-validation": "Error: invalid fields",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for profile in sorted(os.listdir(GOLDEN)):
        intro, rules = INTRO[profile]
        lines = [f"# The `{profile}` profile", "", intro, "", rules, "",
                 f"Select it per request with `?envelope={profile}` or `X-Envelope: {profile}`, or for the whole "
                 f"server with `server.envelope = \"{profile}\"`. Every reply below also exists in XML "
                 "(`Accept: application/xml` or a `.xml` path): the same tree under a `<response>` root.", "",
                 "These examples are the golden test files in `tests/golden/" + profile + "/` (placeholders such as "
                 "`<id:thing>` and `<date:…>` stand for values that change).", ""]
        for kind in TITLES:
            path = os.path.join(GOLDEN, profile, kind + ".json")
            if not os.path.exists(path):
                continue
            g = json.load(open(path))
            lines += [f"## {TITLES[kind]}", "", f"`HTTP/1.1 {g['status']} {g['reason']}` — `Content-Type: {g['contentType']}`",
                      "", "```json", json.dumps(g["body"], indent=2, ensure_ascii=False), "```", ""]
        with open(os.path.join(OUT, profile + ".md"), "w") as f:
            f.write("\n".join(lines))


if __name__ == "__main__":
    main()
