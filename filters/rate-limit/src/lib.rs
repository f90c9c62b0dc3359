//! The meshwasm rate-limit filter: how often a client may call, exact
//! across the workers of one Envoy.
//!
//! Rules match requests, build a key from request parts, and hold a GCRA
//! bucket per key in Envoy's shared data, updated with compare-and-swap
//! (see [`store`]). A request passes only if every matching rule allows
//! it; refused requests get a 429 with `retry-after` and the rate-limit
//! headers. A rule with `global` is counted by a rate limit service shared
//! by many Envoys instead, or as well (see [`global`]).

pub mod config;
pub mod filter;
pub mod gcra;
pub mod global;
pub mod headers;
pub mod key;
pub mod rls;
pub mod stage;
pub mod store;

pub use filter::{CompiledRule, RateLimit};

use config::RateLimitConfig;
use meshwasm_core::{ConfigError, Filter, Proxy};
use stage::RateLimitStage;
use std::rc::Rc;
use std::time::Duration;
use store::BucketStore;

/// Idle buckets each rule frees per tick, per worker.
const SWEEP_BUDGET: u32 = 256;

impl Filter for RateLimit {
    const NAME: &'static str = "rate-limit";
    type Config = RateLimitConfig;
    type Stage = RateLimitStage;

    fn new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        Self::compile(config)
    }

    fn stage(self: &Rc<Self>) -> RateLimitStage {
        RateLimitStage::new(Rc::clone(self))
    }

    fn tick_period(&self) -> Option<Duration> {
        self.rules
            .iter()
            .any(|rule| rule.local.is_some())
            .then_some(Duration::from_secs(1))
    }

    fn grpc_field(&self) -> Option<String> {
        self.service.as_ref().map(|_| "service".to_owned())
    }

    fn on_tick(&self, proxy: &mut dyn Proxy) {
        let Some(now) = proxy.epoch_nanos() else {
            return;
        };
        for local in self.rules.iter().filter_map(|rule| rule.local.as_ref()) {
            local.store.sweep(proxy, now, SWEEP_BUDGET);
        }
    }
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(RateLimit);

#[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
meshwasm_core::export_native_filter!(RateLimit);
