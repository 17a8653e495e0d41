// /docs in a real browser (Debian's chromium, headless), for
// tests/e2e/test_browser.py. Arguments: one JSON object {base, token,
// screenshots}. Loads the page, records every request and console error,
// authorizes with the token, runs "Try it out" on GET /me, saves
// screenshots, and prints one JSON object of what it saw.
import { launchChromium } from "./browser.mjs";

const { base, token, screenshots } = JSON.parse(process.argv[2]);
const browser = await launchChromium();
const out = { requests: [], consoleErrors: [], pageErrors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("request", (r) => out.requests.push(r.url()));
  page.on("console", (m) => { if (m.type() === "error") out.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  await page.goto(base + "/docs", { waitUntil: "networkidle" });
  await page.waitForSelector(".opblock-tag", { timeout: 20000 });
  out.title = await page.locator(".information-container .title").first().innerText();
  out.tags = await page.locator(".opblock-tag").allInnerTexts();
  out.operations = await page.locator(".opblock-summary-path").allInnerTexts();
  await page.screenshot({ path: `${screenshots}/docs.png`, fullPage: false });

  // Authorize: the bearer scheme, with the token (kept in the page's memory).
  await page.locator("button.authorize").first().click();
  const dialog = page.locator(".dialog-ux");
  await dialog.locator("input").first().fill(token);
  await dialog.locator("button.authorize").first().click();
  await dialog.locator("button.close-modal").click();

  // Try it out: GET /me against this server.
  const me = page.locator("#operations-auth-getMe");
  await me.locator(".opblock-summary").click();
  await me.locator("button.try-out__btn").click();
  await me.locator("button.execute").click();
  const live = me.locator(".live-responses-table tbody");
  await live.locator(".response-col_status").first().waitFor({ timeout: 10000 });
  out.meStatus = (await live.locator(".response-col_status").first().innerText()).trim();
  out.meBody = await live.locator(".response-col_description pre").first().innerText();
  await live.locator(".response-col_description pre").first().scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${screenshots}/docs-try-it.png` });
  out.authHeaderInUrl = out.requests.some((u) => u.includes(token));
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
