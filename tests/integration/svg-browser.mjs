// Opens a podflame SVG in headless Chromium (Debian's) and uses it as a
// person would: click a frame and check the zoom, search with Ctrl-F and
// check the matched share, reset.
// usage: node svg-browser.mjs FILE.svg FRAME_NAME EXPECTED_PCT
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(join(process.env.PODFLAME_NODE_TOOLS, 'package.json'));
const { chromium } = require('playwright-core');
const [file, frameName, expectedPct] = process.argv.slice(2);
const fail = (m) => { console.error('svg-browser: ' + m); process.exit(1); };

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(file).href);
    const W = await page.evaluate(() => +document.documentElement.getAttribute('width'));

    // click the frame: it must fill the width, its ancestors dim, reset appears
    const g = page.locator(`#frames > g[data-name="${frameName}"]`).first();
    if (!(await g.count())) fail(`no frame named ${frameName}`);
    const before = +(await g.locator('rect').getAttribute('width'));
    await g.locator('rect').click({ force: true });
    const after = +(await g.locator('rect').getAttribute('width'));
    if (Math.abs(after - (W - 20)) > 0.5) fail(`zoomed frame is ${after} px wide, not ${W - 20} (was ${before})`);
    if (await page.locator('#unzoom.hide').count()) fail('Reset Zoom did not appear');
    const hidden = await page.locator('#frames > g.hide').count();
    await page.locator('#unzoom').click({ force: true });
    const restored = +(await g.locator('rect').getAttribute('width'));
    if (Math.abs(restored - before) > 0.01) fail(`reset gave ${restored} px, not ${before}`);

    // Ctrl-F, type the name, read the matched percentage
    page.once('dialog', (d) => d.accept('^' + frameName + '$'));
    await page.keyboard.press('Control+f');
    await page.waitForFunction(() => document.getElementById('matched').textContent.startsWith('Matched'));
    const shown = await page.locator('#matched').textContent();
    const pct = +(await page.locator('#matched').getAttribute('data-matched'));
    if (Math.abs(pct - Number(expectedPct)) > 0.05) fail(`search matched ${pct}%, expected ${expectedPct}%`);
    const purple = await page.locator('#frames rect[fill="rgb(230,0,230)"]').count();
    if (!purple) fail('no frame highlighted');
    // hover shows details
    await g.locator('rect').hover({ force: true });
    const details = await page.locator('#details').textContent();
    if (!details.includes(frameName)) fail(`details line shows '${details}'`);
    if (errors.length) fail('page errors: ' + errors.join('; '));
    console.log(`browser ok: zoom hid ${hidden} frames, search shows "${shown}", details "${details.trim()}"`);
} finally {
    await browser.close();
}
