// Cross-origin fetches from a real browser (Debian's chromium, headless) to a
// running restd, for tests/e2e/test_browser.py. Arguments: one JSON object
// {api, allowedPage, deniedPage, token}. Prints one JSON object of what the
// page saw; the Python test makes the assertions.
import { launchChromium } from "./browser.mjs";

const { api, allowedPage, deniedPage, token } = JSON.parse(process.argv[2]);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(allowedPage);
  const allowed = await page.evaluate(async ({ api, token }) => {
    const auth = { Authorization: "Bearer " + token };
    const out = {};
    // A write with a JSON body and custom headers: the browser preflights it.
    let r = await fetch(api + "/things", {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json", "Idempotency-Key": "browser-1", "X-Envelope": "standard" },
      body: JSON.stringify({ name: "from a browser" }),
    });
    out.create = { status: r.status, location: r.headers.get("Location"), etag: r.headers.get("ETag"),
                   requestId: r.headers.get("X-Request-Id"), body: await r.json() };
    const id = out.create.body.data.id;
    r = await fetch(api + "/things/" + id, {
      method: "PATCH",
      headers: { ...auth, "Content-Type": "application/merge-patch+json", "If-Match": out.create.etag },
      body: JSON.stringify({ name: "patched" }),
    });
    out.patch = { status: r.status, body: await r.json() };
    r = await fetch(api + "/things?per_page=1", { headers: auth });
    out.list = { status: r.status, etag: r.headers.get("ETag"), link: r.headers.get("Link"),
                 total: r.headers.get("X-Total-Count"), remaining: r.headers.get("X-RateLimit-Remaining"),
                 rateLimit: r.headers.get("RateLimit"), body: await r.json() };
    r = await fetch(api + "/things/" + id, { method: "DELETE", headers: { ...auth, "If-Match": "\"stale\"" } });
    out.stale = { status: r.status, body: await r.json() };
    return out;
  }, { api, token });

  await page.goto(deniedPage);
  const denied = await page.evaluate(async ({ api, token }) => {
    try {
      const r = await fetch(api + "/things", { headers: { Authorization: "Bearer " + token } });
      return { status: r.status };
    } catch (e) {
      return { error: String(e) };
    }
  }, { api, token });
  console.log(JSON.stringify({ allowed, denied }));
} finally {
  await browser.close();
}
