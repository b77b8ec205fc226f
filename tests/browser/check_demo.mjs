// Load the demo page in Debian's headless Chromium and report what a person would see.
// usage: node check_demo.mjs URL SCREENSHOT.png   → prints one JSON object on stdout
import { chromium } from 'playwright-core';

const [url, screenshot] = process.argv.slice(2);
const result = { responses: [], errors: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--ignore-certificate-errors', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on('response', (r) => result.responses.push({ url: r.url(), status: r.status() }));
  // The protocol of every response, as the browser's network stack saw it ("h2", "http/1.1"),
  // media range requests included.
  result.protocols = [];
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.responseReceived', (e) => result.protocols.push(
    { url: e.response.url, status: e.response.status, protocol: e.response.protocol }));
  page.on('pageerror', (e) => result.errors.push(String(e)));
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  result.status = resp.status();
  result.h1Color = await page.$eval('h1', (h) => getComputedStyle(h).color);
  result.scriptRan = await page.evaluate(() => document.body.dataset.scriptRan === 'yes');
  result.jsStatus = await page.$eval('#js-status', (e) => e.textContent);
  await page.waitForFunction(() => document.querySelector('video').readyState >= 3,
                             null, { timeout: 30000 });
  result.video = await page.evaluate(async () => {
    const v = document.querySelector('video');
    const t0 = v.currentTime;
    await v.play();
    const start = performance.now();
    while (v.currentTime <= t0 + 0.2 && performance.now() - start < 10000)
      await new Promise((r) => setTimeout(r, 50));
    return { readyState: v.readyState, width: v.videoWidth, height: v.videoHeight,
             t0, t1: v.currentTime, error: v.error && v.error.message };
  });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} catch (e) {
  result.errors.push(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
