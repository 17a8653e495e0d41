// Checks that the replies the end-to-end tests received agree with the
// OpenAPI documents of the servers that sent them (run by tests/e2e/harness.py
// when a test module ends):
//
//   node check_replies.mjs DIR
//
// DIR holds docs/N.json (one server's /openapi.json each) and replies.jsonl
// (one JSON object a line: doc, method, path, status, body). A reply whose
// path and method name an operation must have a status that the operation
// documents, and a JSON body valid against that status's schema. Replies to
// paths the document has no operation for (404s of unknown collections,
// 405s) are skipped. Prints one line per disagreement; exit 1 if any.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const dir = process.argv[2];
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
addFormats(ajv);

const docs = new Map();
for (const name of readdirSync(join(dir, "docs"))) {
  const id = name.replace(/\.json$/, "");
  const doc = JSON.parse(readFileSync(join(dir, "docs", name), "utf8"));
  const key = `urn:restd:doc:${id}`;
  ajv.addSchema({ $id: key, components: doc.components }, key);
  // Literal paths before templated ones: "/things/events" is not "/things/{id}".
  const templates = Object.keys(doc.paths)
    .map((t) => ({ t, params: (t.match(/\{/g) || []).length,
                   re: new RegExp("^" + t.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}]+\\?\}/g, "[^/]+") + "$") }))
    .sort((a, b) => a.params - b.params);
  const base = (doc.servers && doc.servers[0] && doc.servers[0].url) || "";
  docs.set(id, { doc, key, templates, base: base === "/" ? "" : base });
}

function resolve(doc, obj) {
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, "").split("/");
    obj = parts.reduce((o, p) => (o ? o[p] : undefined), doc);
  }
  return obj;
}

function schemaKeyOf(key, schema) {
  if (schema && schema.$ref) return key + schema.$ref;
  return null;
}

const validators = new Map();
function validatorFor(entry, schema) {
  const ref = schemaKeyOf(entry.key, schema);
  const cacheKey = ref || entry.key + JSON.stringify(schema);
  if (!validators.has(cacheKey)) {
    // An inline schema's "#/components/..." refs point into its document.
    const inline = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${entry.key}#/components/`));
    validators.set(cacheKey, ref ? ajv.getSchema(ref) : ajv.compile({ $id: `urn:restd:inline:${validators.size}`, ...inline }));
  }
  return validators.get(cacheKey);
}

let failures = 0, checked = 0;
const lines = readFileSync(join(dir, "replies.jsonl"), "utf8").split("\n").filter(Boolean);
for (const line of lines) {
  const r = JSON.parse(line);
  const entry = docs.get(String(r.doc));
  if (!entry) continue;
  let path = r.path.split("?")[0];
  if (entry.base && !path.startsWith(entry.base)) continue;
  path = path.slice(entry.base.length) || "/";
  let found = entry.templates.find((t) => t.re.test(path));
  if (!found && path.endsWith(".json")) {
    path = path.slice(0, -5) || "/";
    found = entry.templates.find((t) => t.re.test(path));
  }
  if (!found) continue;
  const op = entry.doc.paths[found.t][r.method.toLowerCase()];
  if (!op) continue;
  checked++;
  const where = `${r.method} ${r.path} -> ${r.status}`;
  const response = resolve(entry.doc, op.responses[String(r.status)]);
  if (!response) {
    failures++;
    console.log(`${where}: status not documented for ${r.method} ${found.t}`);
    continue;
  }
  const media = response.content && response.content["application/json"];
  if (!media) continue;
  const validate = validatorFor(entry, media.schema);
  if (!validate(r.body)) {
    failures++;
    const e = validate.errors[0];
    console.log(`${where}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)} in ${JSON.stringify(r.body).slice(0, 300)}`);
  }
}
console.log(`checked ${checked} replies against the OpenAPI documents: ${failures} disagreements`);
process.exit(failures ? 1 : 0);
