// Validates a speedscope file against speedscope's own published schema
// (dist/release/file-format-schema.json of the speedscope npm package), then
// checks what a viewer relies on beyond the schema: frame indices in range,
// one weight per sample, endValue equal to the sum of the weights.
// usage: node speedscope-check.mjs FILE [EXPECTED_TOTAL_WEIGHT]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(join(process.env.PODFLAME_NODE_TOOLS, 'package.json'));
const Ajv = require('ajv');
const schemaPath = join(dirname(require.resolve('speedscope/package.json')),
    'dist/release/file-format-schema.json');
const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
const doc = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
if (!validate(doc)) {
    console.error('schema:', ajv.errorsText(validate.errors));
    process.exit(1);
}
let total = 0;
const nframes = doc.shared.frames.length;
for (const p of doc.profiles) {
    if (p.samples.length !== p.weights.length) throw new Error(`${p.name}: samples and weights differ in length`);
    let sum = 0;
    for (let i = 0; i < p.samples.length; i++) {
        for (const f of p.samples[i]) if (f < 0 || f >= nframes) throw new Error(`${p.name}: frame ${f} out of range`);
        sum += p.weights[i];
    }
    if (sum !== p.endValue - p.startValue) throw new Error(`${p.name}: weights sum ${sum}, endValue ${p.endValue}`);
    total += sum;
}
if (process.argv[3] !== undefined && total !== Number(process.argv[3])) {
    console.error(`total weight ${total}, expected ${process.argv[3]}`);
    process.exit(1);
}
console.log(`speedscope ok: ${doc.profiles.length} profiles, ${nframes} frames, total ${total}`);
