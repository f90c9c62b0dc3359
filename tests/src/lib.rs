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

mod bootstrap;
mod client;
mod envoy;
mod services;
pub mod tokens;

pub use bootstrap::{secure_sidecar_settings, Bootstrap, WasmFilter};
pub use client::{send, send_h2, send_raw, Answer};
pub use envoy::{Envoy, StartError};
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

/// Every filter, by the name its module is built under.
pub const FILTERS: [&str; 4] = ["auth", "rate-limit", "header-router", "metrics"];
