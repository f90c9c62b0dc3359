//! Global rules: the count is kept by a rate limit service (Envoy's RLS
//! API) for every Envoy in front of a service. What a request is sent as,
//! and what the service's answer means for each rule, live here, away
//! from the host.

use crate::config::{DescriptorEntry, FailureMode, GlobalLimit, KeyPart, ServiceConfig};
use crate::headers::Quota;
use crate::key;
use crate::rls::{self, Code, RateLimitResponse, Unit};
use meshwasm_core::metrics::CounterFamily;
use meshwasm_core::request::Request;
use meshwasm_core::{GrpcResponse, HostError, Proxy};
use prost::Message;
use std::time::Duration;

/// The value sent for a request part the request does not have (a header
/// not sent, no client address): every such request shares one count, as
/// local rules share one bucket. The service's protocol wants values that
/// are not empty.
pub const ABSENT: &str = "-";

/// The rate limit service, as the filter asks it.
#[derive(Debug)]
pub struct Service {
    /// The Envoy cluster it is reached through.
    pub cluster: String,
    domain: String,
    /// How long to wait for an answer.
    pub timeout: Duration,
    /// What a request it cannot answer for gets.
    pub failure_mode: FailureMode,
    /// `meshwasm_ratelimit_service_calls_total` by `outcome`.
    calls: CounterFamily,
}

impl Service {
    /// The service a configuration names; `failure_mode` is the filter's,
    /// for a service that does not set its own.
    pub fn new(config: &ServiceConfig, failure_mode: FailureMode) -> Self {
        Self {
            cluster: config.cluster.clone(),
            domain: config.domain.clone(),
            timeout: Duration::from_millis(u64::from(config.timeout_ms)),
            failure_mode: config.failure_mode.unwrap_or(failure_mode),
            calls: CounterFamily::new("meshwasm_ratelimit_service_calls_total", &["outcome"]),
        }
    }

    /// The request message asking about these descriptors.
    pub fn request(&self, descriptors: Vec<rls::RateLimitDescriptor>) -> Vec<u8> {
        rls::RateLimitRequest {
            domain: self.domain.clone(),
            descriptors,
            hits_addend: 1,
        }
        .encode_to_vec()
    }

    /// Counts a call's outcome.
    pub fn count(&self, proxy: &mut dyn Proxy, outcome: Outcome) {
        self.calls.increment(proxy, &[outcome.label()]);
    }
}

/// How a call to the service went, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered: every descriptor under its limit.
    Ok,
    /// Answered: over a limit.
    OverLimit,
    /// No answer in time (gRPC `DEADLINE_EXCEEDED`).
    Timeout,
    /// Not reachable (gRPC `UNAVAILABLE`), or the call could not be sent.
    Unavailable,
    /// Answered with another gRPC error.
    Error,
    /// Answered with a message that cannot be read.
    Invalid,
}

impl Outcome {
    /// The `outcome` label value.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OverLimit => "over_limit",
            Outcome::Timeout => "timeout",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
            Outcome::Invalid => "invalid",
        }
    }
}

/// A rule's descriptor, ready to fill in from a request.
#[derive(Debug)]
pub struct Descriptor {
    entries: Vec<(String, Source)>,
}

/// Where an entry's value comes from.
#[derive(Debug)]
enum Source {
    Request(KeyPart),
    Constant(String),
}

impl Descriptor {
    /// The descriptor a (validated) global limit describes.
    pub fn new(global: &GlobalLimit) -> Self {
        let entries = global
            .descriptor
            .iter()
            .map(|DescriptorEntry { key, from, value }| {
                let source = match (from, value) {
                    (Some(part), _) => Source::Request(part.clone()),
                    (None, value) => Source::Constant(value.clone().unwrap_or_default()),
                };
                (key.clone(), source)
            })
            .collect();
        Self { entries }
    }

    /// The descriptor for a request, the client found past `trusted_hops`
    /// proxies. Values that are not UTF-8 are sent with U+FFFD in place of
    /// the bytes that are not; absent ones as [`ABSENT`].
    pub fn build(
        &self,
        request: &Request<'_>,
        trusted_hops: u32,
    ) -> Result<rls::RateLimitDescriptor, HostError> {
        let mut entries = Vec::with_capacity(self.entries.len());
        for (key, source) in &self.entries {
            let value = match source {
                Source::Constant(value) => value.clone(),
                Source::Request(part) => key::with_value(part, request, trusted_hops, text)?,
            };
            entries.push(rls::Entry {
                key: key.clone(),
                value,
            });
        }
        Ok(rls::RateLimitDescriptor { entries })
    }
}

/// A value as the protocol carries it: text, never empty.
fn text(value: Option<&[u8]>) -> String {
    match value {
        Some(bytes) if !bytes.is_empty() => String::from_utf8_lossy(bytes).into_owned(),
        _ => ABSENT.to_owned(),
    }
}

/// What the service said of one descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Over its limit.
    pub over: bool,
    /// The limit and what is left of it, when the service says.
    pub quota: Option<Quota>,
    /// Seconds until the count starts again, when the service says.
    pub reset: Option<u64>,
}

/// Reads the service's answer about `rules` (one descriptor each, in
/// order): a status per rule, or why there is no answer to go by.
pub fn read(response: &GrpcResponse, rules: &[&str]) -> Result<Vec<Status>, Outcome> {
    match response.status {
        0 => {}
        4 => return Err(Outcome::Timeout),
        14 => return Err(Outcome::Unavailable),
        _ => return Err(Outcome::Error),
    }
    if response.truncated {
        return Err(Outcome::Invalid);
    }
    let answer =
        RateLimitResponse::decode(response.message.as_slice()).map_err(|_| Outcome::Invalid)?;
    let overall = match Code::try_from(answer.overall_code) {
        Ok(Code::Ok) => false,
        Ok(Code::OverLimit) => true,
        _ => return Err(Outcome::Invalid),
    };
    // Per descriptor when the service answered for each; otherwise the
    // overall code stands for all of them.
    if answer.statuses.len() != rules.len() {
        return Ok(rules
            .iter()
            .map(|_| Status {
                over: overall,
                quota: None,
                reset: None,
            })
            .collect());
    }
    let statuses: Vec<Status> = answer
        .statuses
        .iter()
        .zip(rules)
        .map(|(status, rule)| describe(status, rule))
        .collect();
    if overall && !statuses.iter().any(|s| s.over) {
        // Over as a whole though no descriptor says so: over for all.
        return Ok(statuses
            .into_iter()
            .map(|s| Status { over: true, ..s })
            .collect());
    }
    Ok(statuses)
}

/// One descriptor's status, in the filter's terms.
fn describe(status: &rls::DescriptorStatus, rule: &str) -> Status {
    let reset = status.duration_until_reset.as_ref().map(|d| {
        let whole = u64::try_from(d.seconds).unwrap_or(0);
        whole.saturating_add(u64::from(d.nanos > 0))
    });
    let quota = status.current_limit.as_ref().and_then(|limit| {
        let window = Unit::try_from(limit.unit).ok()?.seconds()?;
        let reset = reset.unwrap_or(window);
        Some(Quota {
            rule: rule.to_owned(),
            requests: u64::from(limit.requests_per_unit),
            burst: 0,
            window,
            remaining: u64::from(status.limit_remaining),
            reset,
            next: reset,
        })
    });
    Status {
        over: status.code == Code::OverLimit as i32,
        quota,
        reset,
    }
}

#[cfg(test)]
mod tests;
