//! The compiled filter: what `Filter::new` builds from the configuration
//! once, and every stage reads.

use crate::config::MetricsConfig;
use crate::labels::{self, CappedLabel};
use crate::series::{self, SeriesCache};
use meshwasm_core::metrics::{Counter, Gauge, MetricName};
use meshwasm_core::{ConfigError, HeaderName, Proxy};

/// An extra label, ready to read.
#[derive(Debug)]
pub(crate) struct Extra {
    /// The label's name.
    pub(crate) name: String,
    /// The request header its value comes from.
    pub(crate) header: HeaderName,
    /// The values kept as they are; any other is `other`.
    pub(crate) values: Vec<String>,
}

/// The configured metrics filter.
#[derive(Debug)]
pub struct Metrics {
    /// The metric names' prefix.
    pub(crate) prefix: String,
    /// The request header naming the consumer, if any.
    pub(crate) consumer_header: Option<HeaderName>,
    /// The extra labels.
    pub(crate) extras: Vec<Extra>,
    /// The capped `route` label.
    pub(crate) route: CappedLabel,
    /// The capped `cluster` label.
    pub(crate) cluster: CappedLabel,
    /// The capped `consumer` label.
    pub(crate) consumer: CappedLabel,
    /// `<prefix>_label_overflow_total{label_name}`: values recorded as
    /// `other` because a cap was reached.
    overflow: [Counter; 4],
    /// The series defined so far.
    pub(crate) series: SeriesCache,
    /// `<prefix>_requests_in_flight{method}`, by normalised method, when
    /// the gauge is kept.
    pub(crate) in_flight: Option<Vec<(&'static str, Gauge)>>,
}

/// Which cap overflowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Overflow {
    Route = 0,
    Cluster = 1,
    Consumer = 2,
    Series = 3,
}

impl Metrics {
    /// Builds the filter from a validated configuration.
    pub(crate) fn compile(config: MetricsConfig) -> Result<Self, ConfigError> {
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

    /// Counts a value recorded as `other` because a cap was reached.
    pub(crate) fn count_overflow(&self, proxy: &mut dyn Proxy, which: Overflow) {
        if let Some(counter) = self.overflow.get(which as usize) {
            counter.increment(proxy);
        }
    }

    /// Moves the in-flight gauge of a (normalised) method.
    pub(crate) fn in_flight(&self, proxy: &mut dyn Proxy, method: &'static str, by: i64) {
        let gauge = self.in_flight.iter().flatten().find(|(m, _)| *m == method);
        if let Some((_, gauge)) = gauge {
            gauge.add(proxy, by);
        }
    }
}
