//! `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit` on limitador.
//!
//! The mapping is Limitador server's (its Envoy RLS frontend):
//! - namespace = the request's `domain`;
//! - the CEL context binds `descriptors`: one map per request descriptor, its
//!   entries key → value, in request order;
//! - delta = `hits_addend`, 0 meaning 1;
//! - `check_rate_limited_and_update`: OVER_LIMIT if any limit that applies
//!   would go over (then nothing is counted), else OK and every counter that
//!   applies is counted;
//! - a storage error (Redis down) → gRPC UNAVAILABLE, so the caller applies
//!   its failure mode.
//!
//! What it adds: one `DescriptorStatus` per request descriptor (Limitador
//! server leaves `statuses` empty), an empty `domain` refused with
//! INVALID_ARGUMENT (Limitador answers UNKNOWN), requests of one namespace
//! checked one at a time (see [`RateLimiter`]), and a bounded wait on Redis.

use crate::limits::descriptor_indices;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    rate_limit::Unit, Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf::Duration as PbDuration;
use limitador::counter::Counter;
use limitador::errors::LimitadorError;
use limitador::limit::{Context, Namespace};
use limitador::{AsyncRateLimiter, CheckResult};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// How long one check may wait on Redis before the answer is UNAVAILABLE.
pub const STORAGE_TIMEOUT: Duration = Duration::from_secs(1);

/// A namespace that has limits.
struct NamespaceState {
    /// limitador's Redis storage reads the counters, then increments them, in
    /// two round trips: two checks of one counter at once could both read
    /// "one left" and both pass. Checks of one namespace (counters never span
    /// namespaces) are therefore made one at a time in this process.
    lock: tokio::sync::Mutex<()>,
    /// See [`crate::limits::Limits::descriptors_needed`].
    descriptors_needed: usize,
}

/// The service: a limitador limiter on Redis, and what it needs per namespace.
pub struct RateLimiter {
    limiter: Arc<AsyncRateLimiter>,
    namespaces: HashMap<String, Arc<NamespaceState>>,
    /// Whether the last check reached Redis: errors are logged when it stops
    /// being reachable and when it is back, not on every request.
    storage_ok: Arc<AtomicBool>,
}

impl RateLimiter {
    /// `limiter` holds the limits already; `descriptors_needed` has an entry
    /// for every namespace that has limits.
    pub fn new(limiter: AsyncRateLimiter, descriptors_needed: &BTreeMap<String, usize>) -> Self {
        let namespaces = descriptors_needed
            .iter()
            .map(|(namespace, needed)| {
                (
                    namespace.clone(),
                    Arc::new(NamespaceState {
                        lock: tokio::sync::Mutex::new(()),
                        descriptors_needed: *needed,
                    }),
                )
            })
            .collect();
        Self {
            limiter: Arc::new(limiter),
            namespaces,
            storage_ok: Arc::new(AtomicBool::new(true)),
        }
    }

    fn storage_failed(&self, why: &str) -> Status {
        if self.storage_ok.swap(false, Ordering::Relaxed) {
            crate::log(&format!(
                "rate limit storage unavailable, answering UNAVAILABLE until it is back: {why}"
            ));
        }
        Status::unavailable(format!("rate limit storage unavailable: {why}"))
    }

    fn storage_worked(&self) {
        if !self.storage_ok.swap(true, Ordering::Relaxed) {
            crate::log("rate limit storage available again");
        }
    }
}

#[tonic::async_trait]
impl RateLimitService for RateLimiter {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        let request = request.into_inner();
        if request.domain.is_empty() {
            return Err(Status::invalid_argument(
                "the rate limit domain must not be empty",
            ));
        }
        // limitador applies one delta to every counter; these would count
        // differently per descriptor, and are refused rather than ignored.
        if let Some(i) = request
            .descriptors
            .iter()
            .position(|d| d.hits_addend.is_some() || d.is_negative_hits || d.limit.is_some())
        {
            return Err(Status::invalid_argument(format!(
                "descriptors[{i}]: per-descriptor hits_addend, is_negative_hits and limit \
                 overrides are not supported; use the request's hits_addend"
            )));
        }
        let delta = if request.hits_addend == 0 {
            1
        } else {
            u64::from(request.hits_addend)
        };
        let count = request.descriptors.len();
        let Some(state) = self.namespaces.get(&request.domain) else {
            // No limit has this namespace: limitador would find none to apply.
            return Ok(Response::new(answer(None, count, delta)));
        };

        let mut descriptors: Vec<HashMap<String, String>> = request
            .descriptors
            .into_iter()
            .map(|d| d.entries.into_iter().map(|e| (e.key, e.value)).collect())
            .collect();
        if descriptors.len() < state.descriptors_needed {
            descriptors.resize_with(state.descriptors_needed, HashMap::new);
        }

        let limiter = Arc::clone(&self.limiter);
        let state = Arc::clone(state);
        let namespace = Namespace::from(request.domain);
        // In a task of its own: limitador panics on a condition whose CEL
        // evaluation fails (Limit::applies unwraps it); that is an INTERNAL
        // answer to this request, not a dropped connection.
        let check = tokio::spawn(async move {
            // The wait for the namespace's turn counts: under a load Redis
            // cannot keep up with, checks fail fast instead of queueing.
            let checked = tokio::time::timeout(STORAGE_TIMEOUT, async {
                let _one_at_a_time = state.lock.lock().await;
                let mut ctx = Context::default();
                ctx.list_binding("descriptors".to_string(), descriptors);
                limiter
                    .check_rate_limited_and_update(&namespace, &ctx, delta)
                    .await
            })
            .await;
            // limitador's errors are not Send: keep their text.
            match checked {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(LimitadorError::StorageError(e))) => Err(Failure::Storage(e.to_string())),
                Ok(Err(LimitadorError::InterpreterError(e))) => {
                    Err(Failure::Evaluation(e.to_string()))
                }
                Err(_elapsed) => Err(Failure::Storage(format!(
                    "no answer within {} ms",
                    STORAGE_TIMEOUT.as_millis()
                ))),
            }
        });

        match check.await {
            Ok(Ok(result)) => {
                if !result.counters.is_empty() {
                    // It went to Redis.
                    self.storage_worked();
                }
                Ok(Response::new(answer(Some(&result), count, delta)))
            }
            Ok(Err(Failure::Storage(e))) => Err(self.storage_failed(&e)),
            Ok(Err(Failure::Evaluation(e))) => {
                crate::log(&format!("a limit's CEL failed on a request: {e}"));
                Err(Status::internal(format!(
                    "evaluating the limits failed: {e}"
                )))
            }
            // A panic in limitador (the hook logged it) or a cancelled task.
            Err(_) => Err(Status::internal("evaluating the limits failed")),
        }
    }
}

/// Why a check has no answer.
enum Failure {
    /// Redis failed, or did not answer in time.
    Storage(String),
    /// A limit's CEL could not be evaluated on the request.
    Evaluation(String),
}

/// The answer for `count` request descriptors from limitador's result (None:
/// no limit applied).
///
/// A limit belongs to the request descriptors whose literal index its
/// conditions or variables name (`descriptors[1].x` → the second), or to all
/// of them if they name none. Each descriptor's status is that of its most
/// restrictive counter: one over the limit first, then the least remaining.
/// A descriptor without counters is OK with no `current_limit`.
pub fn answer(result: Option<&CheckResult>, count: usize, delta: u64) -> RateLimitResponse {
    let limited = result.is_some_and(|r| r.limited);
    let counters: &[Counter] = result.map_or(&[], |r| &r.counters);
    // On OVER_LIMIT nothing was counted and `remaining` is before this
    // request: a counter is over if it has less than `delta` left.
    let is_over = |c: &Counter| limited && c.remaining().unwrap_or(0) < delta;
    let belongs: Vec<Vec<usize>> = counters.iter().map(owners).collect();

    let statuses = (0..count)
        .map(|i| {
            let mine = counters
                .iter()
                .zip(belongs.iter())
                .filter(|(_, o)| o.is_empty() || o.contains(&i))
                .map(|(c, _)| c);
            let worst = mine.min_by_key(|c| {
                (
                    !is_over(c),
                    c.remaining().unwrap_or(0),
                    std::cmp::Reverse(c.expires_in()),
                )
            });
            match worst {
                None => DescriptorStatus {
                    code: Code::Ok.into(),
                    ..Default::default()
                },
                Some(c) => status(c, is_over(c)),
            }
        })
        .collect();

    RateLimitResponse {
        overall_code: if limited { Code::OverLimit } else { Code::Ok }.into(),
        statuses,
        ..Default::default()
    }
}

/// The request descriptor indices a counter's limit names.
fn owners(counter: &Counter) -> Vec<usize> {
    let limit = counter.limit();
    let mut owners: Vec<usize> = limit
        .conditions()
        .iter()
        .chain(limit.variables().iter())
        .flat_map(|source| descriptor_indices(source))
        .collect();
    owners.sort_unstable();
    owners.dedup();
    owners
}

fn status(counter: &Counter, over: bool) -> DescriptorStatus {
    let limit = counter.limit();
    DescriptorStatus {
        code: if over { Code::OverLimit } else { Code::Ok }.into(),
        current_limit: Some(RateLimit {
            name: limit.name().unwrap_or_default().to_string(),
            requests_per_unit: u32::try_from(limit.max_value()).unwrap_or(u32::MAX),
            unit: unit(limit.seconds()).into(),
        }),
        limit_remaining: u32::try_from(counter.remaining().unwrap_or(0)).unwrap_or(u32::MAX),
        duration_until_reset: counter.expires_in().map(|d| PbDuration {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        }),
        quota: None,
    }
}

/// The RLS unit of a window of `seconds`: the unit itself when the window is
/// exactly one, else UNKNOWN (`requests_per_unit` stays `max_value`, and
/// `duration_until_reset` tells when the window ends).
pub fn unit(seconds: u64) -> Unit {
    match seconds {
        1 => Unit::Second,
        60 => Unit::Minute,
        3_600 => Unit::Hour,
        86_400 => Unit::Day,
        604_800 => Unit::Week,
        _ => Unit::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use limitador::limit::Limit;

    fn counter(
        max: u64,
        seconds: u64,
        conditions: &[&str],
        variables: &[&str],
        remaining: u64,
        reset: u64,
    ) -> Counter {
        let limit = Limit::new(
            "ns",
            max,
            seconds,
            conditions.iter().map(|c| (*c).try_into().unwrap()),
            variables.iter().map(|v| (*v).try_into().unwrap()),
        );
        let mut ctx = Context::default();
        ctx.list_binding(
            "descriptors".to_string(),
            vec![
                HashMap::from([("a".to_string(), "1".to_string())]),
                HashMap::from([("b".to_string(), "2".to_string())]),
            ],
        );
        let mut c = Counter::new(limit, &ctx).unwrap().unwrap();
        c.set_remaining(remaining);
        c.set_expires_in(Duration::from_secs(reset));
        c
    }

    fn result(limited: bool, counters: Vec<Counter>) -> CheckResult {
        CheckResult {
            limited,
            counters,
            limit_name: None,
        }
    }

    #[test]
    fn no_limit_is_ok_for_every_descriptor() {
        let r = answer(None, 2, 1);
        assert_eq!(r.overall_code, i32::from(Code::Ok));
        assert_eq!(r.statuses.len(), 2);
        assert!(r
            .statuses
            .iter()
            .all(|s| s.code == i32::from(Code::Ok) && s.current_limit.is_none()));
    }

    #[test]
    fn a_limit_belongs_to_the_descriptor_it_names() {
        let first = counter(5, 60, &[], &["descriptors[0].a"], 3, 40);
        let second = counter(10, 3_600, &["descriptors[1].b == '2'"], &[], 7, 100);
        let r = answer(Some(&result(false, vec![first, second])), 2, 1);
        assert_eq!(r.overall_code, i32::from(Code::Ok));
        let s0 = &r.statuses[0];
        assert_eq!(s0.code, i32::from(Code::Ok));
        assert_eq!(s0.limit_remaining, 3);
        let limit = s0.current_limit.as_ref().unwrap();
        assert_eq!(
            (limit.requests_per_unit, limit.unit),
            (5, i32::from(Unit::Minute))
        );
        assert_eq!(s0.duration_until_reset.unwrap().seconds, 40);
        let s1 = &r.statuses[1];
        assert_eq!(s1.limit_remaining, 7);
        assert_eq!(
            s1.current_limit.as_ref().unwrap().unit,
            i32::from(Unit::Hour)
        );
    }

    #[test]
    fn a_limit_naming_no_descriptor_belongs_to_all_and_the_tightest_wins() {
        let global = counter(100, 1, &[], &[], 2, 1);
        let first = counter(5, 60, &[], &["descriptors[0].a"], 4, 40);
        let r = answer(Some(&result(false, vec![first, global])), 2, 1);
        assert_eq!(r.statuses[0].limit_remaining, 2);
        assert_eq!(r.statuses[1].limit_remaining, 2);
        assert_eq!(
            r.statuses[1].current_limit.as_ref().unwrap().unit,
            i32::from(Unit::Second)
        );
    }

    #[test]
    fn over_limit_marks_the_descriptors_whose_counter_is_over() {
        let first = counter(5, 60, &[], &["descriptors[0].a"], 0, 30);
        let second = counter(10, 60, &[], &["descriptors[1].b"], 6, 30);
        let r = answer(Some(&result(true, vec![first, second])), 3, 1);
        assert_eq!(r.overall_code, i32::from(Code::OverLimit));
        assert_eq!(r.statuses[0].code, i32::from(Code::OverLimit));
        assert_eq!(r.statuses[0].limit_remaining, 0);
        assert_eq!(r.statuses[1].code, i32::from(Code::Ok));
        assert_eq!(r.statuses[1].limit_remaining, 6);
        assert_eq!(r.statuses[2].code, i32::from(Code::Ok));
        assert!(r.statuses[2].current_limit.is_none());
    }

    #[test]
    fn over_means_less_left_than_the_hits_asked_for() {
        let c = counter(10, 60, &[], &["descriptors[0].a"], 2, 30);
        let r = answer(Some(&result(true, vec![c])), 1, 5);
        assert_eq!(r.statuses[0].code, i32::from(Code::OverLimit));
        assert_eq!(r.statuses[0].limit_remaining, 2);
    }

    #[test]
    fn units_only_for_exact_windows() {
        assert_eq!(unit(1), Unit::Second);
        assert_eq!(unit(60), Unit::Minute);
        assert_eq!(unit(3_600), Unit::Hour);
        assert_eq!(unit(86_400), Unit::Day);
        assert_eq!(unit(604_800), Unit::Week);
        assert_eq!(unit(10), Unit::Unknown);
        assert_eq!(unit(90), Unit::Unknown);
    }

    #[test]
    fn big_numbers_saturate() {
        let c = counter(u64::MAX, 60, &[], &[], u64::MAX, 30);
        let r = answer(Some(&result(false, vec![c])), 1, 1);
        assert_eq!(r.statuses[0].limit_remaining, u32::MAX);
        assert_eq!(
            r.statuses[0]
                .current_limit
                .as_ref()
                .unwrap()
                .requests_per_unit,
            u32::MAX
        );
    }
}
