//! Label values: normalised, and capped so that no client can blow up
//! the number of series.

use meshwasm_core::metrics::{clean_label_value, Counter, MetricName};
use meshwasm_core::{Proxy, Written};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

/// What a capped label records once it has as many values as it may.
pub const OTHER: &str = "other";
/// What a label records when the request has no value for it.
pub const NONE: &str = "none";
/// Lost compare-and-swaps after which the set read back had not grown.
/// Envoy never causes one (see [`CappedLabel::admit`]), so this bound only
/// stops a misbehaving host from keeping a worker looping.
const STALLS: u32 = 64;

/// The method, or `OTHER` for anything but the standard ones.
pub fn method(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER")
}

/// Every value [`method`] gives.
pub const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER",
];

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
    /// `<prefix>_label_admission_errors_total{label_name}`: values that
    /// could not be checked against the set (shared data failed).
    errors: Counter,
}

/// Whether a value was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// Kept, as this (cleaned) value.
    Yes(String),
    /// Over the cap: record [`OTHER`], and count an overflow.
    Overflow,
    /// The set could not be checked (counted in
    /// `<prefix>_label_admission_errors_total`): record [`OTHER`].
    Unavailable,
}

impl CappedLabel {
    /// A label of `prefix`'s metrics that may take `cap` values.
    pub fn new(prefix: &str, label: &str, cap: u32) -> Self {
        Self {
            key: format!("meshwasm.metrics.{prefix}.{label}"),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            seen: RefCell::new(HashSet::new()),
            full: Cell::new(false),
            errors: Counter::new(
                MetricName::new(&format!("{prefix}_label_admission_errors_total"))
                    .label("label_name", label),
            ),
        }
    }

    /// Admits `value` if it is known or there is room for it: a value is
    /// [`Admitted::Overflow`] only when the set really holds `cap` values
    /// (or shared data failed, which is logged and counted apart).
    ///
    /// Adding a value is a compare-and-swap of the whole set, retried with
    /// no fixed bound while the set has room: every write that succeeds
    /// adds exactly one value, so each lost compare-and-swap means the set
    /// grew, and after at most `cap` of them it is full. A lost one after
    /// which the set has not grown cannot happen with Envoy; [`STALLS`] of
    /// them end the loop as an error.
    pub fn admit(&self, proxy: &mut dyn Proxy, value: &str) -> Admitted {
        // Admitted values are clean, and cleaning leaves a clean value as
        // it is: a known value needs no cleaning.
        if self.seen.borrow().contains(value) {
            return Admitted::Yes(value.to_owned());
        }
        let value = clean_label_value(value);
        if self.seen.borrow().contains(&value) {
            return Admitted::Yes(value);
        }
        if self.full.get() {
            return Admitted::Overflow;
        }
        let mut stalls = 0;
        let mut last_len = None;
        loop {
            let (values, cas) = match proxy.shared_get(&self.key) {
                Ok(Some(shared)) => (shared.value, Some(shared.cas)),
                Ok(None) => (Vec::new(), None),
                Err(e) => return self.failed(proxy, format_args!("cannot read: {e}")),
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
            if last_len.is_some_and(|len| admitted.len() <= len) {
                stalls += 1;
                if stalls >= STALLS {
                    return self.failed(
                        proxy,
                        format_args!("{stalls} writes conflicted but the set did not grow"),
                    );
                }
            }
            last_len = Some(admitted.len());
            let mut updated = text.into_owned();
            updated.push_str(&value);
            updated.push('\n');
            match proxy.shared_replace(&self.key, updated.as_bytes(), cas) {
                Ok(Written::Yes) => {
                    self.seen.borrow_mut().insert(value.clone());
                    return Admitted::Yes(value);
                }
                Ok(Written::Conflict) => {}
                Err(e) => return self.failed(proxy, format_args!("cannot write: {e}")),
            }
        }
    }

    /// The set could not be checked: logged and counted as an error, and
    /// recorded as [`OTHER`] so that a failing host cannot add series.
    fn failed(&self, proxy: &mut dyn Proxy, why: fmt::Arguments<'_>) -> Admitted {
        log::error!(
            "meshwasm metrics: cannot admit a value to `{}`: {why}",
            self.key
        );
        self.errors.increment(proxy);
        Admitted::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::testing::{FakeHost, OtherWorker};

    const ERRORS: &str = "label_name=.=route;.;mw_label_admission_errors_total";

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

    /// Other workers, `n` of them one after another, each writing the
    /// label's set between this worker's read and its write: `grow` adds a
    /// value of theirs each time, otherwise they write the set back as it
    /// was (a conflict without progress, which Envoy never causes).
    fn other_workers(key: &str, n: u32, grow: bool) -> OtherWorker {
        let key = key.to_owned();
        Box::new(move |p| {
            let mut set = p.get(&key).map(|s| s.value).unwrap_or_default();
            if grow {
                set.extend_from_slice(format!("worker-{n}\n").as_bytes());
            }
            p.set(&key, &set, None);
            if n > 1 {
                p.before_next_write = Some(other_workers(&key, n - 1, grow));
            }
        })
    }

    fn set_of(host: &FakeHost, key: &str) -> Vec<String> {
        let shared = host.process.borrow().get(key).unwrap();
        String::from_utf8(shared.value)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_value_below_the_cap_is_admitted_however_often_others_win_the_race() {
        // Twenty other workers in a row add a value between this worker's
        // read and its write: every attempt conflicts until they are done.
        // The set never gets near its cap, so the value must be admitted,
        // not recorded as `other`.
        let label = CappedLabel::new("mw", "route", 100);
        let mut host = FakeHost::new();
        let key = "meshwasm.metrics.mw.route";
        host.process.borrow_mut().before_next_write = Some(other_workers(key, 20, true));
        assert_eq!(label.admit(&mut host, "mine"), Admitted::Yes("mine".into()));
        let set = set_of(&host, key);
        assert_eq!(set.len(), 21, "{set:?}");
        assert_eq!(set.last().map(String::as_str), Some("mine"));
        assert_eq!(host.counter(ERRORS), 0);
        assert_eq!(label.admit(&mut host, "mine"), Admitted::Yes("mine".into()));
    }

    #[test]
    fn a_value_is_other_only_once_others_really_filled_the_set() {
        // Others fill the last free places while this worker retries: it
        // then sees a full set, and only then records `other`.
        let label = CappedLabel::new("mw", "route", 5);
        let mut host = FakeHost::new();
        let key = "meshwasm.metrics.mw.route";
        host.process.borrow_mut().before_next_write = Some(other_workers(key, 5, true));
        assert_eq!(label.admit(&mut host, "late"), Admitted::Overflow);
        assert_eq!(set_of(&host, key).len(), 5);
        assert_eq!(host.counter(ERRORS), 0, "a full set is no error");
    }

    #[test]
    fn conflicts_without_progress_end_in_a_counted_error() {
        // A host whose writes keep failing while the set never changes is
        // not Envoy: the worker gives up, counts and logs an error.
        let label = CappedLabel::new("mw", "route", 100);
        let mut host = FakeHost::new();
        let key = "meshwasm.metrics.mw.route";
        host.process.borrow_mut().before_next_write = Some(other_workers(key, 1000, false));
        assert_eq!(label.admit(&mut host, "mine"), Admitted::Unavailable);
        assert_eq!(host.counter(ERRORS), 1);
        assert!(host.process.borrow().before_next_write.is_some(), "gave up");
    }

    #[test]
    fn host_failures_are_counted_as_errors() {
        let label = CappedLabel::new("mw", "route", 100);
        let mut host = FakeHost::new();
        host.process.borrow_mut().fail_shared_data = true;
        assert_eq!(label.admit(&mut host, "mine"), Admitted::Unavailable);
        assert_eq!(host.counter(ERRORS), 1);
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
