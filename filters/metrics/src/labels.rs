//! Label values: normalised, and capped so that no client can blow up
//! the number of series.

use meshwasm_core::metrics::clean_label_value;
use meshwasm_core::{Proxy, Written};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

/// What a capped label records once it has as many values as it may.
pub const OTHER: &str = "other";
/// What a label records when the request has no value for it.
pub const NONE: &str = "none";
/// Compare-and-swap attempts when admitting a value.
const ATTEMPTS: u32 = 8;
/// A CAS number no value has: writing with it creates a key only if absent.
const ABSENT: u32 = u32::MAX;

/// The method, or `OTHER` for anything but the standard ones.
pub fn method(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER")
}

/// `2xx` for 200 to 299, and so on; `none` when there was no response.
pub fn code_class(code: u16) -> &'static str {
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => NONE,
    }
}

/// A label whose distinct values are capped, for all of Envoy's workers
/// together: the values admitted so far live in shared data, and each
/// worker keeps a copy of those it has seen.
#[derive(Debug)]
pub struct CappedLabel {
    key: String,
    cap: usize,
    seen: RefCell<HashSet<String>>,
    full: Cell<bool>,
}

/// Whether a value was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// Kept, as this (cleaned) value.
    Yes(String),
    /// Over the cap: record [`OTHER`].
    Overflow,
}

impl CappedLabel {
    /// A label of `prefix`'s metrics that may take `cap` values.
    pub fn new(prefix: &str, label: &str, cap: u32) -> Self {
        Self {
            key: format!("meshwasm.metrics.{prefix}.{label}"),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            seen: RefCell::new(HashSet::new()),
            full: Cell::new(false),
        }
    }

    /// Admits `value` if it is known or there is room for it.
    pub fn admit(&self, proxy: &mut dyn Proxy, value: &str) -> Admitted {
        let value = clean_label_value(value);
        if self.seen.borrow().contains(&value) {
            return Admitted::Yes(value);
        }
        if self.full.get() {
            return Admitted::Overflow;
        }
        for _ in 0..ATTEMPTS {
            let (values, cas) = match proxy.shared_get(&self.key) {
                Ok(Some(shared)) => (shared.value, Some(shared.cas)),
                Ok(None) => (Vec::new(), None),
                Err(e) => {
                    log::warn!("meshwasm metrics: {e}");
                    return Admitted::Overflow;
                }
            };
            let text = String::from_utf8_lossy(&values);
            let admitted: Vec<&str> = text.split('\n').filter(|v| !v.is_empty()).collect();
            self.seen
                .borrow_mut()
                .extend(admitted.iter().map(|v| (*v).to_owned()));
            if admitted.contains(&value.as_str()) {
                return Admitted::Yes(value);
            }
            if admitted.len() >= self.cap {
                self.full.set(true);
                return Admitted::Overflow;
            }
            let mut updated = text.into_owned();
            updated.push_str(&value);
            updated.push('\n');
            match proxy.shared_set(&self.key, updated.as_bytes(), Some(cas.unwrap_or(ABSENT))) {
                Ok(Written::Yes) => {
                    self.seen.borrow_mut().insert(value.clone());
                    return Admitted::Yes(value);
                }
                Ok(Written::Conflict) => {}
                Err(e) => {
                    log::warn!("meshwasm metrics: {e}");
                    return Admitted::Overflow;
                }
            }
        }
        Admitted::Overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::testing::FakeHost;

    #[test]
    fn methods_are_normalised() {
        assert_eq!(method("GET"), "GET");
        assert_eq!(method("PATCH"), "PATCH");
        assert_eq!(method("get"), "OTHER");
        assert_eq!(method("PROPFIND"), "OTHER");
    }

    #[test]
    fn codes_have_classes() {
        assert_eq!(code_class(200), "2xx");
        assert_eq!(code_class(404), "4xx");
        assert_eq!(code_class(503), "5xx");
        assert_eq!(code_class(0), "none");
        assert_eq!(code_class(600), "none");
    }

    #[test]
    fn a_label_keeps_at_most_its_cap_across_workers() {
        let label = CappedLabel::new("mw", "consumer", 3);
        let other_worker_label = CappedLabel::new("mw", "consumer", 3);
        let worker = FakeHost::new();
        let mut other_worker = worker.sharing(&[]);
        let mut worker = worker;
        assert_eq!(
            label.admit(&mut worker, "alice"),
            Admitted::Yes("alice".into())
        );
        assert_eq!(
            other_worker_label.admit(&mut other_worker, "bob"),
            Admitted::Yes("bob".into())
        );
        assert_eq!(
            label.admit(&mut worker, "carol"),
            Admitted::Yes("carol".into())
        );
        // The table is full: new values overflow on every worker, known
        // ones still count as themselves.
        assert_eq!(
            other_worker_label.admit(&mut other_worker, "dave"),
            Admitted::Overflow
        );
        assert_eq!(label.admit(&mut worker, "erin"), Admitted::Overflow);
        assert_eq!(
            other_worker_label.admit(&mut other_worker, "alice"),
            Admitted::Yes("alice".into())
        );
        assert_eq!(label.admit(&mut worker, "bob"), Admitted::Yes("bob".into()));
    }

    #[test]
    fn a_flood_of_values_stays_within_the_cap() {
        let label = CappedLabel::new("mw", "consumer", 10);
        let mut host = FakeHost::new();
        let kept = (0..1000)
            .filter(|i| {
                matches!(
                    label.admit(&mut host, &format!("attacker-{i}")),
                    Admitted::Yes(_)
                )
            })
            .count();
        assert_eq!(kept, 10);
    }

    #[test]
    fn a_race_to_add_a_value_is_retried() {
        let label = CappedLabel::new("mw", "route", 2);
        let mut host = FakeHost::new();
        let key = "meshwasm.metrics.mw.route".to_owned();
        host.process.borrow_mut().before_next_write = Some(Box::new(move |p| {
            p.set(&key, b"other-worker\n", None);
        }));
        assert_eq!(label.admit(&mut host, "mine"), Admitted::Yes("mine".into()));
        assert_eq!(label.admit(&mut host, "third"), Admitted::Overflow);
    }
}
