// Checks Istio WasmPlugin manifests against each Istio CRD schema this
// tool pins, and says which Istio version each verdict is against.
//
//   node validate.mjs [--schema SCHEMAS.json]... FILE.yaml...
//
// Schema sources:
// - Always: @kubernetes-models/istio (npm), models generated from the CRDs
//   an Istio release ships (crd-all.gen.yaml of Istio 1.29.2 for 3.0.1),
//   whose validate() runs the CRD's openAPIV3Schema compiled with Ajv.
// - Each --schema file: JSON Schemas per kind, as cloudcoil_schema.py
//   writes them from cloudcoil-models-istio (PyPI; Istio 1.31.0 for
//   1.31.0.1), checked here with Ajv. `run.sh` fetches and passes it.
//
// Both check types, enums (phase, failStrategy, imagePullPolicy,
// match[].mode, type), required fields, patterns (sha256), bounds and
// lengths. Neither checks what only Kubernetes' API server does: unknown
// fields (kubectl's default strict field validation rejects them) and the
// CRD's CEL rules (x-kubernetes-validations: url scheme, selector or
// targetRefs). tests/tests/istio.rs reads each spec with unknown fields
// refused, and loads each plugin into a real Envoy.
//
// Prints, per file and source, `valid` or `INVALID` with the Istio version
// and package, and the reasons; exits 1 if any file is invalid against any
// source, 2 on a usage error.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseAllDocuments } from "yaml";
import Ajv from "ajv";
import { WasmPlugin } from "@kubernetes-models/istio/extensions.istio.io/v1alpha1/WasmPlugin";

const API_VERSION = "extensions.istio.io/v1alpha1";

/** Ajv errors as `field.path: message (allowed values)`, apiVersion and
 * kind left out (checked once, with what was expected). */
function reasons(errors) {
  const found = [];
  for (const err of errors) {
    if (err.instancePath === "/apiVersion" || err.instancePath === "/kind") {
      continue;
    }
    // A `null` branch of a nullable field adds nothing to the message.
    if (err.keyword === "anyOf" || (err.keyword === "type" && err.params?.type === "null")) {
      continue;
    }
    const where = err.instancePath.replace(/^\//, "").replaceAll("/", ".") || "(root)";
    const allowed = err.params?.allowedValues ? ` (${err.params.allowedValues.join(", ")})` : "";
    const line = `${where}: ${err.message}${allowed}`;
    if (!found.includes(line)) {
      found.push(line);
    }
  }
  return found;
}

/** The npm source: the Istio version is the one in the CRD URL the
 * package was generated from. */
function npmSource() {
  const require = createRequire(import.meta.url);
  const pkg = JSON.parse(readFileSync(require.resolve("@kubernetes-models/istio/package.json"), "utf8"));
  const versions = (pkg["crd-generate"]?.input ?? [])
    .map((url) => url.match(/istio\/istio\/([0-9.]+)\/manifests\/charts\/base\/files\/crd-all/)?.[1])
    .filter(Boolean);
  const istio = versions[0] ?? "unknown";
  return {
    label: `Istio ${istio} (${pkg.name} ${pkg.version}, npm)`,
    kinds: new Set(["WasmPlugin"]),
    check(manifest) {
      try {
        new WasmPlugin(manifest).validate();
        return [];
      } catch (e) {
        if (!Array.isArray(e.errors)) {
          throw e;
        }
        return reasons(e.errors);
      }
    },
  };
}

/** A source from a --schema file. */
function schemaSource(path) {
  const doc = JSON.parse(readFileSync(path, "utf8"));
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validators = new Map(Object.entries(doc.schemas).map(([kind, schema]) => [kind, ajv.compile(schema)]));
  return {
    label: `Istio ${doc.istio} (${doc.source})`,
    kinds: new Set(validators.keys()),
    check(manifest) {
      const validate = validators.get(manifest.kind);
      return validate(manifest) ? [] : reasons(validate.errors);
    },
  };
}

/** The manifest in `file`, or the reasons it is not one. */
function read(file) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { problems: [`cannot read: ${e.message}`] };
  }
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) {
    return { problems: ["no YAML document"] };
  }
  const syntax = docs.flatMap((d) => [...d.errors, ...d.warnings]).map((e) => e.message);
  if (syntax.length > 0) {
    return { problems: syntax };
  }
  if (docs.length !== 1) {
    return { problems: [`${docs.length} YAML documents; one resource per file`] };
  }
  const manifest = docs[0].toJS();
  if (manifest === null || typeof manifest !== "object" || Array.isArray(manifest)) {
    return { problems: ["not a YAML mapping"] };
  }
  const problems = [];
  if (manifest.apiVersion !== API_VERSION) {
    problems.push(`apiVersion: ${JSON.stringify(manifest.apiVersion)}, expected ${API_VERSION}`);
  }
  // The API server requires a name; the CRD schema does not say so.
  if (typeof manifest.metadata?.name !== "string" || manifest.metadata.name === "") {
    problems.push("metadata.name: required");
  }
  return { manifest, problems };
}

const args = process.argv.slice(2);
const sources = [npmSource()];
const files = [];
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === "--schema") {
    if (i + 1 >= args.length) {
      console.error("--schema needs a file");
      process.exit(2);
    }
    sources.push(schemaSource(args[(i += 1)]));
  } else {
    files.push(args[i]);
  }
}
if (files.length === 0) {
  console.error("usage: node validate.mjs [--schema SCHEMAS.json]... FILE.yaml...  (no manifests given)");
  process.exit(2);
}

let invalid = 0;
const report = (verdict, label, file, problems) => {
  console.log(`${verdict} against ${label}: ${file}`);
  for (const p of problems) {
    console.log(`  ${p}`);
  }
};
for (const file of files) {
  const { manifest, problems } = read(file);
  if (manifest === undefined) {
    invalid += 1;
    report("INVALID", "any schema", file, problems);
    continue;
  }
  const known = sources.filter((s) => s.kinds.has(manifest.kind));
  if (known.length === 0) {
    const kinds = [...new Set(sources.flatMap((s) => [...s.kinds]))].join(", ");
    invalid += 1;
    report("INVALID", "any schema", file, [`kind: ${JSON.stringify(manifest.kind)}, expected one of ${kinds}`]);
    continue;
  }
  let bad = false;
  for (const source of sources) {
    if (!known.includes(source)) {
      console.log(`skipped against ${source.label}: ${file} (no ${manifest.kind} in that version)`);
      continue;
    }
    const found = [...problems, ...source.check(manifest)];
    bad ||= found.length > 0;
    report(found.length === 0 ? "valid" : "INVALID", source.label, file, found);
  }
  invalid += bad ? 1 : 0;
}
if (invalid > 0) {
  console.error(`${invalid} of ${files.length} manifests invalid`);
  process.exit(1);
}
if (sources.length === 1) {
  console.error("note: checked against one schema source only; run.sh adds the newest Istio's");
}
