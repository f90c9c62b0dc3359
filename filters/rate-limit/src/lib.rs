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
pub mod gcra;
pub mod global;
pub mod headers;
pub mod key;
pub mod rls;
pub mod stage;
pub mod store;

use config::{FailureMode, KeyPart, RateLimitConfig};
use gcra::Gcra;
use global::{Descriptor, Service};
use meshwasm_core::matcher::RequestMatch;
use meshwasm_core::metrics::{Counter, MetricName};
use meshwasm_core::{ConfigError, Filter, Proxy};
use stage::RateLimitStage;
use std::rc::Rc;
use std::time::Duration;
use store::{BucketStore, SharedTable};

/// Idle buckets each rule frees per tick, per worker.
const SWEEP_BUDGET: u32 = 256;

/// A rule ready to apply.
#[derive(Debug)]
pub struct CompiledRule {
    /// Its name.
    pub name: String,
    matcher: RequestMatch,
    /// Its limit in this Envoy, if it has one.
    local: Option<Local>,
    /// Its descriptor for the rate limit service, if it is global.
    global: Option<Descriptor>,
    shadow: bool,
    counters: Counters,
}

/// A rule's limit in this Envoy: a GCRA bucket per key in shared data.
#[derive(Debug)]
struct Local {
    key: Vec<KeyPart>,
    gcra: Gcra,
    store: SharedTable,
}

/// A rule's decision counters, `meshwasm_ratelimit_requests_total` by
/// `rule` and `decision`.
#[derive(Debug)]
struct Counters {
    allowed: Counter,
    limited: Counter,
    shadow_limited: Counter,
    overflow: Counter,
    error: Counter,
}

impl Counters {
    fn new(rule: &str) -> Self {
        let counter = |decision: &str| {
            Counter::new(
                MetricName::new("meshwasm_ratelimit_requests_total")
                    .label("rule", rule)
                    .label("decision", decision),
            )
        };
        Self {
            allowed: counter("allowed"),
            limited: counter("limited"),
            shadow_limited: counter("shadow_limited"),
            overflow: counter("overflow"),
            error: counter("error"),
        }
    }
}

/// The configured rate-limit filter.
#[derive(Debug)]
pub struct RateLimit {
    rules: Vec<CompiledRule>,
    /// The rate limit service global rules ask.
    service: Option<Service>,
    failure_mode: FailureMode,
    xff_trusted_hops: u32,
    response_headers: bool,
}

impl Filter for RateLimit {
    const NAME: &'static str = "rate-limit";
    type Config = RateLimitConfig;
    type Stage = RateLimitStage;

    fn new(config: RateLimitConfig) -> Result<Self, ConfigError> {
        let rules = config
            .rules
            .iter()
            .map(|rule| CompiledRule {
                name: rule.name.clone(),
                matcher: rule.matcher.clone(),
                local: rule.limit.as_ref().map(|limit| Local {
                    key: rule.key.clone(),
                    gcra: Gcra::new(limit),
                    store: SharedTable::new(&rule.name, config.max_keys),
                }),
                global: rule.global.as_ref().map(Descriptor::new),
                shadow: rule.shadow,
                counters: Counters::new(&rule.name),
            })
            .collect();
        Ok(Self {
            rules,
            service: config
                .service
                .as_ref()
                .map(|service| Service::new(service, config.failure_mode)),
            failure_mode: config.failure_mode,
            xff_trusted_hops: config.client_address.xff_trusted_hops,
            response_headers: config.response_headers,
        })
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
