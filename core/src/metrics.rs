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
//!
//! Envoy's dynamic-module ABI (the native build) has labels of its own,
//! but defines a metric only while a filter is configured, as a
//! [`Family`]: a kind, a base name and label names. So every metric a
//! filter may record is declared when it is built ([`declare`]; the
//! metric types here do it themselves), the native adapter collects the
//! declarations ([`collect_declared`]) and defines them, and at request
//! time it [`decode`]s a name back into its family and label values.

use crate::stage::{MetricKind, Proxy};
use std::cell::{Cell, RefCell};

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

    /// Declares this name's family as a metric of `kind` (see [`declare`]).
    pub fn declare(&self, kind: MetricKind) {
        if let Some((base, labels)) = decode(&self.encoded) {
            let names: Vec<&str> = labels.iter().map(|(name, _)| *name).collect();
            declare(kind, base, &names);
        }
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

/// A metric's kind, base name and label names: what a metric is defined
/// as where labels are not part of the name (the native build).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Family {
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The base name (`meshwasm_requests_total`).
    pub base: String,
    /// The label names, in the order [`MetricName::label`] added them.
    pub labels: Vec<String>,
}

thread_local! {
    /// The families declared since [`collect_declared`] started, when it
    /// runs on this thread.
    static DECLARED: RefCell<Option<Vec<Family>>> = const { RefCell::new(None) };
}

/// Declares that metrics of this family may be recorded. A filter calls it
/// while it is built ([`crate::Filter::new`]) for every metric it names
/// per request; [`Counter`], [`Gauge`] and [`CounterFamily`] declare
/// themselves. Does nothing unless [`collect_declared`] runs.
pub fn declare(kind: MetricKind, base: &str, labels: &[&str]) {
    DECLARED.with(|declared| {
        if let Some(families) = declared.borrow_mut().as_mut() {
            let family = Family {
                kind,
                base: base.to_owned(),
                labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            };
            if !families.contains(&family) {
                families.push(family);
            }
        }
    });
}

/// Runs `build` (which builds a filter) and gives back what it returned
/// with every family declared meanwhile, without repeats.
pub fn collect_declared<T>(build: impl FnOnce() -> T) -> (T, Vec<Family>) {
    let outer = DECLARED.with(|declared| declared.borrow_mut().replace(Vec::new()));
    let built = build();
    let families = DECLARED.with(|declared| std::mem::replace(&mut *declared.borrow_mut(), outer));
    (built, families.unwrap_or_default())
}

/// An encoded name taken apart: its base name and its labels with their
/// values, in order; `None` when it is not a [`MetricName`] encoding.
pub fn decode(encoded: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let mut segments: Vec<&str> = encoded.split(";.;").collect();
    let base = segments.pop()?;
    let labels = segments
        .into_iter()
        .map(|segment| segment.split_once("=.="))
        .collect::<Option<Vec<_>>>()?;
    Some((base, labels))
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
        declare(MetricKind::Counter, base, labels);
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
        name.declare(kind);
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
    fn names_decode_into_base_and_labels() {
        let name = MetricName::new("m_total")
            .label("rule", "a")
            .label("decision", "b");
        assert_eq!(
            decode(name.encoded()),
            Some(("m_total", vec![("rule", "a"), ("decision", "b")]))
        );
        assert_eq!(decode("plain"), Some(("plain", vec![])));
        assert_eq!(decode("broken;.;m"), None);
    }

    #[test]
    fn building_declares_every_family_once() {
        let (built, families) = collect_declared(|| {
            let a = Counter::new(MetricName::new("a_total").label("rule", "x"));
            let b = Counter::new(MetricName::new("a_total").label("rule", "y"));
            let g = Gauge::new(MetricName::new("g"));
            let f = CounterFamily::new("f_total", &["decision", "reason"]);
            declare(MetricKind::Histogram, "h", &["method"]);
            (a, b, g, f)
        });
        drop(built);
        let family = |kind, base: &str, labels: &[&str]| Family {
            kind,
            base: base.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        };
        assert_eq!(
            families,
            [
                family(MetricKind::Counter, "a_total", &["rule"]),
                family(MetricKind::Gauge, "g", &[]),
                family(MetricKind::Counter, "f_total", &["decision", "reason"]),
                family(MetricKind::Histogram, "h", &["method"]),
            ]
        );
        // Outside a collection, declaring does nothing.
        declare(MetricKind::Counter, "lost", &[]);
        assert!(collect_declared(|| ()).1.is_empty());
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
