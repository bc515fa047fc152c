// Validates every object of a manifest against the Kubernetes API's OpenAPI
// schema, offline (kubectl needs a server even for --dry-run=client):
// kubernetes-models' validators, pinned in tools/node/package.json.
//   node validate-manifest.mjs NODE_TOOLS_DIR MANIFEST
// Prints "valid KIND NAME" or "invalid KIND NAME: what" a line; exits 1 on any
// invalid object. Types, enums and required fields are checked; unknown fields
// are not (the schemas allow them), so oci-spec.py refuses unknown keys in the
// security context itself.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const [toolsDir, manifest] = process.argv.slice(2);
const require = createRequire(resolve(toolsDir, "package.json"));
const YAML = require("yaml");
let bad = 0;
for (const doc of YAML.parseAllDocuments(readFileSync(manifest, "utf8"))) {
  if (doc.errors.length) {
    console.log(`invalid YAML: ${doc.errors[0].message}`);
    bad++;
    continue;
  }
  const obj = doc.toJS();
  if (!obj) continue;
  const name = `${obj.kind} ${obj.metadata?.name}`;
  // core objects under v1/, the others under GROUP/VERSION/: both are apiVersion
  const mod = `kubernetes-models/${obj.apiVersion}/${obj.kind}`;
  let Model;
  try {
    Model = require(mod)[obj.kind];
  } catch (e) {
    console.log(`invalid ${name}: no schema for ${obj.apiVersion} ${obj.kind}`);
    bad++;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`valid ${name}`);
  } catch (e) {
    console.log(`invalid ${name}: ${e.message}`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
