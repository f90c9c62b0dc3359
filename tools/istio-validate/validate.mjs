// Checks Istio WasmPlugin manifests against Istio's published CRD schema.
//
//   node validate.mjs FILE.yaml...
//
// The schema check is @kubernetes-models/istio's: models generated from the
// CRDs Istio ships (crd-all.gen.yaml of Istio 1.29.2 for this version), whose
// validate() runs the CRD's openAPIV3Schema compiled with Ajv: types, enums
// (phase, failStrategy, imagePullPolicy, match[].mode, type), required
// fields, patterns (sha256), bounds (ports, priority as int32) and lengths.
// What it does not check, as Kubernetes' API server would: unknown fields
// (kubectl's default strict field validation rejects them) and the CRD's CEL
// rules (x-kubernetes-validations: url scheme, selector or targetRefs).
// tests/tests/istio.rs reads each spec with unknown fields refused, and
// loads each plugin into a real Envoy.
//
// Prints `valid: FILE` or `INVALID: FILE` with the reasons; exits 1 if any
// file is invalid, 2 if no file was given.

import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { WasmPlugin } from "@kubernetes-models/istio/extensions.istio.io/v1alpha1/WasmPlugin";

/** The reasons `file` is not a valid WasmPlugin manifest (none if it is). */
function problems(file) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return [`cannot read: ${e.message}`];
  }
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) {
    return ["no YAML document"];
  }
  const syntax = docs.flatMap((d) => [...d.errors, ...d.warnings]).map((e) => e.message);
  if (syntax.length > 0) {
    return syntax;
  }
  if (docs.length !== 1) {
    return [`${docs.length} YAML documents; one WasmPlugin per file`];
  }
  const manifest = docs[0].toJS();
  if (manifest === null || typeof manifest !== "object" || Array.isArray(manifest)) {
    return ["not a YAML mapping"];
  }
  const found = [];
  if (manifest.apiVersion !== WasmPlugin.apiVersion) {
    found.push(`apiVersion: ${JSON.stringify(manifest.apiVersion)}, expected ${WasmPlugin.apiVersion}`);
  }
  if (manifest.kind !== WasmPlugin.kind) {
    found.push(`kind: ${JSON.stringify(manifest.kind)}, expected ${WasmPlugin.kind}`);
  }
  // The API server requires a name; the CRD schema does not say so.
  if (typeof manifest.metadata?.name !== "string" || manifest.metadata.name === "") {
    found.push("metadata.name: required");
  }
  try {
    new WasmPlugin(manifest).validate();
  } catch (e) {
    if (!Array.isArray(e.errors)) {
      throw e;
    }
    for (const err of e.errors) {
      if (err.instancePath === "/apiVersion" || err.instancePath === "/kind") {
        continue; // reported above, with what was expected
      }
      const where = err.instancePath.replace(/^\//, "").replaceAll("/", ".") || "(root)";
      const allowed = err.params?.allowedValues ? ` (${err.params.allowedValues.join(", ")})` : "";
      found.push(`${where}: ${err.message}${allowed}`);
    }
  }
  return found;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs FILE.yaml...  (no manifests given)");
  process.exit(2);
}
let invalid = 0;
for (const file of files) {
  const found = problems(file);
  if (found.length === 0) {
    console.log(`valid: ${file}`);
  } else {
    invalid += 1;
    console.log(`INVALID: ${file}`);
    for (const p of found) {
      console.log(`  ${p}`);
    }
  }
}
if (invalid > 0) {
  console.error(`${invalid} of ${files.length} manifests invalid`);
  process.exit(1);
}
