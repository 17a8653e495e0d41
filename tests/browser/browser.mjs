// Debian's chromium, headless, for the browser tests (playwright-core drives it).
import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],  // the tests run as root
  });
}
