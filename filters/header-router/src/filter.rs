//! The compiled filter: what `Filter::new` builds from the configuration
//! once, and every stage reads.

use crate::config::{HeaderRouterConfig, Rule};
use meshwasm_core::metrics::{Counter, MetricName};
use meshwasm_core::{ConfigError, HeaderName};

/// A rule and its counters.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    /// The rule as configured (its matchers are compiled when parsed).
    pub(crate) rule: Rule,
    /// `meshwasm_headerrouter_matches_total{rule}`.
    pub(crate) matched: Counter,
    /// `meshwasm_headerrouter_dropped_values_total{rule}`: rendered values
    /// that were not valid header values.
    pub(crate) dropped: Counter,
    /// `meshwasm_headerrouter_split_total{rule, target}`, per target.
    pub(crate) split: Vec<Counter>,
}

/// The configured header-router filter.
#[derive(Debug)]
pub struct HeaderRouter {
    /// The rules, in order.
    pub(crate) rules: Vec<CompiledRule>,
    /// Headers only the filter writes (split headers): clients' copies are
    /// removed before any rule runs.
    pub(crate) owned: Vec<HeaderName>,
}

impl HeaderRouter {
    /// Builds the filter from a validated configuration.
    pub(crate) fn compile(config: HeaderRouterConfig) -> Result<Self, ConfigError> {
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
}
