//! The meshwasm rate-limit filter: how often a client may call, exact
//! across Envoy workers.
//!
//! This stage parses and validates the limits; enforcing them is the next
//! step, and until then the filter says so in Envoy's log and passes every
//! request.

pub mod config;

use config::RateLimitConfig;
use meshwasm_core::{ConfigError, Filter, Stage};
use std::rc::Rc;

/// The configured rate-limit filter.
#[derive(Debug)]
pub struct RateLimit;

impl Filter for RateLimit {
    const NAME: &'static str = "rate-limit";
    type Config = RateLimitConfig;
    type Stage = RateLimitStage;

    fn new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        if !config.rules.is_empty() {
            log::warn!(
                "meshwasm rate-limit: {} rule(s) validated; this build does not enforce them yet",
                config.rules.len()
            );
        }
        Ok(Self)
    }

    fn stage(self: &Rc<Self>) -> RateLimitStage {
        RateLimitStage
    }
}

/// The rate-limit filter's work on one request.
#[derive(Debug)]
pub struct RateLimitStage;

impl Stage for RateLimitStage {}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(RateLimit);
