//! The meshwasm header-router filter: matches requests, rewrites headers
//! and paths, splits traffic (weighted, sticky) by writing a route header,
//! and answers directly with redirects or fixed responses. After it changes
//! a request, Envoy picks the route again, so the route table can send the
//! request to another cluster.

pub mod config;
pub mod split;
pub mod stage;
pub mod template;

use config::{HeaderRouterConfig, Rule};
use meshwasm_core::metrics::{Counter, MetricName};
use meshwasm_core::{ConfigError, Filter, HeaderName};
use stage::HeaderRouterStage;
use std::rc::Rc;

/// A rule and its counters.
#[derive(Debug)]
struct CompiledRule {
    rule: Rule,
    /// `meshwasm_headerrouter_matches_total{rule}`.
    matched: Counter,
    /// `meshwasm_headerrouter_dropped_values_total{rule}`: rendered values
    /// that were not valid header values.
    dropped: Counter,
    /// `meshwasm_headerrouter_split_total{rule, target}`, per target.
    split: Vec<Counter>,
}

/// The configured header-router filter.
#[derive(Debug)]
pub struct HeaderRouter {
    rules: Vec<CompiledRule>,
    /// Headers only the filter writes (split headers): clients' copies are
    /// removed before any rule runs.
    owned: Vec<HeaderName>,
}

impl Filter for HeaderRouter {
    const NAME: &'static str = "header-router";
    type Config = HeaderRouterConfig;
    type Stage = HeaderRouterStage;

    fn new(config: HeaderRouterConfig) -> Result<Self, ConfigError> {
        let mut owned: Vec<HeaderName> = Vec::new();
        let rules = config
            .rules
            .into_iter()
            .map(|rule| {
                let counter =
                    |base: &str| Counter::new(MetricName::new(base).label("rule", &rule.name));
                let split = rule.split.as_ref().map_or_else(Vec::new, |s| {
                    if !owned.contains(&s.header) {
                        owned.push(s.header.clone());
                    }
                    s.targets
                        .iter()
                        .map(|t| {
                            Counter::new(
                                MetricName::new("meshwasm_headerrouter_split_total")
                                    .label("rule", &rule.name)
                                    .label("target", &t.value),
                            )
                        })
                        .collect()
                });
                CompiledRule {
                    matched: counter("meshwasm_headerrouter_matches_total"),
                    dropped: counter("meshwasm_headerrouter_dropped_values_total"),
                    split,
                    rule,
                }
            })
            .collect();
        Ok(Self { rules, owned })
    }

    fn stage(self: &Rc<Self>) -> HeaderRouterStage {
        HeaderRouterStage::new(Rc::clone(self))
    }
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(HeaderRouter);

#[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
meshwasm_core::export_native_filter!(HeaderRouter);
