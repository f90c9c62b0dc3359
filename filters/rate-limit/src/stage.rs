//! The rate-limit filter's work on one request.

use crate::config::FailureMode;
use crate::filter::{CompiledRule, Local, RateLimit};
use crate::global::{self, Outcome};
use crate::headers::Quota;
use crate::key;
use crate::rls;
use crate::store::{BucketStore, StoreError};
use meshwasm_core::request::Request;
use meshwasm_core::{
    Flow, GrpcCall, GrpcResponse, HeaderMap, HostError, LocalResponse, Proxy, Stage,
};
use std::rc::Rc;

/// The rate-limit filter's state for one request.
#[derive(Debug)]
pub struct RateLimitStage {
    filter: Rc<RateLimit>,
    /// The tightest quota the request left, for the response headers.
    quota: Option<Quota>,
    /// The call to the rate limit service the request is held for.
    pending: Option<Pending>,
}

/// A call to the rate limit service, and the rules it asks about (their
/// indexes, in the order of the descriptors sent).
#[derive(Debug)]
struct Pending {
    token: u32,
    rules: Vec<usize>,
}

impl RateLimitStage {
    /// A stage for one request.
    pub fn new(filter: Rc<RateLimit>) -> Self {
        Self {
            filter,
            quota: None,
            pending: None,
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

    /// `rule` could not be checked (its local store failed, or the request
    /// could not be read): count it, then allow or refuse as configured.
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
        (self.filter.failure_mode == FailureMode::Deny).then(|| unchecked(&rule.name))
    }

    /// Applies a rule's local limit: `Some` ends the request's checks.
    fn check_local(
        &mut self,
        request: &mut Request<'_>,
        rule: &CompiledRule,
        local: &Local,
    ) -> Option<Flow> {
        // The view reads the clock once per callback, and only when a rule
        // counts the request.
        let decision = key::digest(&local.key, request, self.filter.xff_trusted_hops)
            .and_then(|key| {
                let now = request
                    .epoch_nanos()
                    .ok_or_else(|| HostError::Status("no clock".to_owned()))?;
                Ok((key, now))
            })
            .map_err(StoreError::Host)
            .and_then(|(key, now)| local.store.update(request, &key, &local.gcra, now));
        let decision = match decision {
            Ok(decision) => decision,
            Err(err) => return self.failed(request, rule, &err),
        };
        let quota = Quota::new(&rule.name, &local.gcra, &decision);
        if decision.allowed {
            rule.counters.allowed.increment(request);
        } else if rule.shadow {
            log::debug!(
                "meshwasm rate-limit: rule `{}` would limit (shadow)",
                rule.name
            );
            rule.counters.shadow_limited.increment(request);
            return None;
        } else {
            rule.counters.limited.increment(request);
            return Some(limited(rule, decision.retry_after, Some(&quota)));
        }
        self.note(quota);
        None
    }

    /// Asks the rate limit service about the global rules the request
    /// matched, holding the request until it answers.
    fn ask(
        &mut self,
        request: &mut Request<'_>,
        asked: Vec<(usize, rls::RateLimitDescriptor)>,
    ) -> Flow {
        let filter = Rc::clone(&self.filter);
        let Some(service) = &filter.service else {
            // Validation refuses global rules without a service.
            return Flow::Continue;
        };
        let (rules, descriptors): (Vec<usize>, Vec<_>) = asked.into_iter().unzip();
        let message = service.request(descriptors);
        let call = GrpcCall {
            cluster: &service.cluster,
            service: rls::SERVICE,
            method: rls::METHOD,
            message: &message,
            timeout: service.timeout,
        };
        match request.dispatch_grpc(&call) {
            Ok(token) => {
                self.pending = Some(Pending { token, rules });
                Flow::Pause
            }
            Err(err) => {
                log::warn!(
                    "meshwasm rate-limit: cannot call the rate limit service on `{}`: {err}",
                    service.cluster
                );
                service.count(request, Outcome::Unavailable);
                self.unanswered(request, &rules)
            }
        }
    }

    /// The service gave no answer to go by for `rules`: count it, then
    /// allow or refuse as its failure mode says.
    fn unanswered(&self, request: &mut Request<'_>, rules: &[usize]) -> Flow {
        let mut first = None;
        for rule in rules.iter().filter_map(|&i| self.filter.rules.get(i)) {
            rule.counters.error.increment(request);
            first = first.or(Some(rule));
        }
        let deny = self
            .filter
            .service
            .as_ref()
            .is_some_and(|s| s.failure_mode == FailureMode::Deny);
        match first {
            Some(rule) if deny => unchecked(&rule.name),
            _ => Flow::Continue,
        }
    }
}

/// The 429 of a rule over its limit.
fn limited(rule: &CompiledRule, retry_after: u64, quota: Option<&Quota>) -> Flow {
    let mut answer = LocalResponse::json_error(
        429,
        "rate_limited",
        &format!(
            "rate limit `{}` exceeded; retry in {retry_after} s",
            rule.name
        ),
    )
    .with_header("retry-after", &retry_after.to_string());
    if let Some(quota) = quota {
        answer.headers.extend(quota.headers());
    }
    Flow::Respond(answer)
}

/// The 429 of a rule that could not be checked, under `failure_mode: deny`.
fn unchecked(rule: &str) -> Flow {
    Flow::Respond(
        LocalResponse::json_error(
            429,
            "rate_limited",
            &format!("rate limit `{rule}` could not be checked"),
        )
        .with_header("retry-after", "1"),
    )
}

impl Stage for RateLimitStage {
    fn on_request_headers(&mut self, request: &mut Request<'_>) -> Flow {
        let filter = Rc::clone(&self.filter);
        let mut asked = Vec::new();
        for (index, rule) in filter.rules.iter().enumerate() {
            match rule.matcher.matches(request) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(err) => match self.failed(request, rule, &StoreError::Host(err)) {
                    Some(refusal) => return refusal,
                    None => continue,
                },
            }
            if let Some(local) = &rule.local {
                if let Some(flow) = self.check_local(request, rule, local) {
                    return flow;
                }
            }
            if let Some(descriptor) = &rule.global {
                match descriptor.build(request, filter.xff_trusted_hops) {
                    Ok(descriptor) => asked.push((index, descriptor)),
                    Err(err) => {
                        if let Some(refusal) = self.failed(request, rule, &StoreError::Host(err)) {
                            return refusal;
                        }
                    }
                }
            }
        }
        if asked.is_empty() {
            Flow::Continue
        } else {
            self.ask(request, asked)
        }
    }

    fn on_grpc_response(
        &mut self,
        request: &mut Request<'_>,
        token: u32,
        response: &GrpcResponse,
    ) -> Flow {
        let Some(pending) = self.pending.take_if(|p| p.token == token) else {
            // Not the answer this request waits for.
            return Flow::Pause;
        };
        let filter = Rc::clone(&self.filter);
        let Some(service) = &filter.service else {
            return Flow::Continue;
        };
        let rules: Vec<&CompiledRule> = pending
            .rules
            .iter()
            .filter_map(|&i| filter.rules.get(i))
            .collect();
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        let statuses = match global::read(response, &names) {
            Ok(statuses) => statuses,
            Err(outcome) => {
                log::warn!(
                    "meshwasm rate-limit: the rate limit service gave no answer to go by ({})",
                    outcome.label()
                );
                service.count(request, outcome);
                return self.unanswered(request, &pending.rules);
            }
        };
        let over = statuses.iter().any(|s| s.over);
        service.count(
            request,
            if over {
                Outcome::OverLimit
            } else {
                Outcome::Ok
            },
        );
        for (rule, status) in rules.into_iter().zip(statuses) {
            if !status.over {
                rule.counters.allowed.increment(request);
                if let Some(quota) = status.quota {
                    self.note(quota);
                }
            } else if rule.shadow {
                rule.counters.shadow_limited.increment(request);
            } else {
                rule.counters.limited.increment(request);
                let retry_after = status.reset.unwrap_or(1).max(1);
                return limited(rule, retry_after, status.quota.as_ref());
            }
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
