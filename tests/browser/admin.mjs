// The admin UI (/_/) in a real browser (Debian's chromium, headless), for
// tests/e2e/test_browser.py. Arguments: one JSON object {base, user,
// password, apiKey, token, screenshots}. Signs in, sees a field error,
// creates, edits, filters, sorts, watches a live update, deletes; saves a
// screenshot of each screen and prints one JSON object of what it saw.
import { launchChromium } from "./browser.mjs";

const { base, user, password, apiKey, token, screenshots } = JSON.parse(process.argv[2]);
const browser = await launchChromium();
const out = { requests: [], consoleErrors: [], failedLoads: [], pageErrors: [] };
const rows = async (page) => page.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => tr.innerText));
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("request", (r) => out.requests.push(r.url()));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // Chromium's own line for a fetch answered 4xx (a 422 the form shows) is not the page's error.
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) out.failedLoads.push(m.text());
    else out.consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  page.on("dialog", (d) => { out.dialog = d.message(); d.accept(); });

  await page.goto(base + "/_/");
  await page.waitForSelector("form.signin");
  await page.screenshot({ path: `${screenshots}/admin-sign-in.png` });
  await page.fill("input[name=userName]", user);
  await page.fill("input[name=apiKey]", apiKey);
  await page.fill("input[name=password]", "wrong");
  await page.click("form.signin button[type=submit]");
  await page.waitForSelector("form.signin .error:not(:empty)");
  out.signInError = await page.locator("form.signin .error").innerText();
  await page.fill("input[name=password]", password);
  await page.click("form.signin button[type=submit]");
  await page.waitForSelector("main h1");
  out.heading = await page.locator("main h1").innerText();
  out.collections = await page.locator("nav li").allInnerTexts();
  out.who = await page.locator("header .who").innerText();

  // A create the server refuses: each 422 beside its field.
  await page.click("text=New thing");
  await page.waitForSelector("form.record-form");
  await page.fill("#field-price", "-1");
  await page.click("form.record-form button[type=submit]");
  await page.waitForSelector("#error-name:not(:empty)");
  out.fieldErrors = { name: await page.locator("#error-name").innerText(), price: await page.locator("#error-price").innerText() };
  await page.screenshot({ path: `${screenshots}/admin-field-errors.png` });

  // Create two, then the list.
  await page.fill("#field-name", "Lamp");
  await page.fill("#field-price", "12.5");
  await page.click("form.record-form button[type=submit]");
  await page.waitForSelector("tbody tr");
  await page.click("text=New thing");
  await page.fill("#field-name", "Chair");
  await page.click("form.record-form button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 2);
  out.afterCreate = await rows(page);
  await page.screenshot({ path: `${screenshots}/admin-list.png` });

  // Edit Lamp.
  await page.locator("tbody tr", { hasText: "Lamp" }).locator("text=Edit").click();
  await page.waitForSelector("form.record-form");
  await page.fill("#field-name", "Lamp, brass");
  await page.screenshot({ path: `${screenshots}/admin-edit.png` });
  await page.click("form.record-form button[type=submit]");
  await page.waitForSelector("tbody tr >> text=Lamp, brass");
  out.afterEdit = await rows(page);

  // Sort by name, both ways.
  await page.click("th >> text=name");
  await page.waitForFunction(() => location.hash.includes("sort=name"));
  await page.waitForFunction(() => document.querySelector("th")?.parentElement.innerText.includes("▲"));
  out.sortedUp = await rows(page);
  await page.click("th >> text=name");
  await page.waitForFunction(() => location.hash.includes("sort=-name"));
  await page.waitForFunction(() => document.querySelector("thead").innerText.includes("▼"));
  out.sortedDown = await rows(page);

  // Filter: name like Lamp*.
  await page.selectOption("select[name=field]", "name");
  await page.selectOption("select[name=op]", "like");
  await page.fill("input[name=value]", "Lamp*");
  await page.click("form.filters button[type=submit]");
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 1);
  out.filtered = await rows(page);
  await page.screenshot({ path: `${screenshots}/admin-filtered.png` });
  await page.click("button.chip");
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 2);

  // A write from elsewhere shows up by itself (the change feed).
  await page.waitForTimeout(500);
  const r = await fetch(base + "/api/v2/things", {
    method: "POST", headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "Table, from elsewhere" }),
  });
  out.elsewhereStatus = r.status;
  await page.waitForSelector("tbody tr >> text=Table, from elsewhere", { timeout: 10000 });
  out.live = await page.locator("#live").innerText();

  // Delete Chair, confirming.
  await page.locator("tbody tr", { hasText: "Chair" }).locator("text=Delete").click();
  await page.waitForFunction(() => ![...document.querySelectorAll("tbody tr")].some((tr) => tr.innerText.includes("Chair")));
  out.afterDelete = await rows(page);
  await page.screenshot({ path: `${screenshots}/admin-after-delete.png` });

  // Paging: 25 more records (one batch from elsewhere), 20 a page.
  const batch = Array.from({ length: 25 }, (_, i) => ({ name: `Stool ${String(i).padStart(2, "0")}` }));
  await fetch(base + "/api/v2/things", {
    method: "POST", headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify(batch),
  });
  await page.waitForFunction(() => document.querySelector(".pager span")?.innerText.includes("27 records"));
  out.page1 = { rows: (await rows(page)).length, pager: await page.locator(".pager span").innerText() };
  await page.click("text=Next ›");
  await page.waitForFunction(() => document.querySelector(".pager span")?.innerText.startsWith("Page 2"));
  out.page2 = { rows: (await rows(page)).length, pager: await page.locator(".pager span").innerText() };
  await page.screenshot({ path: `${screenshots}/admin-page-2.png` });

  const uiToken = await page.evaluate(() => sessionStorage.getItem("restd-admin-token"));
  out.storedToken = uiToken !== null;
  // Accounts, read-only.
  await page.click("nav >> text=Users");
  await page.waitForSelector("table.accounts");
  out.users = await rows(page);
  await page.screenshot({ path: `${screenshots}/admin-users.png` });
  await page.click("nav >> text=API keys");
  await page.waitForFunction(() => document.querySelector("main h1")?.innerText === "API keys");
  out.keys = await rows(page);

  out.tokenInUrl = out.requests.some((u) => (uiToken && u.includes(uiToken)) || /access_token=/.test(u));

  // Sign out: the token is forgotten by the page and revoked by the server.
  await page.click("header >> text=Sign out");
  await page.waitForSelector("form.signin");
  out.storedAfterSignOut = await page.evaluate(() => sessionStorage.getItem("restd-admin-token"));
  const me = await fetch(base + "/api/v2/me", { headers: { Authorization: "Bearer " + uiToken } });
  out.oldTokenLoggedIn = (await me.json()).data.logged_in;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
