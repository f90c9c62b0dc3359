//! The module configurations the repository ships, for the tests that
//! check every one of them.

use meshwasm_check::find::{in_text, Found};
use std::path::{Path, PathBuf};

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every module configuration in the shipped Envoy configs, ECDS filter
/// resources, Istio manifests and native configs, with the file it is in.
pub fn configurations() -> Vec<(PathBuf, Found)> {
    let mut out = Vec::new();
    for dir in [
        "envoy-config",
        "envoy-config/ecds/filters",
        "envoy-config/istio",
        "envoy-config/native",
    ] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for found in in_text(&text).unwrap().found {
                out.push((path.clone(), found));
            }
        }
    }
    out
}
