//! The compiled filter: what `Filter::new` builds from the configuration
//! once, and every stage reads.

use crate::config::{FailureMode, KeyPart, RateLimitConfig};
use crate::gcra::Gcra;
use crate::global::{Descriptor, Service};
use crate::store::SharedTable;
use meshwasm_core::matcher::RequestMatch;
use meshwasm_core::metrics::{Counter, MetricName};
use meshwasm_core::ConfigError;

/// A rule ready to apply.
#[derive(Debug)]
pub struct CompiledRule {
    /// Its name.
    pub name: String,
    /// Which requests it applies to.
    pub(crate) matcher: RequestMatch,
    /// Its limit in this Envoy, if it has one.
    pub(crate) local: Option<Local>,
    /// Its descriptor for the rate limit service, if it is global.
    pub(crate) global: Option<Descriptor>,
    /// Whether it only counts what it would refuse.
    pub(crate) shadow: bool,
    /// Its decision counters.
    pub(crate) counters: Counters,
}

/// A rule's limit in this Envoy: a GCRA bucket per key in shared data.
#[derive(Debug)]
pub(crate) struct Local {
    /// What the bucket is keyed by.
    pub(crate) key: Vec<KeyPart>,
    /// The limit's arithmetic.
    pub(crate) gcra: Gcra,
    /// The buckets.
    pub(crate) store: SharedTable,
}

/// A rule's decision counters, `meshwasm_ratelimit_requests_total` by
/// `rule` and `decision`.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) allowed: Counter,
    pub(crate) limited: Counter,
    pub(crate) shadow_limited: Counter,
    pub(crate) overflow: Counter,
    pub(crate) error: Counter,
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
    /// The rules, in order.
    pub(crate) rules: Vec<CompiledRule>,
    /// The rate limit service global rules ask.
    pub(crate) service: Option<Service>,
    /// What a request gets when its limit cannot be checked.
    pub(crate) failure_mode: FailureMode,
    /// The proxies in front of Envoy whose `x-forwarded-for` is trusted.
    pub(crate) xff_trusted_hops: u32,
    /// Whether allowed responses carry the rate-limit headers.
    pub(crate) response_headers: bool,
}

impl RateLimit {
    /// Builds the filter from a validated configuration.
    pub(crate) fn compile(config: RateLimitConfig) -> Result<Self, ConfigError> {
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
}
