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
pub mod labels;
pub mod series;
pub mod stage;

use config::MetricsConfig;
use labels::CappedLabel;
use meshwasm_core::metrics::{Counter, Gauge, MetricName};
use meshwasm_core::{ConfigError, Filter, HeaderName, Proxy};
use series::SeriesCache;
use stage::MetricsStage;
use std::rc::Rc;

/// An extra label, ready to read.
#[derive(Debug)]
struct Extra {
    name: String,
    header: HeaderName,
    values: Vec<String>,
}

/// The configured metrics filter.
#[derive(Debug)]
pub struct Metrics {
    prefix: String,
    consumer_header: Option<HeaderName>,
    extras: Vec<Extra>,
    route: CappedLabel,
    cluster: CappedLabel,
    consumer: CappedLabel,
    /// `<prefix>_label_overflow_total{label_name}`: values recorded as
    /// `other` because a cap was reached.
    overflow: [Counter; 4],
    series: SeriesCache,
    /// `<prefix>_requests_in_flight{method}`, by normalised method, when
    /// the gauge is kept.
    in_flight: Option<Vec<(&'static str, Gauge)>>,
}

/// Which cap overflowed.
#[derive(Debug, Clone, Copy)]
enum Overflow {
    Route = 0,
    Cluster = 1,
    Consumer = 2,
    Series = 3,
}

impl Metrics {
    fn count_overflow(&self, proxy: &mut dyn Proxy, which: Overflow) {
        if let Some(counter) = self.overflow.get(which as usize) {
            counter.increment(proxy);
        }
    }

    /// Moves the in-flight gauge of a (normalised) method.
    fn in_flight(&self, proxy: &mut dyn Proxy, method: &'static str, by: i64) {
        let gauge = self.in_flight.iter().flatten().find(|(m, _)| *m == method);
        if let Some((_, gauge)) = gauge {
            gauge.add(proxy, by);
        }
    }
}

impl Filter for Metrics {
    const NAME: &'static str = "metrics";
    type Config = MetricsConfig;
    type Stage = MetricsStage;

    fn new(config: MetricsConfig) -> Result<Self, ConfigError> {
        let prefix = config.prefix;
        let overflow = ["route", "cluster", "consumer", "series"].map(|label| {
            Counter::new(
                MetricName::new(&format!("{prefix}_label_overflow_total"))
                    .label("label_name", label),
            )
        });
        let extra_names: Vec<&str> = config
            .extra_labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        series::declare(&prefix, &extra_names, config.sizes);
        Ok(Self {
            route: CappedLabel::new(&prefix, "route", config.max_label_values),
            cluster: CappedLabel::new(&prefix, "cluster", config.max_label_values),
            consumer: CappedLabel::new(&prefix, "consumer", config.max_label_values),
            series: SeriesCache::new(config.max_series, config.sizes),
            consumer_header: config.consumer_header,
            extras: config
                .extra_labels
                .into_iter()
                .map(|l| Extra {
                    name: l.name,
                    header: l.header,
                    values: l.values,
                })
                .collect(),
            overflow,
            in_flight: config.in_flight.then(|| {
                labels::METHODS
                    .iter()
                    .map(|&method| {
                        let name = MetricName::new(&format!("{prefix}_requests_in_flight"))
                            .label("method", method);
                        (method, Gauge::new(name))
                    })
                    .collect()
            }),
            prefix,
        })
    }

    fn stage(self: &Rc<Self>) -> MetricsStage {
        MetricsStage::new(Rc::clone(self))
    }
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(Metrics);

#[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
meshwasm_core::export_native_filter!(Metrics);
