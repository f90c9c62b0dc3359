//! The generic cell rate algorithm (GCRA): a token bucket kept as one
//! number per key, the theoretical arrival time (TAT) of the next request.
//!
//! A bucket holds `requests + burst` and refills at `requests` per period.
//! The state is a TAT in nanoseconds since the epoch; a TAT at or before
//! now is a full bucket, so a key with no state and a key idle long enough
//! are the same.

use crate::config::Limit;

const NANOS: u64 = 1_000_000_000;

/// A limit, in the GCRA's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Nanoseconds one request costs (the emission interval, T).
    interval: u64,
    /// How far the TAT may run ahead of now (τ = T × (capacity − 1)).
    tolerance: u64,
    /// Requests per period: the sustained rate.
    requests: u64,
    /// Requests the bucket holds: `requests + burst`.
    capacity: u64,
    /// The period, in seconds.
    window: u64,
}

/// What the limit says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may pass.
    pub allowed: bool,
    /// The state to store (unchanged when the request is refused).
    pub tat: u64,
    /// Requests left in the bucket after this one.
    pub remaining: u64,
    /// Seconds until the bucket is full again (`remaining` back to the
    /// capacity, less this request when it was allowed): at most the
    /// capacity's refill time, the period plus `burst`'s refill time.
    pub reset: u64,
    /// Seconds until a refused request would pass (0 when allowed).
    pub retry_after: u64,
    /// Seconds until one request more than `remaining` may be made: until
    /// `remaining` grows by one when allowed, `retry_after` when refused.
    /// Until then `remaining` is all the key can use; never more than one
    /// request's refill time.
    pub next: u64,
}

impl Gcra {
    /// The GCRA for a configured limit (`requests` is at least 1).
    pub fn new(limit: &Limit) -> Self {
        let requests = u64::from(limit.requests.max(1));
        let window = limit.per.seconds();
        let interval = (window * NANOS / requests).max(1);
        let capacity = requests + u64::from(limit.burst);
        Self {
            interval,
            tolerance: interval.saturating_mul(capacity - 1),
            requests,
            capacity,
            window,
        }
    }

    /// Requests the bucket holds: `requests + burst`.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Requests per period: the rate the bucket refills at.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Requests the bucket holds beyond `requests`.
    pub fn burst(&self) -> u64 {
        self.capacity - self.requests
    }

    /// The period, in seconds.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Whether a stored state means a full bucket at `now`: nothing to
    /// remember.
    pub fn idle(tat: u64, now: u64) -> bool {
        tat <= now
    }

    /// Decides one request at `now` (nanoseconds since the epoch) given the
    /// key's stored state, if any.
    pub fn decide(&self, state: Option<u64>, now: u64) -> Decision {
        // A TAT further ahead than any allowed request can leave it means
        // the clock went back: count the bucket as empty, not as emptier.
        let ceiling = now
            .saturating_add(self.tolerance)
            .saturating_add(self.interval);
        let tat = state.unwrap_or(now).clamp(now, ceiling);
        let allow_until = now.saturating_add(self.tolerance);
        if tat > allow_until {
            let retry_after = seconds_up(tat - allow_until).max(1);
            return Decision {
                allowed: false,
                tat,
                remaining: 0,
                reset: seconds_up(tat - now),
                retry_after,
                next: retry_after,
            };
        }
        let after = tat.saturating_add(self.interval);
        // `slack` is how far the TAT may still advance now: `remaining`
        // whole requests, and a part of one that is complete once the rest
        // of that request's interval has passed.
        let slack = allow_until - tat;
        Decision {
            allowed: true,
            tat: after,
            remaining: slack / self.interval,
            reset: seconds_up(after - now),
            retry_after: 0,
            next: seconds_up(self.interval - slack % self.interval),
        }
    }
}

/// Nanoseconds to whole seconds, rounded up.
fn seconds_up(nanos: u64) -> u64 {
    nanos.div_ceil(NANOS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Period;

    const T0: u64 = 1_700_000_000 * NANOS;

    fn gcra(requests: u32, per: Period, burst: u32) -> Gcra {
        Gcra::new(&Limit {
            requests,
            per,
            burst,
        })
    }

    /// Runs `n` requests at `now`, threading the state; counts the allowed.
    fn run(g: &Gcra, state: &mut Option<u64>, now: u64, n: usize) -> usize {
        (0..n)
            .filter(|_| {
                let d = g.decide(*state, now);
                *state = Some(d.tat);
                d.allowed
            })
            .count()
    }

    #[test]
    fn a_fresh_bucket_holds_requests_plus_burst() {
        let g = gcra(10, Period::Minute, 5);
        let mut state = None;
        assert_eq!(run(&g, &mut state, T0, 100), 15);
        assert_eq!(g.capacity(), 15);
        assert_eq!(g.window(), 60);
    }

    #[test]
    fn it_refills_at_the_rate() {
        let g = gcra(10, Period::Minute, 0);
        let mut state = None;
        assert_eq!(run(&g, &mut state, T0, 10), 10);
        // One request's worth every 6 s.
        assert_eq!(run(&g, &mut state, T0 + 5 * NANOS, 5), 0);
        assert_eq!(run(&g, &mut state, T0 + 6 * NANOS, 5), 1);
        assert_eq!(run(&g, &mut state, T0 + 30 * NANOS, 10), 4);
        // A full period later, the whole bucket.
        assert_eq!(run(&g, &mut state, T0 + 200 * NANOS, 20), 10);
    }

    #[test]
    fn decisions_say_what_is_left_and_when_to_return() {
        let g = gcra(2, Period::Second, 0);
        let first = g.decide(None, T0);
        assert_eq!(
            (
                first.allowed,
                first.remaining,
                first.reset,
                first.retry_after
            ),
            (true, 1, 1, 0)
        );
        let second = g.decide(Some(first.tat), T0);
        assert_eq!(
            (second.allowed, second.remaining, second.reset),
            (true, 0, 1)
        );
        let third = g.decide(Some(second.tat), T0);
        assert!(!third.allowed);
        assert_eq!(
            (third.remaining, third.retry_after, third.reset, third.next),
            (0, 1, 1, 1)
        );
        assert_eq!(third.tat, second.tat, "a refusal changes nothing");
    }

    #[test]
    fn next_and_reset_say_when_more_passes() {
        // 100 a minute with a burst of 20, and 2 an hour with a burst of 1,
        // requests at uneven times: `next` seconds on, one more than
        // `remaining` passes at once (exactly `retry_after` when refused);
        // `reset` seconds on, the whole bucket. Neither is ever later than
        // the rule allows: one request's refill time, and the window plus
        // the burst's refill time.
        for (g, step) in [
            (gcra(100, Period::Minute, 20), 170_000_000),
            (gcra(2, Period::Hour, 1), 700 * NANOS),
        ] {
            let interval_s = (g.window() * NANOS / g.requests()).div_ceil(NANOS);
            let full_s = (g.window() * NANOS / g.requests() * g.capacity()).div_ceil(NANOS);
            assert!(full_s <= g.window() + (g.window() * g.burst()).div_ceil(g.requests()));
            let mut state = None;
            for i in 0..400 {
                let now = T0 + step * (i / 3);
                let d = g.decide(state, now);
                assert!(d.next >= 1 && d.next <= interval_s, "{d:?}");
                assert!(d.reset <= full_s, "{d:?}");
                if !d.allowed {
                    assert_eq!(d.next, d.retry_after, "{d:?}");
                }
                let mut after = Some(d.tat);
                let more = run(&g, &mut after, now + d.next * NANOS, 1000);
                assert!(more > usize::try_from(d.remaining).unwrap(), "{d:?}");
                let mut after = Some(d.tat);
                let all = run(&g, &mut after, now + d.reset * NANOS, 1000);
                assert_eq!(all, usize::try_from(g.capacity()).unwrap(), "{d:?}");
                state = Some(d.tat);
            }
        }
    }

    #[test]
    fn the_rate_and_the_burst_are_told_apart() {
        let g = gcra(100, Period::Minute, 20);
        assert_eq!((g.requests(), g.burst(), g.capacity()), (100, 20, 120));
        let g = gcra(3, Period::Second, 0);
        assert_eq!((g.requests(), g.burst(), g.capacity()), (3, 0, 3));
    }

    #[test]
    fn windows_scale() {
        for (per, secs) in [
            (Period::Second, 1),
            (Period::Minute, 60),
            (Period::Hour, 3600),
            (Period::Day, 86_400),
        ] {
            let g = gcra(4, per, 0);
            let mut state = None;
            assert_eq!(run(&g, &mut state, T0, 10), 4);
            let d = g.decide(state, T0);
            assert_eq!(d.retry_after, (secs / 4).max(1), "{per:?}");
            assert_eq!(run(&g, &mut state, T0 + secs * NANOS, 10), 4, "{per:?}");
        }
    }

    #[test]
    fn a_clock_going_back_does_not_lock_a_key_out() {
        let g = gcra(10, Period::Minute, 0);
        let mut state = None;
        assert_eq!(run(&g, &mut state, T0, 10), 10);
        // The clock jumps back an hour: the bucket reads as empty, and
        // refills from there, instead of staying shut for an hour.
        let back = T0 - 3600 * NANOS;
        assert_eq!(run(&g, &mut state, back, 5), 0);
        assert_eq!(run(&g, &mut state, back + 60 * NANOS, 20), 10);
    }

    #[test]
    fn huge_limits_do_not_overflow() {
        let g = gcra(u32::MAX, Period::Second, u32::MAX);
        let d = g.decide(Some(u64::MAX), u64::MAX - 1);
        assert!(d.tat >= u64::MAX - 1);
        let g = gcra(1, Period::Day, 0);
        assert!(g.decide(None, u64::MAX).allowed);
    }

    #[test]
    fn idle_means_full() {
        assert!(Gcra::idle(T0, T0));
        assert!(!Gcra::idle(T0 + 1, T0));
    }
}
