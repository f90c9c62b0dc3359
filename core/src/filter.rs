//! A filter: its configuration, what it builds from it once, and the stage
//! it runs per request.

use crate::config::{ConfigError, Validate};
use crate::stage::{CallResponse, Proxy, Stage};
use serde::de::DeserializeOwned;
use std::rc::Rc;
use std::time::Duration;

/// One meshwasm filter. The adapter parses and validates [`Filter::Config`]
/// once per VM in `on_configure`, builds the filter with [`Filter::new`],
/// and asks it for a fresh [`Filter::Stage`] for every request.
pub trait Filter: Sized + 'static {
    /// The filter's short name, as used in logs (`auth`, `rate-limit`, ...).
    const NAME: &'static str;
    /// The JSON configuration, parsed with unknown fields refused.
    type Config: DeserializeOwned + Validate;
    /// The per-request state and logic.
    type Stage: Stage + 'static;

    /// Builds the filter from a configuration that has passed
    /// [`Validate`]: the compile step. [`Validate`] checks the shape (what
    /// types alone cannot say); everything that parses or decodes a value
    /// (password hashes, key digests, JWKS) does it here, once, and names
    /// the field at fault as [`Validate`] would (each part reports paths
    /// within its own section; lists go through
    /// [`compile_each`](crate::config::compile_each), sections through
    /// [`ConfigError::within`]). Never per request.
    fn new(config: Self::Config) -> Result<Self, ConfigError>;

    /// Builds the filter from its JSON configuration: parsing, validation
    /// and [`Filter::new`], exactly as the module does in `on_configure`
    /// (and `meshwasm check` does before rollout).
    fn configure(json: &[u8]) -> Result<Self, ConfigError> {
        Self::new(crate::config::parse(json)?)
    }

    /// The stage that handles one request.
    fn stage(self: &Rc<Self>) -> Self::Stage;

    /// How often [`Filter::on_tick`] runs, if ever. Asked once, after
    /// [`Filter::new`].
    fn tick_period(&self) -> Option<Duration> {
        None
    }

    /// The configuration field that makes this filter call gRPC services
    /// ([`Proxy::dispatch_grpc`]), if any. A build whose host has no gRPC
    /// calls (the native build) refuses such a configuration, naming it.
    fn grpc_field(&self) -> Option<String> {
        None
    }

    /// Background work on a timer (refreshing a key set, sweeping state).
    fn on_tick(&self, _proxy: &mut dyn Proxy) {}

    /// The answer to a call dispatched from [`Filter::on_tick`].
    fn on_call_response(&self, _proxy: &mut dyn Proxy, _token: u32, _response: &CallResponse) {}
}

/// Why the native build refuses a filter that builds from its
/// configuration, if it does: a configuration that makes it call gRPC
/// services ([`Filter::grpc_field`]), which Envoy's dynamic-module ABI
/// cannot. The native adapter and `meshwasm check` give the same error.
pub fn native_refusal<F: Filter>(filter: &F) -> Option<ConfigError> {
    filter.grpc_field().map(|field| {
        ConfigError::new(
            field,
            "the native build cannot call gRPC services (Envoy's dynamic-module ABI has no \
             gRPC calls): use the Wasm build for a rate limit service",
        )
    })
}
