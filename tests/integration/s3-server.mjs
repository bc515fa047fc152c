// An S3-compatible server for the agent's tests, on loopback: s3rver (npm)
// stores the objects, and a front of our own checks every request's AWS
// Signature V4 before passing it on, because s3rver 3 accepts any V4
// signature of a known key. Only the front's port is used by clients.
//
// usage: node s3-server.mjs DATA_DIR BUCKET ACCESS_KEY SECRET PORTFILE LOG [PORT]
// Every request is logged to LOG as "METHOD PATH STATUS". V2 listings are
// answered by the front (s3rver 3 loses deep common prefixes and cannot
// make continuation tokens on Node 20). While the file
// DATA_DIR/.delay-ms exists, PUTs are held that many milliseconds first
// (a slow server, to kill an agent in the middle of an upload).
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.PODFLAME_NODE_TOOLS, 'package.json'));
const S3rver = require('s3rver');
const [dataDir, bucket, accessKey, secret, portFile, logFile, port] = process.argv.slice(2);

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

function s3error(res, code, status, message) {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  return status;
}

// Returns null when the request is signed right, else [code, message].
function verify(req, body) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
    req.headers.authorization || '');
  if (!m) return ['AccessDenied', 'no AWS4-HMAC-SHA256 authorization'];
  const [, key, date, region, signed, signature] = m;
  if (key !== accessKey) return ['InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  const amzDate = req.headers['x-amz-date'] || '';
  if (!amzDate.startsWith(date)) return ['AccessDenied', 'x-amz-date does not match the credential scope'];
  const payload = req.headers['x-amz-content-sha256'];
  if (!payload) return ['InvalidRequest', 'Missing required header for this request: x-amz-content-sha256'];
  if (payload !== 'UNSIGNED-PAYLOAD' && payload !== sha256(body))
    return ['XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.'];
  const names = signed.split(';');
  if (!names.includes('host') || !names.includes('x-amz-content-sha256'))
    return ['AccessDenied', 'host and x-amz-content-sha256 must be signed'];
  const url = new URL(req.url, 'http://front');
  const query = [...url.searchParams].map(([k, v]) => [enc(k), enc(v)]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const headers = names.map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, url.pathname, query, headers, signed, payload].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/s3/aws4_request`, sha256(canonical)].join('\n');
  const k = ['aws4_request'].reduce((acc, part) => hmac(acc, part), hmac(hmac(hmac('AWS4' + secret, date), region), 's3'));
  if (hmac(k, toSign).toString('hex') !== signature)
    return ['SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
  return null;
}

const backend = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: dataDir,
  serviceEndpoint: 'localhost', configureBuckets: [{ name: bucket, configs: [] }],
});
const { port: backendPort } = await backend.run();

// GET from the backend with the client's own headers (s3rver takes any
// signature of a known key); resolves to [status, body].
function backendGet(path, headers) {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: backendPort, method: 'GET', path, headers }, (ur) => {
      const parts = [];
      ur.on('data', (c) => parts.push(c));
      ur.on('end', () => resolve([ur.statusCode, Buffer.concat(parts).toString('utf8')]));
    });
    r.on('error', reject);
    r.end();
  });
}

const xmlEscape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const xmlUnescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

// ListObjectsV2, as S3 answers it. s3rver 3 prunes the folders below a
// common prefix before it sees their keys, so it reports no common prefix
// deeper than one level, and its continuation tokens fail on Node 20; the
// front lists every key under the prefix itself, folds them at the
// delimiter, and answers in pages of max-keys.
async function listV2(req, res, url) {
  const prefix = url.searchParams.get('prefix') || '', delim = url.searchParams.get('delimiter');
  const contents = [], prefixes = new Set();
  // ListObjects (V1) pages after a marker: s3rver 3's V2 continuation
  // tokens need DES, which Node 20's OpenSSL 3 no longer has (a 500)
  let marker = '';
  for (;;) {
    const q = new URLSearchParams({ prefix });
    if (marker) q.set('marker', marker);
    const [status, xml] = await backendGet(`${url.pathname}?${q}`, req.headers);
    if (status !== 200) {
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(xml);
      return status;
    }
    let last = '';
    for (const m of xml.matchAll(/<Contents>(.*?)<\/Contents>/gs)) {
      const key = xmlUnescape((/<Key>(.*?)<\/Key>/s.exec(m[1]) || [])[1] || '');
      const size = (/<Size>(\d+)<\/Size>/.exec(m[1]) || [])[1] || '0';
      const at = delim ? key.slice(prefix.length).indexOf(delim) : -1;
      if (at === -1) contents.push([key, size]);
      else prefixes.add(key.slice(0, prefix.length + at + delim.length));
      last = key;
    }
    if (!/<IsTruncated>true<\/IsTruncated>/.test(xml) || !last) break;
    marker = last;
  }
  // pages of max-keys entries (keys and prefixes in one order, as S3
  // counts them), the offset as continuation token
  const maxKeys = Math.min(Number(url.searchParams.get('max-keys') || 1000), 1000);
  const from = Number(url.searchParams.get('continuation-token') || 0);
  const all = [...contents.map(([k, n]) => [k, n]), ...[...prefixes].map((p) => [p, null])]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const page = all.slice(from, from + maxKeys), more = from + maxKeys < all.length;
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>${bucket}</Name><Prefix>${xmlEscape(prefix)}</Prefix>${delim ? `<Delimiter>${xmlEscape(delim)}</Delimiter>` : ''}` +
    `<KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${more}</IsTruncated>` +
    (more ? `<NextContinuationToken>${from + maxKeys}</NextContinuationToken>` : '') +
    page.filter(([, n]) => n !== null).map(([k, n]) => `<Contents><Key>${xmlEscape(k)}</Key><Size>${n}</Size></Contents>`).join('') +
    page.filter(([, n]) => n === null).map(([p]) => `<CommonPrefixes><Prefix>${xmlEscape(p)}</Prefix></CommonPrefixes>`).join('') +
    '</ListBucketResult>';
  res.writeHead(200, { 'content-type': 'application/xml' });
  res.end(body);
  return 200;
}

const front = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const log = (status) => appendFileSync(logFile, `${req.method} ${req.url} ${status}\n`);
    const bad = verify(req, body);
    if (bad) return log(s3error(res, bad[0], 403, bad[1]));
    const delayFile = join(dataDir, '.delay-ms');
    if (req.method === 'PUT' && existsSync(delayFile))
      await new Promise((r) => setTimeout(r, Number(readFileSync(delayFile, 'utf8')) || 0));
    const url = new URL(req.url, 'http://front');
    if (req.method === 'GET' && url.searchParams.get('list-type') === '2') {
      try {
        return log(await listV2(req, res, url));
      } catch (e) {
        return log(s3error(res, 'InternalError', 500, e.message));
      }
    }
    const up = request({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
      log(ur.statusCode);
    });
    up.on('error', (e) => log(s3error(res, 'InternalError', 500, e.message)));
    up.end(body);
  });
});
front.listen(Number(port || 0), '127.0.0.1', () => writeFileSync(portFile, String(front.address().port)));
process.on('SIGTERM', () => process.exit(0));
