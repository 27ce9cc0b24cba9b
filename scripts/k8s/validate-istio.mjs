// Validates the Istio resources in a JSON array file against Istio's published CRD schemas, as
// compiled into validators by @kubernetes-models/istio (generated from Istio's
// manifests/charts/base/files/crd-all.gen.yaml; the version is pinned in ensure-k8s-tools.sh).
// Unknown kinds are errors. Exit 1 on the first invalid resource, with the schema errors.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../../.venv/k8s/npm/node_modules/@kubernetes-models/istio");
const docs = JSON.parse(readFileSync(process.argv[2], "utf8"));
let failed = false;
for (const doc of docs) {
  const [group, version] = doc.apiVersion.split("/");
  const where = `${doc.kind} ${doc.metadata?.name}`;
  let Model;
  try {
    const mod = await import(pathToFileURL(join(root, group, version, `${doc.kind}.js`)).href);
    Model = mod[doc.kind];
  } catch (e) {
    console.error(`${where}: no Istio schema for ${doc.apiVersion} ${doc.kind}: ${e.message}`);
    failed = true;
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`${where}: valid against ${doc.apiVersion} ${doc.kind}`);
  } catch (e) {
    console.error(`${where}: INVALID: ${e.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
