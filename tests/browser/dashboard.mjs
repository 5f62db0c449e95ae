// Drives the statistics dashboard (/dashboard) in headless Chromium (the system's
// /usr/bin/chromium through playwright-core, which downloads no browser).
//
//   node tests/browser/dashboard.mjs <app_url> <screenshot_dir> <staff_token>
//
// 1. Desktop: the city's counties render as bars with their target lines; screenshot.
// 2. A click on 东区 drills down to its townships; screenshot.
// 3. A staff token typed in once shows the anomaly counts; a count opens its list; screenshot.
// 4. A 360 px phone shows the county without horizontal scrolling; a 1920 px projector view.
// Prints one JSON line with what it saw; exits non-zero on the first expectation that fails.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [appUrl, shots, staffToken] = process.argv.slice(2);
if (!staffToken) {
  console.error("usage: dashboard.mjs <app_url> <screenshot_dir> <staff_token>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const TIMEOUT = 15000;
const seen = {};
function expect(ok, message) { if (!ok) throw new Error(message); }
const regions = (page) => page.$$eval("#children .row", (rows) => rows.map((r) => r.dataset.region));

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const desk = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: "zh-CN" });
  const page = await desk.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("request", (r) => { if (!r.url().startsWith(appUrl)) errors.push("external request: " + r.url()); });

  // 1. The city.
  await page.goto(appUrl + "/dashboard");
  await page.waitForSelector("#children .row", { timeout: TIMEOUT });
  seen.city_rows = await regions(page);
  expect(!(await page.locator("#signin").isVisible()), "the sign-in form is open before anyone asked for it");
  seen.cards = await page.locator("#cards").innerText();
  seen.target_lines = await page.locator("#children svg line.target").count();
  seen.coverage_rows = await page.locator("#coverage .row").count();
  await page.waitForSelector("#trend svg, #trend .hint", { timeout: TIMEOUT });
  seen.trend_points = await page.locator("#trend circle").count();
  expect(seen.city_rows.includes("510402"), "东区 missing from the city view: " + seen.city_rows);
  expect(seen.target_lines === 2 * seen.city_rows.length, "every county has both target lines");
  expect(seen.cards.includes("登记率") && seen.cards.includes("数据完整率"), "cards: " + seen.cards);
  await page.screenshot({ path: join(shots, "dashboard-city.png"), fullPage: true });

  // 2. Drill down into 东区.
  await page.click('#children .row[data-region="510402"]');
  await page.waitForFunction(() => document.querySelector("#crumbs").innerText.includes("东区"), null, { timeout: TIMEOUT });
  await page.waitForFunction(
    () => [...document.querySelectorAll("#children .row")].some((r) => r.dataset.region.length === 9),
    null,
    { timeout: TIMEOUT },
  );
  seen.county_rows = await regions(page);
  seen.county_title = await page.locator("#children-title").innerText();
  seen.hash = await page.evaluate(() => location.hash);
  expect(seen.county_rows.every((r) => r.startsWith("510402") && r.length === 9), "townships of 东区: " + seen.county_rows);
  await page.screenshot({ path: join(shots, "dashboard-county.png"), fullPage: true });

  // 3. Staff sign-in, anomaly counts and a list.
  seen.anomalies_before = await page.locator("#anomalies").innerText();
  await page.click("#signin-open");
  await page.fill("#token", staffToken);
  await page.click('#signin button[type="submit"]');
  await page.waitForSelector("#anomalies .counts a", { timeout: TIMEOUT });
  seen.counts = await page.$$eval("#anomalies .counts a", (as) => as.map((a) => [a.dataset.type, a.querySelector(".n").innerText]));
  await page.click('#anomalies a[data-type="conflicts"]');
  await page.waitForSelector("#anomaly-list table tbody tr", { timeout: TIMEOUT });
  seen.conflict_rows = await page.locator("#anomaly-list tbody tr").count();
  seen.conflict_heading = await page.locator("#anomaly-list h3").innerText();
  await page.screenshot({ path: join(shots, "dashboard-anomalies.png"), fullPage: true });
  expect(errors.length === 0, "page errors or external requests: " + errors.join("; "));
  await desk.close();

  // 4. Phone and projector.
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: "zh-CN" });
  const small = await phone.newPage();
  await small.goto(appUrl + "/dashboard#region=510402&by=hukou");
  await small.waitForSelector("#children .row", { timeout: TIMEOUT });
  seen.phone_scroll_width = await small.evaluate(() => document.documentElement.scrollWidth);
  expect(seen.phone_scroll_width <= 362, "the phone view scrolls sideways: " + seen.phone_scroll_width);
  await small.screenshot({ path: join(shots, "dashboard-phone.png"), fullPage: true });
  await phone.close();
  const projector = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: "zh-CN" });
  const big = await projector.newPage();
  await big.goto(appUrl + "/dashboard");
  await big.waitForSelector("#children .row", { timeout: TIMEOUT });
  seen.projector_font_px = await big.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
  await big.screenshot({ path: join(shots, "dashboard-projector.png") });
  await projector.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
