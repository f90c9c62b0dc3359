//! Series: one set of label values, with the ids of its metrics, defined
//! in Envoy once and then only looked up.

use meshwasm_core::metrics::{self, MetricName};
use meshwasm_core::{HostError, MetricKind, Proxy};
use std::cell::RefCell;
use std::collections::HashMap;

/// The label values of one series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// The method, normalised.
    pub method: &'static str,
    /// The status code (`0`: no response).
    pub code: u16,
    /// The route.
    pub route: String,
    /// The upstream cluster.
    pub cluster: String,
    /// The consumer.
    pub consumer: String,
    /// Extra labels' values, in configuration order.
    pub extras: Vec<String>,
}

/// The ids of a series' metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesIds {
    /// `<prefix>_requests_total`.
    pub requests: u32,
    /// `<prefix>_request_duration_milliseconds`.
    pub duration: u32,
    /// `<prefix>_request_bytes` and `<prefix>_response_bytes`, when
    /// sizes are recorded.
    pub sizes: Option<(u32, u32)>,
}

/// The labels every series has, before the extra ones.
const LABELS: [&str; 6] = [
    "method",
    "code",
    "code_class",
    "route",
    "cluster",
    "consumer",
];

/// Declares the series' metric families (see [`metrics::declare`]):
/// `<prefix>_requests_total`, `<prefix>_request_duration_milliseconds`
/// and, with `sizes`, `<prefix>_request_bytes` and `<prefix>_response_bytes`,
/// each labelled by [`LABELS`] and then the extra labels.
pub fn declare(prefix: &str, extra_names: &[&str], sizes: bool) {
    let labels: Vec<&str> = LABELS.iter().chain(extra_names).copied().collect();
    metrics::declare(
        MetricKind::Counter,
        &format!("{prefix}_requests_total"),
        &labels,
    );
    let histograms: &[&str] = if sizes {
        &[
            "request_duration_milliseconds",
            "request_bytes",
            "response_bytes",
        ]
    } else {
        &["request_duration_milliseconds"]
    };
    for base in histograms {
        metrics::declare(MetricKind::Histogram, &format!("{prefix}_{base}"), &labels);
    }
}

/// The series this worker has defined, at most `max` of them.
#[derive(Debug)]
pub struct SeriesCache {
    max: usize,
    sizes: bool,
    defined: RefCell<HashMap<SeriesKey, SeriesIds>>,
    /// The series the last request was recorded under: most requests in
    /// a row share one, found by comparing instead of hashing.
    last: RefCell<Option<(SeriesKey, SeriesIds)>>,
}

impl SeriesCache {
    /// A cache of at most `max` series, with size histograms or not.
    pub fn new(max: u32, sizes: bool) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            sizes,
            defined: RefCell::new(HashMap::new()),
            last: RefCell::new(None),
        }
    }

    /// The ids of `key`'s series, defining it if new; `None` when the cap
    /// is reached.
    pub fn ids(
        &self,
        proxy: &mut dyn Proxy,
        prefix: &str,
        extra_names: &[&str],
        key: &SeriesKey,
    ) -> Result<Option<SeriesIds>, HostError> {
        if let Some((last, ids)) = &*self.last.borrow() {
            if last == key {
                return Ok(Some(*ids));
            }
        }
        let known = self.defined.borrow().get(key).copied();
        let ids = match known {
            Some(ids) => ids,
            None if self.defined.borrow().len() >= self.max => return Ok(None),
            None => self.define(proxy, prefix, extra_names, key)?,
        };
        *self.last.borrow_mut() = Some((key.clone(), ids));
        Ok(Some(ids))
    }

    /// The ids of the series that takes what is over the cap: `key`'s
    /// with every capped label `other`. It may always be defined.
    pub fn overflow_ids(
        &self,
        proxy: &mut dyn Proxy,
        prefix: &str,
        extra_names: &[&str],
        key: &SeriesKey,
    ) -> Result<SeriesIds, HostError> {
        let other = || crate::labels::OTHER.to_owned();
        let overflow = SeriesKey {
            method: "OTHER",
            code: key.code,
            route: other(),
            cluster: other(),
            consumer: other(),
            extras: key.extras.iter().map(|_| other()).collect(),
        };
        if let Some(ids) = self.defined.borrow().get(&overflow) {
            return Ok(*ids);
        }
        self.define(proxy, prefix, extra_names, &overflow)
    }

    fn define(
        &self,
        proxy: &mut dyn Proxy,
        prefix: &str,
        extra_names: &[&str],
        key: &SeriesKey,
    ) -> Result<SeriesIds, HostError> {
        let code = if key.code == 0 {
            "0".to_owned()
        } else {
            key.code.to_string()
        };
        let values = [
            key.method,
            &code,
            crate::labels::code_class(key.code),
            &key.route,
            &key.cluster,
            &key.consumer,
        ];
        let name = |base: &str| {
            let name = LABELS
                .iter()
                .zip(values)
                .fold(MetricName::new(&format!("{prefix}_{base}")), |n, (l, v)| {
                    n.label(l, v)
                });
            extra_names
                .iter()
                .zip(&key.extras)
                .fold(name, |n, (l, v)| n.label(l, v))
        };
        let ids = SeriesIds {
            requests: proxy.define_metric(MetricKind::Counter, name("requests_total").encoded())?,
            duration: proxy.define_metric(
                MetricKind::Histogram,
                name("request_duration_milliseconds").encoded(),
            )?,
            sizes: if self.sizes {
                Some((
                    proxy.define_metric(MetricKind::Histogram, name("request_bytes").encoded())?,
                    proxy.define_metric(MetricKind::Histogram, name("response_bytes").encoded())?,
                ))
            } else {
                None
            },
        };
        self.defined.borrow_mut().insert(key.clone(), ids);
        Ok(ids)
    }
}
