//! The meshwasm metrics filter: Prometheus RED metrics (rate, errors,
//! duration) with real labels, and a cap on how many series any client
//! can create.
//!
//! Per request: `<prefix>_requests_total` and the histogram
//! `<prefix>_request_duration_milliseconds`, by method, code, code class,
//! route, upstream cluster, consumer and configured extra labels; when
//! asked for, the histograms `<prefix>_request_bytes` and
//! `<prefix>_response_bytes` and the gauge `<prefix>_requests_in_flight`
//! by method. Labels travel in the metric names (see
//! `meshwasm_core::metrics`); Envoy's `stats_tags` make them labels.

pub mod config;
pub mod filter;
pub mod labels;
pub mod series;
pub mod stage;

pub use filter::Metrics;

use config::MetricsConfig;
use meshwasm_core::{ConfigError, Filter};
use stage::MetricsStage;
use std::rc::Rc;

impl Filter for Metrics {
    const NAME: &'static str = "metrics";
    type Config = MetricsConfig;
    type Stage = MetricsStage;

    fn new(config: MetricsConfig) -> Result<Self, ConfigError> {
        Self::compile(config)
    }

    fn stage(self: &Rc<Self>) -> MetricsStage {
        MetricsStage::new(Rc::clone(self))
    }
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(Metrics);

#[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
meshwasm_core::export_native_filter!(Metrics);
