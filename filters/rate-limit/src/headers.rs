//! What clients are told about their limit: `retry-after`, the
//! `x-ratelimit-*` trio, and the IETF draft's `RateLimit-Policy` and
//! `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
//!
//! A rule is a bucket of `requests + burst` that refills at `requests` per
//! period, and the two families describe it each in its own terms:
//!
//! - `x-ratelimit-limit` is the bucket's size, `requests + burst`: the most
//!   `x-ratelimit-remaining` can be; `x-ratelimit-reset` the seconds until
//!   the bucket is full again, so that remaining is back to limit then.
//! - `RateLimit-Policy`'s quota is the sustained rate: `q = requests` per
//!   `w` seconds. The draft has no parameter for a burst; it allows other
//!   parameters, to be prefixed with a vendor name, so a burst is
//!   `meshwasm-burst` (left off when 0).
//! - `RateLimit`'s `r` is the requests the key may make now (up to
//!   `q + meshwasm-burst`), and `t` the seconds within which that is all it
//!   may use: until one more request would pass. On a 429 that is
//!   `retry-after`, as the draft wants (`Retry-After` no earlier than the
//!   end of `t`).

use crate::gcra::{Decision, Gcra};

/// The extension parameter of `RateLimit-Policy` carrying a rule's burst.
pub const BURST_PARAMETER: &str = "meshwasm-burst";

/// A rule's quota as one decision left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// The rule, named in the policy.
    pub rule: String,
    /// Requests per window: the sustained rate.
    pub requests: u64,
    /// Requests the bucket holds beyond `requests`.
    pub burst: u64,
    /// The period, in seconds.
    pub window: u64,
    /// Requests left.
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Seconds until one request more than `remaining` may be made.
    pub next: u64,
}

impl Quota {
    /// The quota a decision of `rule` left.
    pub fn new(rule: &str, gcra: &Gcra, decision: &Decision) -> Self {
        Self {
            rule: rule.to_owned(),
            requests: gcra.requests(),
            burst: gcra.burst(),
            window: gcra.window(),
            remaining: decision.remaining,
            reset: decision.reset,
            next: decision.next,
        }
    }

    /// The headers that describe it.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut policy = format!("\"{}\";q={};w={}", self.rule, self.requests, self.window);
        if self.burst > 0 {
            policy.push_str(&format!(";{BURST_PARAMETER}={}", self.burst));
        }
        vec![
            (
                "x-ratelimit-limit".to_owned(),
                self.requests.saturating_add(self.burst).to_string(),
            ),
            (
                "x-ratelimit-remaining".to_owned(),
                self.remaining.to_string(),
            ),
            ("x-ratelimit-reset".to_owned(), self.reset.to_string()),
            ("ratelimit-policy".to_owned(), policy),
            (
                "ratelimit".to_owned(),
                format!("\"{}\";r={};t={}", self.rule, self.remaining, self.next),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Limit, Period};

    const NANOS: u64 = 1_000_000_000;
    const T0: u64 = 1_700_000_000 * NANOS;

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The headers of each of `n` requests at `now`, threading the state.
    fn run(
        rule: &str,
        g: &Gcra,
        state: &mut Option<u64>,
        now: u64,
        n: usize,
    ) -> Vec<Vec<(String, String)>> {
        (0..n)
            .map(|_| {
                let d = g.decide(*state, now);
                *state = Some(d.tat);
                Quota::new(rule, g, &d).headers()
            })
            .collect()
    }

    /// The five values, in the order `Quota::headers` gives them.
    fn values(headers: &[(String, String)]) -> [&str; 5] {
        [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "ratelimit-policy",
            "ratelimit",
        ]
        .map(|n| get(headers, n).unwrap())
    }

    #[test]
    fn the_headers_describe_the_quota() {
        let quota = Quota {
            rule: "per-client".into(),
            requests: 100,
            burst: 0,
            window: 60,
            remaining: 7,
            reset: 12,
            next: 1,
        };
        let headers = quota.headers();
        assert_eq!(
            values(&headers),
            [
                "100",
                "7",
                "12",
                "\"per-client\";q=100;w=60",
                "\"per-client\";r=7;t=1"
            ]
        );
    }

    #[test]
    fn a_rule_without_burst() {
        // 3 a minute: one request's worth every 20 s.
        let g = Gcra::new(&Limit {
            requests: 3,
            per: Period::Minute,
            burst: 0,
        });
        let mut state = None;
        let at_once = run("per-client", &g, &mut state, T0, 4);
        let policy = "\"per-client\";q=3;w=60";
        assert_eq!(
            values(&at_once[0]),
            ["3", "2", "20", policy, "\"per-client\";r=2;t=20"]
        );
        assert_eq!(
            values(&at_once[2]),
            ["3", "0", "60", policy, "\"per-client\";r=0;t=20"]
        );
        // Refused: one more passes in 20 s, the bucket is full in 60 s.
        let refused = g.decide(state, T0);
        assert_eq!(refused.retry_after, 20);
        assert_eq!(
            values(&at_once[3]),
            ["3", "0", "60", policy, "\"per-client\";r=0;t=20"]
        );
        // 25 s on, one request's worth is back and 5 s of the next.
        let later = run("per-client", &g, &mut state, T0 + 25 * NANOS, 2);
        assert_eq!(
            values(&later[0]),
            ["3", "0", "55", policy, "\"per-client\";r=0;t=15"]
        );
        assert_eq!(
            values(&later[1]),
            ["3", "0", "55", policy, "\"per-client\";r=0;t=15"]
        );
    }

    #[test]
    fn a_rule_with_burst() {
        // 100 a minute (one every 0.6 s) and a burst of 20: a bucket of 120
        // that takes 72 s to fill.
        let g = Gcra::new(&Limit {
            requests: 100,
            per: Period::Minute,
            burst: 20,
        });
        let policy = "\"api\";q=100;w=60;meshwasm-burst=20";
        let mut state = None;
        let all = run("api", &g, &mut state, T0, 121);
        // The first request: the sustained rate is the quota, the burst
        // rides along; 119 more may go now.
        assert_eq!(
            values(&all[0]),
            ["120", "119", "1", policy, "\"api\";r=119;t=1"]
        );
        // The 120th empties the bucket: full again in 72 s, the window
        // plus the burst's refill time, and never later.
        assert_eq!(
            values(&all[119]),
            ["120", "0", "72", policy, "\"api\";r=0;t=1"]
        );
        // The 121st is refused: one more in 0.6 s, said as 1 s, as
        // retry-after says.
        let refused = g.decide(state, T0);
        assert!(!refused.allowed);
        assert_eq!((refused.retry_after, refused.next), (1, 1));
        assert_eq!(
            values(&all[120]),
            ["120", "0", "72", policy, "\"api\";r=0;t=1"]
        );
        // 30 s on, 50 requests' worth are back: 49 more after this one.
        let later = run("api", &g, &mut state, T0 + 30 * NANOS, 1);
        assert_eq!(
            values(&later[0]),
            ["120", "49", "43", policy, "\"api\";r=49;t=1"]
        );
    }

    #[test]
    fn a_slow_burst_rule_says_when_the_next_request_passes() {
        // 2 an hour, burst 1: one request's worth every 30 min, a bucket
        // of 3 that fills in 90 min.
        let g = Gcra::new(&Limit {
            requests: 2,
            per: Period::Hour,
            burst: 1,
        });
        let policy = "\"slow\";q=2;w=3600;meshwasm-burst=1";
        let mut state = None;
        let all = run("slow", &g, &mut state, T0, 4);
        assert_eq!(
            values(&all[0]),
            ["3", "2", "1800", policy, "\"slow\";r=2;t=1800"]
        );
        assert_eq!(
            values(&all[2]),
            ["3", "0", "5400", policy, "\"slow\";r=0;t=1800"]
        );
        assert_eq!(g.decide(state, T0).retry_after, 1800);
        assert_eq!(
            values(&all[3]),
            ["3", "0", "5400", policy, "\"slow\";r=0;t=1800"]
        );
        // 10 min on: the next request's worth is 20 min away.
        let later = g.decide(state, T0 + 600 * NANOS);
        let headers = Quota::new("slow", &g, &later).headers();
        assert_eq!(
            values(&headers),
            ["3", "0", "4800", policy, "\"slow\";r=0;t=1200"]
        );
    }
}
