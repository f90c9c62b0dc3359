//! What clients are told about their limit: `retry-after`, the
//! `x-ratelimit-*` trio, and the IETF draft's `RateLimit-Policy` and
//! `RateLimit` (draft-ietf-httpapi-ratelimit-headers).

use crate::gcra::{Decision, Gcra};

/// A rule's quota as one decision left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// The rule, named in the policy.
    pub rule: String,
    /// Requests the bucket holds.
    pub limit: u64,
    /// The period, in seconds.
    pub window: u64,
    /// Requests left.
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset: u64,
}

impl Quota {
    /// The quota a decision of `rule` left.
    pub fn new(rule: &str, gcra: &Gcra, decision: &Decision) -> Self {
        Self {
            rule: rule.to_owned(),
            limit: gcra.capacity(),
            window: gcra.window(),
            remaining: decision.remaining,
            reset: decision.reset,
        }
    }

    /// The headers that describe it.
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("x-ratelimit-limit".to_owned(), self.limit.to_string()),
            (
                "x-ratelimit-remaining".to_owned(),
                self.remaining.to_string(),
            ),
            ("x-ratelimit-reset".to_owned(), self.reset.to_string()),
            (
                "ratelimit-policy".to_owned(),
                format!("\"{}\";q={};w={}", self.rule, self.limit, self.window),
            ),
            (
                "ratelimit".to_owned(),
                format!("\"{}\";r={};t={}", self.rule, self.remaining, self.reset),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_describe_the_quota() {
        let quota = Quota {
            rule: "per-client".into(),
            limit: 100,
            window: 60,
            remaining: 7,
            reset: 12,
        };
        let headers = quota.headers();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-ratelimit-limit"), Some("100"));
        assert_eq!(get("x-ratelimit-remaining"), Some("7"));
        assert_eq!(get("x-ratelimit-reset"), Some("12"));
        assert_eq!(get("ratelimit-policy"), Some("\"per-client\";q=100;w=60"));
        assert_eq!(get("ratelimit"), Some("\"per-client\";r=7;t=12"));
    }
}
