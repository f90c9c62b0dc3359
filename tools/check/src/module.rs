//! The modules meshwasm ships, each checked by its own code.

use meshwasm_core::{ConfigError, Filter};
use std::fmt;
use std::str::FromStr;

/// A meshwasm module: one filter, or the chain of all four.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// `meshwasm_auth.wasm`.
    Auth,
    /// `meshwasm_rate_limit.wasm`.
    RateLimit,
    /// `meshwasm_header_router.wasm`.
    HeaderRouter,
    /// `meshwasm_metrics.wasm`.
    Metrics,
    /// `meshwasm_chain.wasm`: the four in one context.
    Chain,
}

impl Module {
    /// Every module, in the order the docs list them.
    pub const ALL: [Module; 5] = [
        Module::Auth,
        Module::RateLimit,
        Module::HeaderRouter,
        Module::Metrics,
        Module::Chain,
    ];

    /// The name the module logs under and the docs use (`rate-limit`).
    pub fn name(self) -> &'static str {
        match self {
            Module::Auth => meshwasm_auth::Auth::NAME,
            Module::RateLimit => meshwasm_rate_limit::RateLimit::NAME,
            Module::HeaderRouter => meshwasm_header_router::HeaderRouter::NAME,
            Module::Metrics => meshwasm_metrics::Metrics::NAME,
            Module::Chain => meshwasm_chain::MeshChain::NAME,
        }
    }

    /// Checks a configuration exactly as the module's `on_configure` does:
    /// the same parsing, validation and construction, natively.
    pub fn check(self, json: &[u8]) -> Result<(), ConfigError> {
        match self {
            Module::Auth => meshwasm_auth::Auth::configure(json).map(drop),
            Module::RateLimit => meshwasm_rate_limit::RateLimit::configure(json).map(drop),
            Module::HeaderRouter => meshwasm_header_router::HeaderRouter::configure(json).map(drop),
            Module::Metrics => meshwasm_metrics::Metrics::configure(json).map(drop),
            Module::Chain => meshwasm_chain::MeshChain::configure(json).map(drop),
        }
    }

    /// Checks a configuration as the module's native build does (see
    /// `docs/native.md`): as [`Module::check`], and refused as well when it
    /// needs what Envoy's dynamic-module ABI lacks (gRPC calls).
    pub fn check_native(self, json: &[u8]) -> Result<(), ConfigError> {
        fn native<F: Filter>(json: &[u8]) -> Result<(), ConfigError> {
            let filter = F::configure(json)?;
            meshwasm_core::filter::native_refusal(&filter).map_or(Ok(()), Err)
        }
        match self {
            Module::Auth => native::<meshwasm_auth::Auth>(json),
            Module::RateLimit => native::<meshwasm_rate_limit::RateLimit>(json),
            Module::HeaderRouter => native::<meshwasm_header_router::HeaderRouter>(json),
            Module::Metrics => native::<meshwasm_metrics::Metrics>(json),
            Module::Chain => native::<meshwasm_chain::MeshChain>(json),
        }
    }

    /// The JSON Schema of the module's configuration, from its Rust types.
    pub fn schema(self) -> schemars::Schema {
        match self {
            Module::Auth => schemars::schema_for!(meshwasm_auth::config::AuthConfig),
            Module::RateLimit => {
                schemars::schema_for!(meshwasm_rate_limit::config::RateLimitConfig)
            }
            Module::HeaderRouter => {
                schemars::schema_for!(meshwasm_header_router::config::HeaderRouterConfig)
            }
            Module::Metrics => schemars::schema_for!(meshwasm_metrics::config::MetricsConfig),
            Module::Chain => schemars::schema_for!(meshwasm_chain::ChainConfig),
        }
    }

    /// The module a Wasm file name, URL or image reference names:
    /// `.../meshwasm_rate_limit.wasm`, `oci://.../meshwasm-rate-limit:0.1.0`,
    /// `oci://.../meshwasm/rate-limit:0.1.0` (how `make oci` names them),
    /// `file:///.../meshwasm_chain.wasm`. `None` for a module not ours.
    pub fn from_reference(reference: &str) -> Option<Module> {
        let mut segments = reference.rsplit('/');
        let last = segments.next().unwrap_or(reference);
        let last = last.split(['@', ':']).next().unwrap_or(last);
        let last = last.strip_suffix(".wasm").unwrap_or(last);
        let name = last
            .strip_prefix("meshwasm_")
            .or_else(|| last.strip_prefix("meshwasm-"))
            .or_else(|| (segments.next() == Some("meshwasm")).then_some(last))?;
        name.replace('_', "-").parse().ok()
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A module name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownModule(pub String);

impl fmt::Display for UnknownModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Module::ALL.iter().map(|m| m.name()).collect();
        write!(
            f,
            "`{}` is not a meshwasm module (one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownModule {}

impl FromStr for Module {
    type Err = UnknownModule;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Module::ALL
            .into_iter()
            .find(|m| m.name() == name || m.name().replace('-', "_") == name)
            .ok_or_else(|| UnknownModule(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_their_module() {
        let cases = [
            (
                "target/wasm32-wasip1/release/meshwasm_rate_limit.wasm",
                Some(Module::RateLimit),
            ),
            (
                "oci://ghcr.io/example/meshwasm-chain:0.1.0",
                Some(Module::Chain),
            ),
            (
                "oci://registry/meshwasm_auth@sha256:abc",
                Some(Module::Auth),
            ),
            (
                "oci://registry.example.com:5000/meshwasm/rate-limit:0.1.0",
                Some(Module::RateLimit),
            ),
            ("oci://registry.example.com/other/rate-limit:0.1.0", None),
            (
                "file:///opt/meshwasm_header_router.wasm",
                Some(Module::HeaderRouter),
            ),
            ("meshwasm_metrics", Some(Module::Metrics)),
            ("oci://ghcr.io/example/other-filter:1", None),
            ("/x/meshwasm_unknown.wasm", None),
        ];
        for (reference, module) in cases {
            assert_eq!(Module::from_reference(reference), module, "{reference}");
        }
    }

    #[test]
    fn names_parse_both_spellings() {
        assert_eq!("rate-limit".parse(), Ok(Module::RateLimit));
        assert_eq!("rate_limit".parse(), Ok(Module::RateLimit));
        assert!("ratelimit".parse::<Module>().is_err());
    }
}
