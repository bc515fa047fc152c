// A Kubernetes API server for `podflame record --kube-api` tests, on
// loopback over HTTPS: GET /api/v1/pods with a bearer token and
// fieldSelector=spec.nodeName=NODE, answered one Pod per page (with
// metadata.continue, as a real server may page below the asked limit).
//
// usage: node fake-kube-api.mjs CERT KEY TOKEN NODE PODS.json PORTFILE LOG [HIDE_FIRST]
// HIDE_FIRST: the first N lists are empty, as if the Pods were not yet
// scheduled. Every request is logged to LOG as "METHOD URL STATUS".
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [cert, key, token, node, podsFile, portFile, logFile, hide] = process.argv.slice(2);
const pods = JSON.parse(readFileSync(podsFile, 'utf8'));
let hideLists = Number(hide || 0);

function status(res, code, message) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code }));
  return code;
}

function answer(req, res) {
  const url = new URL(req.url, 'https://localhost');
  if (req.headers.authorization !== `Bearer ${token}`) return status(res, 401, 'Unauthorized');
  if (req.method !== 'GET' || url.pathname !== '/api/v1/pods') return status(res, 404, 'not found');
  if (url.searchParams.get('fieldSelector') !== `spec.nodeName=${node}`)
    return status(res, 400, `expected fieldSelector spec.nodeName=${node}`);
  const cont = url.searchParams.get('continue');
  let items = pods;
  if (!cont && hideLists > 0) {
    hideLists--;
    items = [];
  }
  const page = cont ? Number(cont.replace('page-', '')) : 0;
  const body = {
    kind: 'PodList',
    apiVersion: 'v1',
    metadata: { resourceVersion: '42', ...(page + 1 < items.length ? { continue: `page-${page + 1}` } : {}) },
    items: items.slice(page, page + 1),
  };
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
  return 200;
}

const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  const code = answer(req, res);
  appendFileSync(logFile, `${req.method} ${req.url} ${code}\n`);
});
server.listen(0, '127.0.0.1', () => writeFileSync(portFile, String(server.address().port)));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
