//! The rate-limit filter's work on one request.

use crate::config::FailureMode;
use crate::headers::Quota;
use crate::key::{self, RequestParts};
use crate::store::{BucketStore, StoreError};
use crate::{nanos, CompiledRule, RateLimit};
use meshwasm_core::{Flow, HeaderMap, Host, LocalResponse, Stage};
use std::rc::Rc;

/// The rate-limit filter's state for one request.
#[derive(Debug)]
pub struct RateLimitStage {
    filter: Rc<RateLimit>,
    /// The tightest quota the request left, for the response headers.
    quota: Option<Quota>,
}

/// The request as the key builder sees it.
struct Parts<'a> {
    host: &'a dyn Host,
    method: String,
    path: String,
    trusted_hops: u32,
    client: Option<Option<String>>,
}

impl RequestParts for Parts<'_> {
    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn header(&mut self, name: &str) -> Option<String> {
        self.host.header(HeaderMap::Request, name).ok().flatten()
    }

    fn client(&mut self) -> Option<String> {
        let (host, hops) = (self.host, self.trusted_hops);
        self.client
            .get_or_insert_with(|| {
                let xff = host
                    .header(HeaderMap::Request, "x-forwarded-for")
                    .ok()
                    .flatten();
                let source = host
                    .property(&["source", "address"])
                    .ok()
                    .flatten()
                    .and_then(|b| String::from_utf8(b).ok());
                key::client_address(xff.as_deref(), source.as_deref(), hops)
            })
            .clone()
    }
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
    fn failed(&self, host: &mut dyn Host, rule: &CompiledRule, err: &StoreError) -> Option<Flow> {
        match err {
            StoreError::Full => rule.counters.overflow.increment(host),
            _ => {
                log::warn!("meshwasm rate-limit: rule `{}`: {err}", rule.name);
                rule.counters.error.increment(host);
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
    fn on_request_headers(&mut self, host: &mut dyn Host) -> Flow {
        let filter = Rc::clone(&self.filter);
        if filter.rules.is_empty() {
            return Flow::Continue;
        }
        let read = |name| {
            host.header(HeaderMap::Request, name)
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        let mut parts = Parts {
            method: read(":method"),
            path: read(":path"),
            host,
            trusted_hops: filter.xff_trusted_hops,
            client: None,
        };
        let mut keys = Vec::new();
        for rule in &filter.rules {
            let header = |name: &str| parts.host.header(HeaderMap::Request, name).ok().flatten();
            if rule.matcher.matches(&parts.method, &parts.path, header) {
                keys.push((rule, key::digest(&rule.key, &mut parts)));
            }
        }
        let Some(now) = nanos(host) else {
            let err = StoreError::Host(meshwasm_core::HostError::Status("no clock".to_owned()));
            return keys
                .first()
                .and_then(|(rule, _)| self.failed(host, rule, &err))
                .unwrap_or(Flow::Continue);
        };
        for (rule, key) in keys {
            let decision = match rule.store.update(host, &key, &rule.gcra, now) {
                Ok(decision) => decision,
                Err(err) => match self.failed(host, rule, &err) {
                    Some(refusal) => return refusal,
                    None => continue,
                },
            };
            let quota = Quota::new(&rule.name, &rule.gcra, &decision);
            if decision.allowed {
                rule.counters.allowed.increment(host);
            } else if rule.shadow {
                log::debug!(
                    "meshwasm rate-limit: rule `{}` would limit (shadow)",
                    rule.name
                );
                rule.counters.shadow_limited.increment(host);
                continue;
            } else {
                rule.counters.limited.increment(host);
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

    fn on_response_headers(&mut self, host: &mut dyn Host) {
        if !self.filter.response_headers {
            return;
        }
        if let Some(quota) = &self.quota {
            for (name, value) in quota.headers() {
                if let Err(e) = host.set_header(HeaderMap::Response, &name, &value) {
                    log::debug!("meshwasm rate-limit: cannot set `{name}`: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
