// Drives the registration form (/register) in headless Chromium on a phone-sized viewport (the
// system's /usr/bin/chromium through playwright-core, which downloads no browser).
//
//   node tests/browser/register.mjs <app_url> <screenshot_dir> <valid_id> <offline_id> <draft_id>
//
// 1. A wrong check character shows the inline error before any request is made.
// 2. A valid registration reaches the receipt (screenshots of the form and of the receipt).
// 3. Offline, a submission is queued; back online it is sent, and the receipt shows.
// 4. A reload keeps the draft.
// Prints one JSON line with what it saw (including every POST it observed); exits non-zero on
// the first expectation that fails. The Rust test counts registrations server-side.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [appUrl, shots, validId, offlineId, draftId] = process.argv.slice(2);
if (!draftId) {
  console.error("usage: register.mjs <app_url> <screenshot_dir> <valid_id> <offline_id> <draft_id>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const TIMEOUT = 15000;
const seen = { posts: [] };
function expect(ok, message) { if (!ok) throw new Error(message); }

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: "zh-CN" });
  const page = await context.newPage();
  page.on("request", (r) => { if (r.method() === "POST") seen.posts.push(r.url()); });
  const open = async () => {
    await page.goto(appUrl + "/register");
    await page.waitForSelector("body[data-ready='1']", { timeout: TIMEOUT });
  };
  const fill = async (id, name) => {
    await page.fill("#id_number", id);
    await page.fill("#name", name);
    await page.selectOption("#ethnicity", "01");
    const hukou = page.locator('.picker[data-field="hukou_region"] select');
    await hukou.nth(1).selectOption("510402");
    await hukou.nth(2).waitFor({ timeout: TIMEOUT });
    await hukou.nth(2).selectOption("510402001");
    await page.fill("#hukou_address", "四川省攀枝花市东区示例街道一新华街12号");
    await page.fill("#residence_address", "东区示例街道一新华街12号3单元");
    await page.fill("#phone", "138 1234 5678");
    await page.selectOption("#employment_status", "flexible");
    await page.check('input[name=insured][value="yes"]');
    await page.check('#schemes input[value="390"]');
  };

  // 1. Wrong check character: inline error, no request.
  await open();
  const wrong = validId.slice(0, 17) + (validId.endsWith("0") ? "1" : "0");
  await fill(wrong, "张伟");
  await page.click("#submit");
  const idError = await page.locator('.err[data-for="id_number"]').innerText();
  expect(idError.includes("校验不通过"), "no inline check-character error: " + idError);
  expect(seen.posts.length === 0, "a request was sent for an invalid ID");
  seen.wrong_check = idError;

  // 2. A valid registration reaches the receipt; the derived birth date and gender are shown.
  await page.fill("#id_number", validId);
  const derived = await page.locator("#derived").innerText();
  expect(derived.includes(validId.slice(6, 10) + "-"), "birth date not derived: " + derived);
  await page.screenshot({ path: join(shots, "register-form.png"), fullPage: true });
  await page.click("#submit");
  await page.waitForSelector("#receipt:not([hidden])", { timeout: TIMEOUT });
  seen.receipt = (await page.locator("#receipt").innerText()).replace(/\s+/g, " ");
  expect(/回执号 R\d{8}/.test(seen.receipt), "no receipt number: " + seen.receipt);
  expect(seen.receipt.includes("张*"), "no masked name: " + seen.receipt);
  await page.screenshot({ path: join(shots, "register-receipt.png"), fullPage: true });

  // 3. Offline: queued, nothing sent; online again: sent, receipt shown.
  await open();
  await fill(offlineId, "王芳");
  await context.setOffline(true);
  await page.click("#submit");
  await page.waitForSelector("#queued:not([hidden])", { timeout: TIMEOUT });
  seen.queued = await page.locator("#queued").innerText();
  await context.setOffline(false);
  await page.waitForSelector("#receipt:not([hidden])", { timeout: TIMEOUT });
  seen.offline_receipt = (await page.locator("#receipt-id").innerText()).trim();
  await page.waitForTimeout(500);
  await page.reload();
  await page.waitForSelector("body[data-ready='1']", { timeout: TIMEOUT });
  await page.waitForTimeout(500);
  seen.outbox_after = await page.evaluate(() => localStorage.getItem("canbao.register.outbox"));

  // 4. A draft survives a reload.
  await open();
  await page.fill("#id_number", draftId);
  await page.fill("#name", "草稿人");
  await page.fill("#phone", "13900001111");
  await page.reload();
  await page.waitForSelector("body[data-ready='1']", { timeout: TIMEOUT });
  seen.draft = { id: await page.inputValue("#id_number"), name: await page.inputValue("#name"), phone: await page.inputValue("#phone") };
  expect(seen.draft.id === draftId && seen.draft.name === "草稿人", "draft lost: " + JSON.stringify(seen.draft));
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
