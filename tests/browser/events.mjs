// A browser's EventSource (Debian's chromium, headless) on a restd change
// feed, for tests/e2e/test_browser.py. Arguments: one JSON object {page, feed,
// expect}: the page to open (an allowed origin), the feed URL, and how many
// events to wait for. The Python test writes records and restarts the server
// meanwhile; EventSource reconnects by itself, sending Last-Event-ID. Prints
// what the page saw as JSON.
import { launchChromium } from "./browser.mjs";

const { page: pageUrl, feed, expect } = JSON.parse(process.argv[2]);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  await page.evaluate((feed) => {
    window.seen = [];
    window.opens = 0;
    window.errors = 0;
    const source = new EventSource(feed);
    source.onopen = () => window.opens++;
    source.onerror = () => window.errors++;
    for (const kind of ["created", "updated", "deleted", "reset"])
      source.addEventListener(kind, (e) => window.seen.push({ kind, id: e.lastEventId, data: JSON.parse(e.data) }));
  }, feed);
  console.log(JSON.stringify({ ready: true }));  // the Python side starts writing now
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline && (await page.evaluate(() => window.seen.length)) < expect)
    await new Promise((r) => setTimeout(r, 50));
  console.log(JSON.stringify(await page.evaluate(() => ({ seen: window.seen, opens: window.opens, errors: window.errors }))));
} finally {
  await browser.close();
}
