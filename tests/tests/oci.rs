//! `make oci`: every built module as an OCI image layout under `target/oci/`,
//! in Istio's Wasm image format (the "compat" variant), read back the way a
//! registry client and Istio's image fetcher read it. Also `tools/oci.py`
//! itself: reproducible output, a previous layout replaced, bad input refused.
//!
//! Run `make oci` first (`make e2e` does).

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use meshwasm_e2e::{wasm_module, workspace_root, FILTERS};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e} (run `make oci` first)", path.display()))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&read(path))
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// The blob a descriptor points to, after checking that its content hashes
/// to the descriptor's digest (and so to its file name) and has its size.
fn blob(layout: &Path, descriptor: &Value) -> (String, Vec<u8>) {
    let digest = descriptor["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor without a digest: {descriptor}"));
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("{digest}: not a sha256 digest"));
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{digest}: not 64 lowercase hex digits"
    );
    let data = read(&layout.join("blobs/sha256").join(hex));
    assert_eq!(
        sha256_hex(&data),
        hex,
        "blobs/sha256/{hex} does not hash to its name"
    );
    assert_eq!(
        descriptor["size"].as_u64(),
        Some(data.len() as u64),
        "the descriptor of {digest} gives the wrong size"
    );
    (hex.to_string(), data)
}

/// Checks a layout against the OCI image-layout spec and Istio's compat
/// variant, and that its `plugin.wasm` is `module`. Returns the manifest
/// digest.
fn check_layout(layout: &Path, module: &[u8]) -> String {
    let ctx = layout.display();
    assert_eq!(
        read_json(&layout.join("oci-layout")),
        json!({ "imageLayoutVersion": "1.0.0" }),
        "{ctx}/oci-layout"
    );

    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["schemaVersion"], 2, "{ctx}/index.json: {index}");
    assert_eq!(
        index["mediaType"], INDEX_MEDIA_TYPE,
        "{ctx}/index.json: {index}"
    );
    let manifests = index["manifests"]
        .as_array()
        .expect("index.json has no manifests array");
    assert_eq!(
        manifests.len(),
        1,
        "{ctx}/index.json: one image, got {index}"
    );
    let manifest_descriptor = &manifests[0];
    assert_eq!(
        manifest_descriptor["mediaType"], MANIFEST_MEDIA_TYPE,
        "{ctx}: {index}"
    );
    // The tag that `oras cp --from-oci-layout DIR:TAG` and
    // `skopeo copy oci:DIR:TAG` resolve: the workspace version.
    assert_eq!(
        manifest_descriptor["annotations"][REF_NAME],
        env!("CARGO_PKG_VERSION"),
        "{ctx}: index.json tags the image with the workspace version"
    );

    let (manifest_hex, manifest_bytes) = blob(layout, manifest_descriptor);
    let manifest: Value =
        serde_json::from_slice(&manifest_bytes).expect("the manifest is not JSON");
    assert_eq!(manifest["schemaVersion"], 2, "{ctx}: manifest {manifest}");
    assert_eq!(
        manifest["mediaType"], MANIFEST_MEDIA_TYPE,
        "{ctx}: manifest {manifest}"
    );
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"], "compat",
        "{ctx}: the compat variant's annotation"
    );
    assert_eq!(
        manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE,
        "{ctx}: manifest {manifest}"
    );
    // Istio's fetcher takes the compat variant only with exactly one layer.
    let layers = manifest["layers"]
        .as_array()
        .expect("the manifest has no layers array");
    assert_eq!(layers.len(), 1, "{ctx}: exactly one layer, got {manifest}");
    assert_eq!(
        layers[0]["mediaType"], LAYER_MEDIA_TYPE,
        "{ctx}: manifest {manifest}"
    );

    let (config_hex, config_bytes) = blob(layout, &manifest["config"]);
    let config: Value =
        serde_json::from_slice(&config_bytes).expect("the image config is not JSON");
    for field in ["architecture", "os"] {
        assert!(
            config[field].as_str().is_some_and(|s| !s.is_empty()),
            "{ctx}: the image config needs `{field}`: {config}"
        );
    }
    assert_eq!(config["rootfs"]["type"], "layers", "{ctx}: config {config}");

    let (layer_hex, layer) = blob(layout, &layers[0]);
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer[..])
        .read_to_end(&mut tar)
        .unwrap_or_else(|e| panic!("{ctx}: the layer is not gzip: {e}"));
    assert_eq!(
        config["rootfs"]["diff_ids"],
        json!([format!("sha256:{}", sha256_hex(&tar))]),
        "{ctx}: diff_ids[0] is the digest of the uncompressed layer"
    );

    let mut archive = tar::Archive::new(&tar[..]);
    let mut entries = Vec::new();
    for entry in archive.entries().expect("the layer is not a tar") {
        let mut entry = entry.expect("a broken tar entry");
        let path = entry
            .path()
            .expect("a tar entry without a path")
            .display()
            .to_string();
        let kind = entry.header().entry_type();
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .expect("a tar entry that cannot be read");
        entries.push((path, kind, bytes));
    }
    let names: Vec<&str> = entries.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        names,
        ["plugin.wasm"],
        "{ctx}: the layer holds plugin.wasm and nothing else"
    );
    let (_, kind, plugin) = &entries[0];
    assert!(
        kind.is_file(),
        "{ctx}: plugin.wasm is not a regular file ({kind:?})"
    );
    assert!(
        plugin == module,
        "{ctx}: plugin.wasm ({} bytes) differs from the module ({} bytes)",
        plugin.len(),
        module.len()
    );

    // Nothing but the image: no blobs left over from an earlier build.
    let on_disk: BTreeSet<String> = fs::read_dir(layout.join("blobs/sha256"))
        .expect("no blobs/sha256 folder")
        .map(|e| {
            e.expect("unreadable blobs folder")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let referenced = BTreeSet::from([manifest_hex.clone(), config_hex, layer_hex]);
    assert_eq!(
        on_disk, referenced,
        "{ctx}: blobs/sha256 holds exactly the image's blobs"
    );
    let top: BTreeSet<String> = fs::read_dir(layout)
        .expect("unreadable layout")
        .map(|e| {
            e.expect("unreadable layout")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        top,
        BTreeSet::from(["blobs", "index.json", "oci-layout"].map(String::from)),
        "{ctx}: the layout's top level"
    );

    format!("sha256:{manifest_hex}")
}

fn check_built(filter: &str) {
    let module = read(&wasm_module(filter));
    check_layout(&workspace_root().join("target/oci").join(filter), &module);
}

#[test]
fn auth_image() {
    meshwasm_e2e::wasm_only!("OCI images carry the Wasm modules");
    check_built("auth");
}

#[test]
fn rate_limit_image() {
    meshwasm_e2e::wasm_only!("OCI images carry the Wasm modules");
    check_built("rate-limit");
}

#[test]
fn header_router_image() {
    meshwasm_e2e::wasm_only!("OCI images carry the Wasm modules");
    check_built("header-router");
}

#[test]
fn metrics_image() {
    meshwasm_e2e::wasm_only!("OCI images carry the Wasm modules");
    check_built("metrics");
}

#[test]
fn chain_image() {
    meshwasm_e2e::wasm_only!("OCI images carry the Wasm modules");
    check_built("chain");
}

#[test]
fn every_module_has_an_image() {
    meshwasm_e2e::wasm_only!("OCI images carry the Wasm modules");
    let found: BTreeSet<String> = fs::read_dir(workspace_root().join("target/oci"))
        .expect("no target/oci (run `make oci` first)")
        .map(|e| {
            e.expect("unreadable target/oci")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !name.starts_with('.'))
        .collect();
    let expected: BTreeSet<String> = FILTERS
        .iter()
        .chain(&["chain"])
        .map(|f| f.to_string())
        .collect();
    assert_eq!(
        found, expected,
        "target/oci holds one layout per module, the chain's included"
    );
}

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("meshwasm-oci-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("cannot create a scratch folder");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `tools/oci.py --out OUT MODULES...` with the project venv's Python.
fn run_tool(out: &Path, modules: &[&Path]) -> Output {
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{}: missing (run `make oci` first)",
        python.display()
    );
    Command::new(python)
        .arg(root.join("tools/oci.py"))
        .arg("--out")
        .arg(out)
        .args(modules)
        .output()
        .expect("cannot run tools/oci.py")
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in fs::read_dir(&d).expect("unreadable folder") {
            let path = entry.expect("unreadable folder").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("outside the tree")
                    .to_path_buf();
                files.push((rel, read(&path)));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn same_module_same_bytes_and_a_previous_layout_is_replaced() {
    meshwasm_e2e::wasm_only!("OCI images carry the Wasm modules");
    let scratch = Scratch::new("replace");
    let src = scratch.0.join("src");
    let out = scratch.0.join("out");
    fs::create_dir_all(&src).unwrap();

    // A different module (the smallest valid one) under auth's name first...
    let stub_path = src.join("meshwasm_auth.wasm");
    let stub = b"\0asm\x01\0\0\0";
    fs::write(&stub_path, stub).unwrap();
    let first = run_tool(&out, &[&stub_path]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stub_digest = check_layout(&out.join("auth"), stub);

    // ...then the real one: its layout replaces the stub's entirely.
    let module_path = wasm_module("auth");
    let module = read(&module_path);
    let second = run_tool(&out, &[&module_path]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let digest = check_layout(&out.join("auth"), &module);
    assert_ne!(digest, stub_digest);
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        format!("{}  {digest}\n", out.join("auth").display()),
        "one line per image: the layout and its manifest digest"
    );
    let left: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["auth"], "no staging folders left behind");

    // Byte for byte what `make oci` wrote from the same module: the
    // manifest digest a WasmPlugin pins does not move between builds.
    assert_eq!(
        tree(&out.join("auth")),
        tree(&workspace_root().join("target/oci/auth")),
        "the same module gives the same layout"
    );
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    meshwasm_e2e::wasm_only!("OCI images carry the Wasm modules");
    let scratch = Scratch::new("refuse");
    let out = scratch.0.join("out");
    let good = wasm_module("metrics");

    let not_wasm = scratch.0.join("meshwasm_auth.wasm");
    fs::write(&not_wasm, b"#!/bin/sh\necho not wasm\n").unwrap();
    let refused = run_tool(&out, &[&good, &not_wasm]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&not_wasm.display().to_string()) && stderr.contains("not a Wasm module"),
        "the error names the file and the problem: {stderr}"
    );

    let missing = scratch.0.join("meshwasm_nope.wasm");
    let refused = run_tool(&out, &[&good, &missing]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&missing.display().to_string()) && stderr.contains("no such file"),
        "the error names the file and the problem: {stderr}"
    );

    // Every input is checked before anything is written.
    assert!(!out.exists(), "a refused run wrote {}", out.display());
}
