//! The rate-limit filter's work on one request.

use crate::config::FailureMode;
use crate::headers::Quota;
use crate::key;
use crate::store::{BucketStore, StoreError};
use crate::{CompiledRule, RateLimit};
use meshwasm_core::request::Request;
use meshwasm_core::{Flow, HeaderMap, HostError, LocalResponse, Proxy, Stage};
use std::rc::Rc;

/// The rate-limit filter's state for one request.
#[derive(Debug)]
pub struct RateLimitStage {
    filter: Rc<RateLimit>,
    /// The tightest quota the request left, for the response headers.
    quota: Option<Quota>,
}

impl RateLimitStage {
    /// A stage for one request.
    pub fn new(filter: Rc<RateLimit>) -> Self {
        Self {
            filter,
            quota: None,
        }
    }

    /// Keeps the quota with the fewest requests left.
    fn note(&mut self, quota: Quota) {
        if self
            .quota
            .as_ref()
            .is_none_or(|q| quota.remaining < q.remaining)
        {
            self.quota = Some(quota);
        }
    }

    /// The store failed for `rule`: count it, then allow or refuse as
    /// configured.
    fn failed(
        &self,
        request: &mut Request<'_>,
        rule: &CompiledRule,
        err: &StoreError,
    ) -> Option<Flow> {
        match err {
            StoreError::Full => rule.counters.overflow.increment(request),
            _ => {
                log::warn!("meshwasm rate-limit: rule `{}`: {err}", rule.name);
                rule.counters.error.increment(request);
            }
        }
        (self.filter.failure_mode == FailureMode::Deny).then(|| {
            Flow::Respond(
                LocalResponse::json_error(
                    429,
                    "rate_limited",
                    &format!("rate limit `{}` could not be checked", rule.name),
                )
                .with_header("retry-after", "1"),
            )
        })
    }
}

impl Stage for RateLimitStage {
    fn on_request_headers(&mut self, request: &mut Request<'_>) -> Flow {
        let filter = Rc::clone(&self.filter);
        for rule in &filter.rules {
            // The view reads the clock once per callback, and only when a
            // rule counts the request.
            let counted = match rule.matcher.matches(request) {
                Ok(false) => continue,
                Ok(true) => {
                    key::digest(&rule.key, request, filter.xff_trusted_hops).and_then(|key| {
                        let now = request
                            .epoch_nanos()
                            .ok_or_else(|| HostError::Status("no clock".to_owned()))?;
                        Ok((key, now))
                    })
                }
                Err(err) => Err(err),
            };
            let decision = counted
                .map_err(StoreError::Host)
                .and_then(|(key, now)| rule.store.update(request, &key, &rule.gcra, now));
            let decision = match decision {
                Ok(decision) => decision,
                Err(err) => match self.failed(request, rule, &err) {
                    Some(refusal) => return refusal,
                    None => continue,
                },
            };
            let quota = Quota::new(&rule.name, &rule.gcra, &decision);
            if decision.allowed {
                rule.counters.allowed.increment(request);
            } else if rule.shadow {
                log::debug!(
                    "meshwasm rate-limit: rule `{}` would limit (shadow)",
                    rule.name
                );
                rule.counters.shadow_limited.increment(request);
                continue;
            } else {
                rule.counters.limited.increment(request);
                let mut answer = LocalResponse::json_error(
                    429,
                    "rate_limited",
                    &format!(
                        "rate limit `{}` exceeded; retry in {} s",
                        rule.name, decision.retry_after
                    ),
                )
                .with_header("retry-after", &decision.retry_after.to_string());
                answer.headers.extend(quota.headers());
                return Flow::Respond(answer);
            }
            self.note(quota);
        }
        Flow::Continue
    }

    fn on_response_headers(&mut self, request: &mut Request<'_>) {
        if !self.filter.response_headers {
            return;
        }
        if let Some(quota) = &self.quota {
            for (name, value) in quota.headers() {
                if let Err(e) = request.set_header(HeaderMap::Response, &name, &value) {
                    log::debug!("meshwasm rate-limit: cannot set `{name}`: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
