// Drives the embeddable lookup widget in headless Chromium (the system's /usr/bin/chromium,
// through playwright-core, which downloads no browser).
//
//   node tests/browser/lookup.mjs <app_url> <allowed_portal_url> <refused_portal_url> <screenshot_dir> <id> <name>
//
// The portal pages (served by the Rust test from other ports) embed the iframe page and the
// script. On the allowed portal a lookup through each shows the masked status; on the refused
// portal (an origin not in cors_origins) the script's request is blocked by the browser and the
// widget shows the error, while the iframe (same origin as the app) still works. Prints one JSON
// line with what it saw; exits non-zero on the first expectation that fails.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [appUrl, allowedPortal, refusedPortal, shots, id, name] = process.argv.slice(2);
if (!shots || !name) {
  console.error("usage: lookup.mjs <app_url> <allowed_portal_url> <refused_portal_url> <screenshot_dir> <id> <name>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const TIMEOUT = 15000;
const seen = {};

function expect(ok, message) {
  if (!ok) throw new Error(message);
}

async function lookupIn(scope, label) {
  await scope.locator("input[name=id_number]").fill(id);
  await scope.locator("input[name=name]").fill(name);
  await scope.locator("button[type=submit]").click();
  const result = scope.locator(".result[data-state]");
  await result.waitFor({ timeout: TIMEOUT });
  const state = await result.getAttribute("data-state");
  const text = (await result.innerText()).replace(/\s+/g, " ").trim();
  seen[label] = { state, text };
  return { state, text };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
let failed = null;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const console_errors = [];
  page.on("console", (m) => { if (m.type() === "error") console_errors.push(m.text()); });

  // The allowed portal: the script widget and the iframe both find the person.
  await page.goto(allowedPortal, { waitUntil: "load" });
  const script = await lookupIn(page.locator("#script-widget"), "allowed_script");
  expect(script.state === "found", `script widget on the allowed portal: ${script.text}`);
  // The iframe posts its height on load and again when the result makes it taller; the portal
  // page sizes the iframe from those messages.
  const posted = () => page.evaluate(() => Number(document.getElementById("lookup-frame").dataset.posted || 0));
  await page.waitForFunction(() => Number(document.getElementById("lookup-frame").dataset.posted || 0) > 0,
    null, { timeout: TIMEOUT });
  const before = await posted();
  const frame = page.frameLocator("#lookup-frame");
  const framed = await lookupIn(frame.locator("#canbao-lookup"), "allowed_iframe");
  expect(framed.state === "found", `iframe on the allowed portal: ${framed.text}`);
  await page.waitForFunction((h) => Number(document.getElementById("lookup-frame").dataset.posted || 0) > h,
    before, { timeout: TIMEOUT });
  seen.iframe_height = { before, after: await posted() };
  // The portal's hostile CSS did not reach into the widget.
  seen.widget_font_size = await page.locator("#script-widget h2").evaluate((h) => getComputedStyle(h).fontSize);
  expect(seen.widget_font_size === "18px", `portal CSS leaked into the widget: font-size ${seen.widget_font_size}`);
  seen.result_style = await page.locator("#script-widget .result dd").first()
    .evaluate((d) => `${getComputedStyle(d).fontSize} ${getComputedStyle(d).color}`);
  expect(seen.result_style === "15px rgb(31, 41, 51)", `portal CSS leaked into the result: ${seen.result_style}`);
  await page.screenshot({ path: join(shots, "lookup-allowed-portal.png"), fullPage: true });

  // The refused portal: the browser blocks the script's cross-origin answer.
  await page.goto(refusedPortal, { waitUntil: "load" });
  const refused = await lookupIn(page.locator("#script-widget"), "refused_script");
  expect(refused.state === "error" && refused.text.includes("无法连接"), `script widget on the refused portal: ${refused.text}`);
  seen.refused_console = console_errors.some((e) => /CORS|Access-Control/i.test(e));
  await page.screenshot({ path: join(shots, "lookup-refused-portal.png"), fullPage: true });
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
if (failed) {
  console.error(String(failed && failed.stack || failed));
  process.exit(1);
}
