// Checks a podflame SVG flame graph the way a reader would measure it:
// every frame's box is as wide as its sample count says, the root spans the
// image, children fit inside their parent, the script's functions exist.
// usage: node svg-check.mjs FILE.svg EXPECTED_TOTAL
import { readFileSync } from 'node:fs';

const svg = readFileSync(process.argv[2], 'utf8');
const expected = Number(process.argv[3]);
const fail = (m) => { console.error('svg-check: ' + m); process.exit(1); };
const W = Number(/<svg [^>]*width="(\d+)"/.exec(svg)[1]);
const total = Number(/data-total="(\d+)"/.exec(svg)[1]);
if (total !== expected) fail(`data-total ${total}, expected ${expected}`);
for (const fn of ['function zoom', 'function reset', 'function search', 'keydown'])
    if (!svg.includes(fn)) fail(`script lacks ${fn}`);
const re = /<g data-name="[^"]*"><title>(.*?) \((\d+) [^,]*, ([\d.]+)%[^)]*\)<\/title><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"/g;
const frames = [];
for (let m; (m = re.exec(svg));)
    frames.push({ name: m[1], n: +m[2], pct: +m[3], x: +m[4], y: +m[5], w: +m[6] });
if (!frames.length) fail('no frames');
const per = (W - 20) / total;
let worst = 0;
for (const f of frames) {
    worst = Math.max(worst, Math.abs(f.w - f.n * per));
    if (Math.abs(f.pct - 100 * f.n / total) > 0.006) fail(`${f.name}: ${f.pct}% for ${f.n} samples`);
}
if (worst > 0.011) fail(`a frame's width is off by ${worst} px`);
const root = frames.find((f) => f.name === 'all');
if (!root || root.n !== total || Math.abs(root.w - (W - 20)) > 0.011) fail('root frame does not span the graph');
// children inside parents: sum of widths per row never exceeds the root
const rows = new Map();
for (const f of frames) rows.set(f.y, (rows.get(f.y) || 0) + f.n);
for (const [y, n] of rows) if (n > total) fail(`row at y=${y} holds ${n} samples of ${total}`);
console.log(`svg ok: ${frames.length} frames, total ${total}, width error <= ${worst.toFixed(4)} px`);
