//! The meshwasm metrics filter: Prometheus RED metrics (rate, errors,
//! duration) per route and consumer, with bounded cardinality.
//!
//! This stage parses and validates the configuration; recording metrics is
//! the next step, and until then the filter says so in Envoy's log and
//! passes every request.

pub mod config;

use config::MetricsConfig;
use meshwasm_core::{ConfigError, Filter, Stage};
use std::rc::Rc;

/// The configured metrics filter.
#[derive(Debug)]
pub struct Metrics;

impl Filter for Metrics {
    const NAME: &'static str = "metrics";
    type Config = MetricsConfig;
    type Stage = MetricsStage;

    fn new(config: MetricsConfig) -> Result<Self, ConfigError> {
        log::warn!(
            "meshwasm metrics: prefix `{}` validated; this build records no metrics yet",
            config.prefix
        );
        Ok(Self)
    }

    fn stage(self: &Rc<Self>) -> MetricsStage {
        MetricsStage
    }
}

/// The metrics filter's work on one request.
#[derive(Debug)]
pub struct MetricsStage;

impl Stage for MetricsStage {}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(Metrics);
