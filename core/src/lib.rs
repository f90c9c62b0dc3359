//! What every meshwasm filter shares.
//!
//! A filter is a pure core behind a small host trait, plus a thin adapter:
//!
//! - [`config`]: JSON configuration parsed into typed structs, unknown
//!   fields refused, every error naming its field;
//! - [`stage`]: the per-request logic ([`Stage`]) and what it may ask of
//!   the proxy ([`Host`]); [`chain`] runs several stages in one context;
//! - [`filter`]: a configured filter that hands out stages;
//! - [`adapter`]: the proxy-wasm glue, and [`export_filter!`] to make a
//!   filter crate a module;
//! - `native` (feature `native`): the same filters as an Envoy dynamic
//!   module (a native shared library), and `export_native_filter!`.

#[cfg(target_arch = "wasm32")]
pub mod adapter;
pub mod chain;
pub mod config;
pub mod filter;
pub mod hex;
pub mod matcher;
pub mod metrics;
pub mod names;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub mod native;
pub mod request;
pub mod stage;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::{ConfigError, Validate};
pub use filter::Filter;
pub use names::HeaderName;
pub use stage::{
    CallResponse, Flow, GrpcCall, GrpcResponse, HeaderMap, Host, HostError, LocalResponse,
    MetricKind, OutboundCall, Proxy, Shared, Stage, Written,
};

/// Re-exported for [`export_filter!`].
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use proxy_wasm;
