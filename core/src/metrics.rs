//! Counters with labels, named so that Envoy turns them into labelled
//! Prometheus series.
//!
//! proxy-wasm has no label API, so labels travel in the metric name as
//! `label=.=value;.;` segments before the base name:
//!
//! ```text
//! rule=.=per-client;.;decision=.=limited;.;meshwasm_ratelimit_requests_total
//! ```
//!
//! Envoy's `stats_config.stats_tags`, one regex per label (see
//! [`stats_tag_regex`]), cut each segment out and make it a tag, and the
//! Prometheus endpoint prints
//! `meshwasm_ratelimit_requests_total{rule="per-client",decision="limited"}`.
//! (Envoy files Wasm-defined metrics under its `wasmcustom` namespace,
//! which the Prometheus output leaves off the name.)

use crate::stage::{MetricKind, Proxy};
use std::cell::Cell;

/// Every label a meshwasm metric may carry: Envoy needs one
/// `stats_config.stats_tags` entry each ([`stats_tag_regex`]).
pub const LABELS: &[&str] = &[
    "method",
    "code",
    "code_class",
    "route",
    "cluster",
    "consumer",
    "label_name",
    "rule",
    "decision",
    "reason",
    "target",
    "outcome",
];

/// The longest label value kept; longer ones are cut.
const MAX_LABEL_VALUE_BYTES: usize = 64;

/// A metric's name and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricName {
    encoded: String,
    base_at: usize,
}

impl MetricName {
    /// A metric with no labels yet. `base` is a Prometheus name
    /// (`[a-zA-Z_][a-zA-Z0-9_]*`), such as `meshwasm_requests_total`.
    pub fn new(base: &str) -> Self {
        Self {
            encoded: base.to_owned(),
            base_at: 0,
        }
    }

    /// Adds a label, its value cleaned by [`clean_label_value`].
    #[must_use]
    pub fn label(mut self, name: &str, value: &str) -> Self {
        let segment = format!("{name}=.={};.;", clean_label_value(value));
        self.encoded.insert_str(self.base_at, &segment);
        self.base_at += segment.len();
        self
    }

    /// The name to define the metric under.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }
}

/// A label value as it appears in a metric's name: characters outside
/// `[A-Za-z0-9_.:/-]` become `_` (so a value can never end a segment
/// early), and it is cut at 64 characters.
pub fn clean_label_value(value: &str) -> String {
    value
        .chars()
        .take(MAX_LABEL_VALUE_BYTES)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.:/-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The `stats_config.stats_tags` regex that turns `label` into a tag.
pub fn stats_tag_regex(label: &str) -> String {
    format!("({label}=\\.=(.*?);\\.;)")
}

/// Counters of one metric told apart by a fixed set of label values,
/// each defined the first time it is used.
#[derive(Debug, Default)]
pub struct CounterFamily {
    base: String,
    labels: Vec<&'static str>,
    /// The counters used so far, by label values: a family has few, so a
    /// scan finds one without hashing or allocating per request.
    members: std::cell::RefCell<Vec<(Vec<&'static str>, Counter)>>,
}

impl CounterFamily {
    /// A family of `base` counters labelled by `labels`.
    pub fn new(base: &str, labels: &[&'static str]) -> Self {
        Self {
            base: base.to_owned(),
            labels: labels.to_vec(),
            members: std::cell::RefCell::default(),
        }
    }

    /// Adds one to the counter with these label values (in the order the
    /// labels were given).
    pub fn increment(&self, proxy: &mut dyn Proxy, values: &[&'static str]) {
        let mut members = self.members.borrow_mut();
        if let Some((_, counter)) = members.iter().find(|(v, _)| v.as_slice() == values) {
            counter.increment(proxy);
            return;
        }
        let name = self
            .labels
            .iter()
            .zip(values)
            .fold(MetricName::new(&self.base), |n, (l, v)| n.label(l, v));
        let counter = Counter::new(name);
        counter.increment(proxy);
        members.push((values.to_vec(), counter));
    }
}

/// A metric defined in Envoy the first time it is used, once per VM.
#[derive(Debug)]
struct Lazy {
    kind: MetricKind,
    name: MetricName,
    id: Cell<Option<u32>>,
}

impl Lazy {
    fn new(kind: MetricKind, name: MetricName) -> Self {
        Self {
            kind,
            name,
            id: Cell::new(None),
        }
    }

    /// Adds `by`. A stat that cannot be recorded is not worth failing a
    /// request for: errors are logged and dropped.
    fn add(&self, proxy: &mut dyn Proxy, by: i64) {
        let id = match self.id.get() {
            Some(id) => id,
            None => match proxy.define_metric(self.kind, self.name.encoded()) {
                Ok(id) => {
                    self.id.set(Some(id));
                    id
                }
                Err(e) => {
                    log::warn!("meshwasm: cannot define {}: {e}", self.name.encoded());
                    return;
                }
            },
        };
        if let Err(e) = proxy.increment_metric(id, by) {
            log::warn!("meshwasm: cannot update {}: {e}", self.name.encoded());
        }
    }
}

/// A counter defined in Envoy the first time it is used, once per VM.
#[derive(Debug)]
pub struct Counter(Lazy);

impl Counter {
    /// A counter under this name.
    pub fn new(name: MetricName) -> Self {
        Self(Lazy::new(MetricKind::Counter, name))
    }

    /// Its name.
    pub fn name(&self) -> &MetricName {
        &self.0.name
    }

    /// Adds one; errors are logged and dropped.
    pub fn increment(&self, proxy: &mut dyn Proxy) {
        self.0.add(proxy, 1);
    }
}

/// A gauge defined in Envoy the first time it is used, once per VM.
#[derive(Debug)]
pub struct Gauge(Lazy);

impl Gauge {
    /// A gauge under this name.
    pub fn new(name: MetricName) -> Self {
        Self(Lazy::new(MetricKind::Gauge, name))
    }

    /// Moves it up or down; errors are logged and dropped.
    pub fn add(&self, proxy: &mut dyn Proxy, by: i64) {
        self.0.add(proxy, by);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;

    #[test]
    fn labels_go_before_the_base_name() {
        let name = MetricName::new("meshwasm_x_total")
            .label("rule", "per-client")
            .label("decision", "limited");
        assert_eq!(
            name.encoded(),
            "rule=.=per-client;.;decision=.=limited;.;meshwasm_x_total"
        );
    }

    #[test]
    fn values_cannot_break_the_encoding() {
        let name = MetricName::new("m").label("v", "a;.;b=.=c d\"é");
        assert_eq!(name.encoded(), "v=.=a_._b_._c_d__;.;m");
        let long = MetricName::new("m").label("v", &"x".repeat(100));
        assert_eq!(
            long.encoded().len(),
            "v=.=;.;m".len() + MAX_LABEL_VALUE_BYTES
        );
    }

    #[test]
    fn label_values_are_cleaned() {
        assert_eq!(clean_label_value("alice@example.com"), "alice_example.com");
        assert_eq!(clean_label_value("a;.;b=.=c"), "a_._b_._c");
        assert_eq!(clean_label_value(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn the_regex_cuts_out_one_label() {
        assert_eq!(stats_tag_regex("rule"), r"(rule=\.=(.*?);\.;)");
    }

    #[test]
    fn a_family_defines_each_member_once() {
        let family = CounterFamily::new("m_total", &["decision", "reason"]);
        let mut host = FakeHost::new();
        family.increment(&mut host, &["allowed", "jwt"]);
        family.increment(&mut host, &["allowed", "jwt"]);
        family.increment(&mut host, &["forbidden", "claim"]);
        assert_eq!(
            host.counter("decision=.=allowed;.;reason=.=jwt;.;m_total"),
            2
        );
        assert_eq!(
            host.counter("decision=.=forbidden;.;reason=.=claim;.;m_total"),
            1
        );
        assert_eq!(host.metrics().len(), 2);
    }

    #[test]
    fn counters_are_defined_once() {
        let counter = Counter::new(MetricName::new("m").label("a", "b"));
        let mut host = FakeHost::new();
        counter.increment(&mut host);
        counter.increment(&mut host);
        assert_eq!(host.counter("a=.=b;.;m"), 2);
        assert_eq!(host.counter("other"), 0);
    }
}
