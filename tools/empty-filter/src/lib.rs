//! The reference cost of an empty proxy-wasm filter.
//!
//! A root context and an HTTP context built with the proxy-wasm Rust SDK,
//! every callback left at the SDK's default: each one does nothing and lets
//! the request or response continue. What this module adds to a request in
//! Envoy is what any proxy-wasm filter pays before doing any work (entering
//! the VM for each callback Envoy makes), so `tools/bench.py` measures it as
//! the `empty-wasm` row and states the filters' targets against it.
//!
//! It is built beside the filters (`make build`) and never deployed.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

/// Registers the empty root context. Called when the VM starts.
pub fn start() {
    proxy_wasm::set_root_context(|_| Box::new(EmptyRoot));
}

// The module's entry point (inside a `const` block, as
// `meshwasm_core::export_filter!` does, so that it needs no doc comment).
#[cfg(target_arch = "wasm32")]
const _: () = {
    proxy_wasm::main! {{
        start();
    }}
};

/// The plugin's root context: asks for HTTP contexts, and does nothing else.
struct EmptyRoot;

impl Context for EmptyRoot {}

impl RootContext for EmptyRoot {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(EmptyHttp))
    }
}

/// One request's context: every callback is the SDK's default.
struct EmptyHttp;

impl Context for EmptyHttp {}

impl HttpContext for EmptyHttp {}
