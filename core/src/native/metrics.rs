//! Metrics for the native build: Envoy's dynamic-module metrics with
//! labels, defined once per filter configuration from the families the
//! filter declared while it was built, and recorded by label values.
//!
//! What differs from the Wasm build, and why: proxy-wasm has no labels, so
//! the Wasm build puts them in the metric name and Envoy's `stats_tags`
//! cut them out again. The dynamic-module ABI has real labels, but defines
//! a metric only while the configuration is loaded (a later definition is
//! refused as `Frozen`). So a filter declares its metric families when it
//! is built (`meshwasm_core::metrics::declare`), the adapter defines them
//! in `on_http_filter_config_new`, and a name the filter defines at
//! request time is decoded back into its family and label values. The
//! Prometheus series are the same, without any `stats_tags`, under Envoy's
//! `dynamicmodulescustom` namespace, which Envoy 1.40 does not strip from
//! `/stats/prometheus` names as it strips `wasmcustom`:
//! `envoy_dynamicmodulescustom_meshwasm_requests_total{...}`.

use super::abi::{self, ConfigEnvoy, FilterEnvoy, Metric, Record};
use crate::metrics::{decode, Family};
use crate::stage::{HostError, MetricKind};
use std::cell::RefCell;
use std::collections::HashMap;

/// The families of one configuration, as Envoy defined them.
#[derive(Debug, Default)]
pub struct Families {
    ids: HashMap<Family, usize>,
}

fn metric(kind: MetricKind) -> Metric {
    match kind {
        MetricKind::Counter => Metric::Counter,
        MetricKind::Gauge => Metric::Gauge,
        MetricKind::Histogram => Metric::Histogram,
    }
}

impl Families {
    /// Defines every family in Envoy (in `on_http_filter_config_new`);
    /// the first one Envoy refused, with its result code.
    pub fn define(config: ConfigEnvoy, families: Vec<Family>) -> Result<Self, String> {
        let mut ids = HashMap::new();
        for family in families {
            let labels: Vec<&str> = family.labels.iter().map(String::as_str).collect();
            let id = abi::define_metric(config, metric(family.kind), &family.base, &labels)
                .map_err(|code| {
                    format!(
                        "Envoy refused to define metric `{}` with labels {:?} (result {code})",
                        family.base, family.labels
                    )
                })?;
            ids.insert(family, id);
        }
        Ok(Self { ids })
    }
}

/// A change to a metric.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// Adds to a counter (never below 0) or a gauge.
    Add(i64),
    /// A histogram sample.
    Sample(u64),
}

/// A series a worker defined: its family's Envoy id, kind and label values.
#[derive(Debug)]
struct Series {
    kind: MetricKind,
    id: usize,
    values: Vec<String>,
}

/// The series one worker has defined, by the ids handed to the filter
/// (index plus one), and by encoded name.
#[derive(Debug, Default)]
pub struct WorkerSeries {
    series: RefCell<Vec<Series>>,
    by_name: RefCell<HashMap<String, u32>>,
}

impl WorkerSeries {
    /// The id of the series `encoded` names, as a metric of `kind`.
    pub fn define(
        &self,
        families: &Families,
        kind: MetricKind,
        encoded: &str,
    ) -> Result<u32, HostError> {
        if let Some(id) = self.by_name.borrow().get(encoded) {
            return Ok(*id);
        }
        let (base, labels) = decode(encoded)
            .ok_or_else(|| HostError::Status(format!("`{encoded}` is not a metric name")))?;
        let family = Family {
            kind,
            base: base.to_owned(),
            labels: labels.iter().map(|(name, _)| (*name).to_owned()).collect(),
        };
        let id = *families.ids.get(&family).ok_or_else(|| {
            HostError::Status(format!(
                "metric `{base}` with labels {:?} was not declared when the filter was built",
                family.labels
            ))
        })?;
        let mut series = self.series.borrow_mut();
        series.push(Series {
            kind,
            id,
            values: labels
                .iter()
                .map(|(_, value)| (*value).to_owned())
                .collect(),
        });
        let ours = u32::try_from(series.len())
            .map_err(|_| HostError::Status("too many series".to_owned()))?;
        self.by_name.borrow_mut().insert(encoded.to_owned(), ours);
        Ok(ours)
    }

    /// Records `change` in series `id`.
    pub fn record(&self, filter: FilterEnvoy, id: u32, change: Change) -> Result<(), HostError> {
        let series = self.series.borrow();
        let index = usize::try_from(id).ok().and_then(|i| i.checked_sub(1));
        let one = index
            .and_then(|i| series.get(i))
            .ok_or_else(|| HostError::Status(format!("no metric {id}")))?;
        let (how, value) = match (one.kind, change) {
            (MetricKind::Histogram, Change::Sample(value)) => (Record::Sample, value),
            (MetricKind::Counter, Change::Add(by)) if by >= 0 => {
                (Record::Increment, by.unsigned_abs())
            }
            (MetricKind::Gauge, Change::Add(by)) if by >= 0 => (Record::Raise, by.unsigned_abs()),
            (MetricKind::Gauge, Change::Add(by)) => (Record::Lower, by.unsigned_abs()),
            (kind, change) => {
                return Err(HostError::Status(format!(
                    "metric {id} is a {kind:?}: it cannot take {change:?}"
                )))
            }
        };
        let values: Vec<&str> = one.values.iter().map(String::as_str).collect();
        abi::record_metric(filter, how, one.id, &values, value)
            .map_err(|code| HostError::Status(format!("metrics result {code}")))
    }
}
