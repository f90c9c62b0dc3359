//! A provider's remote JWKS: when to fetch it, and what a fetch gave.
//!
//! Each Envoy worker runs its own VM and keeps its own copy. The keys are
//! fetched when first needed, again every `refresh_seconds`, and (at most
//! every `unknown_kid_refresh_seconds`) when a token names a `kid` the set
//! does not have. One fetch at a time; a failed fetch keeps the keys
//! already held. With no key set at all, tokens are refused.
//!
//! Keys of a fetched set that cannot be used are dropped, each logged (at
//! warn, with its index, its `kid` if any and why, never key material).
//! Symmetric (`oct`) keys are among them unless the provider sets
//! `allow_symmetric_keys`: an HMAC secret fetched over the network is a
//! secret on the wire.

use super::keys::KeySet;
use crate::config::RemoteJwks;
use meshwasm_core::{CallResponse, OutboundCall, Proxy};
use std::rc::Rc;
use std::time::Duration;

/// Seconds to wait before fetching again when no key set is held.
const RETRY_SECONDS: u64 = 1;

/// Why a key set is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// The timer: the first fetch, or the set is due for a refresh.
    Refresh,
    /// A request's token names a key the set lacks (or there is none).
    UnknownKey,
}

/// The state of one remote key set: the only place a fetch starts and its
/// answer is taken.
#[derive(Debug)]
pub struct RemoteKeys {
    /// The provider's name, for logs.
    provider: String,
    config: RemoteJwks,
    authority: String,
    keys: Option<Rc<KeySet>>,
    fetched_at: Option<u64>,
    last_attempt: Option<u64>,
    in_flight: Option<u32>,
}

impl RemoteKeys {
    /// Nothing fetched yet, for the provider named `provider`.
    pub fn new(provider: &str, config: RemoteJwks) -> Self {
        let authority = config
            .authority
            .clone()
            .unwrap_or_else(|| config.cluster.clone());
        Self {
            provider: provider.to_owned(),
            config,
            authority,
            keys: None,
            fetched_at: None,
            last_attempt: None,
            in_flight: None,
        }
    }

    /// The keys held, if a fetch ever succeeded.
    pub fn keys(&self) -> Option<Rc<KeySet>> {
        self.keys.clone()
    }

    /// A fetch still waiting for its answer. One whose answer never came
    /// (the request that sent it went away) counts for its timeout only.
    fn busy(&self, now: u64) -> bool {
        let timeout = u64::from(self.config.timeout_ms).div_ceil(1000) + 1;
        self.in_flight.is_some() && self.last_attempt.is_some_and(|t| now < t + timeout)
    }

    fn since_attempt(&self, now: u64, seconds: u64) -> bool {
        self.last_attempt
            .is_none_or(|t| now >= t.saturating_add(seconds))
    }

    /// Whether the timer should fetch now.
    fn refresh_due(&self, now: u64) -> bool {
        if self.busy(now) {
            return false;
        }
        match self.fetched_at {
            None => self.since_attempt(now, RETRY_SECONDS),
            Some(t) => {
                now >= t.saturating_add(u64::from(self.config.refresh_seconds))
                    && self.since_attempt(now, RETRY_SECONDS)
            }
        }
    }

    /// Whether a request that found no usable key may fetch now.
    fn fetch_allowed(&self, now: u64) -> bool {
        let wait = if self.keys.is_some() {
            u64::from(self.config.unknown_kid_refresh_seconds)
        } else {
            RETRY_SECONDS
        };
        !self.busy(now) && self.since_attempt(now, wait)
    }

    /// The request to send.
    fn call(&self) -> OutboundCall<'_> {
        OutboundCall {
            cluster: &self.config.cluster,
            headers: vec![
                (":method", "GET"),
                (":path", &self.config.path),
                (":authority", &self.authority),
                ("accept", "application/json"),
            ],
            body: None,
            timeout: Duration::from_millis(u64::from(self.config.timeout_ms)),
        }
    }

    /// Records that a fetch went out with this token.
    fn started(&mut self, token: u32, now: u64) {
        self.in_flight = Some(token);
        self.last_attempt = Some(now);
    }

    /// Whether `token` is the fetch under way.
    fn is_pending(&self, token: u32) -> bool {
        self.in_flight == Some(token)
    }

    /// Starts a fetch if `why` allows one now: sends it through `proxy`
    /// and remembers it. The call's token, or `None` when none is due or
    /// it could not be sent (logged).
    pub fn start(&mut self, proxy: &mut dyn Proxy, why: Fetch, now: u64) -> Option<u32> {
        let due = match why {
            Fetch::Refresh => self.refresh_due(now),
            Fetch::UnknownKey => self.fetch_allowed(now),
        };
        if !due {
            return None;
        }
        match proxy.dispatch(&self.call()) {
            Ok(token) => {
                self.started(token, now);
                Some(token)
            }
            Err(e) => {
                log::warn!(
                    "meshwasm auth: provider `{}`: cannot fetch JWKS: {e}",
                    self.provider
                );
                None
            }
        }
    }

    /// Takes the answer to call `token` if it is the fetch under way;
    /// whether it brought new keys (logged either way).
    pub fn take(&mut self, token: u32, response: &CallResponse, now: u64) -> bool {
        if !self.is_pending(token) {
            return false;
        }
        match self.finish(response, now) {
            Ok(count) => {
                log::info!(
                    "meshwasm auth: provider `{}`: {count} key(s) fetched",
                    self.provider
                );
                true
            }
            Err(why) => {
                log::warn!("meshwasm auth: provider `{}`: {why}", self.provider);
                false
            }
        }
    }

    /// Takes the answer to the fetch under way: the number of usable keys,
    /// or why the answer was refused (the keys held stay). Each key dropped
    /// from the set is logged with its reason.
    fn finish(&mut self, response: &CallResponse, now: u64) -> Result<usize, String> {
        self.in_flight = None;
        match response.status {
            Some(200) => {}
            Some(status) => return Err(format!("JWKS endpoint answered {status}")),
            None => return Err("JWKS endpoint did not answer".to_owned()),
        }
        if response.truncated || response.body.len() > self.config.max_bytes {
            return Err(format!(
                "JWKS is larger than {} bytes",
                self.config.max_bytes
            ));
        }
        let keys = KeySet::parse_with(&response.body, self.config.allow_symmetric_keys)
            .map_err(|e| format!("JWKS refused: {e}"))?;
        for why in keys.skipped() {
            log::warn!(
                "meshwasm auth: provider `{}`: JWKS key dropped: {why}",
                self.provider
            );
        }
        let count = keys.len();
        self.keys = Some(Rc::new(keys));
        self.fetched_at = Some(now);
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote_with(extra: &str) -> RemoteKeys {
        let config: RemoteJwks = serde_json::from_str(&format!(
            r#"{{"cluster": "idp", "path": "/jwks", "refresh_seconds": 300,
                "unknown_kid_refresh_seconds": 10, "timeout_ms": 2000, "max_bytes": 4096{extra}}}"#
        ))
        .unwrap();
        RemoteKeys::new("corp", config)
    }

    fn remote() -> RemoteKeys {
        remote_with("")
    }

    fn answer(status: u16, body: &str) -> CallResponse {
        meshwasm_core::testing::answer(status, &[], body.as_bytes())
    }

    const P256_PUBLIC: &str = include_str!("testdata/p256.pub.jwk.json");
    const P256_PRIVATE: &str = include_str!("testdata/p256.jwk.json");
    const RSA1024: &str = include_str!("testdata/rsa1024.pub.jwk.json");

    /// A JWKS of one public P-256 key.
    fn jwks() -> String {
        format!(r#"{{"keys": [{P256_PUBLIC}]}}"#)
    }

    const HMAC_SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA";

    fn oct_jwks() -> String {
        format!(
            r#"{{"keys": [{{"kty": "oct", "kid": "h", "alg": "HS256", "k": "{HMAC_SECRET}"}}]}}"#
        )
    }

    fn member(jwk: &str, name: &str) -> String {
        let jwk: serde_json::Value = serde_json::from_str(jwk).unwrap();
        jwk[name].as_str().unwrap().to_owned()
    }

    fn warnings(logs: &[(log::Level, String)]) -> Vec<&str> {
        logs.iter()
            .filter(|(level, _)| *level == log::Level::Warn)
            .map(|(_, line)| line.as_str())
            .collect()
    }

    #[test]
    fn the_call_names_cluster_path_and_authority() {
        let r = remote();
        let call = r.call();
        assert_eq!(call.cluster, "idp");
        assert!(call.headers.contains(&(":path", "/jwks")));
        assert!(call.headers.contains(&(":authority", "idp")));
        assert_eq!(call.timeout, Duration::from_secs(2));
    }

    #[test]
    fn one_fetch_at_a_time_then_periodic_refresh() {
        let mut r = remote();
        assert!(r.refresh_due(100) && r.fetch_allowed(100));
        r.started(7, 100);
        assert!(!r.refresh_due(101) && !r.fetch_allowed(101));
        assert!(r.is_pending(7) && !r.is_pending(8));
        assert_eq!(r.finish(&answer(200, &jwks()), 101), Ok(1));
        assert!(r.keys().is_some());
        assert!(!r.refresh_due(300));
        assert!(r.refresh_due(401));
        // Unknown kids refetch at most every 10 s.
        assert!(!r.fetch_allowed(105));
        assert!(r.fetch_allowed(110));
    }

    #[test]
    fn a_lost_answer_frees_the_slot_after_the_timeout() {
        let mut r = remote();
        r.started(1, 100);
        assert!(!r.fetch_allowed(102));
        assert!(r.fetch_allowed(103));
    }

    #[test]
    fn failures_keep_the_keys_held() {
        let mut r = remote();
        r.started(1, 100);
        r.finish(&answer(200, &jwks()), 100).unwrap();
        for (bad, why) in [
            (answer(503, ""), "answered 503"),
            (CallResponse::default(), "did not answer"),
            (answer(200, "not json"), "JWKS refused"),
            (
                answer(
                    200,
                    &format!("{{\"keys\": [], \"x\": \"{}\"}}", "a".repeat(5000)),
                ),
                "larger than",
            ),
        ] {
            r.started(2, 500);
            let err = r.finish(&bad, 500).unwrap_err();
            assert!(err.contains(why), "{err}");
            assert_eq!(r.keys().unwrap().len(), 1);
        }
    }

    #[test]
    fn without_keys_retries_come_quickly() {
        let mut r = remote();
        r.started(1, 100);
        assert!(r.finish(&answer(500, ""), 100).is_err());
        assert!(r.keys().is_none());
        assert!(!r.fetch_allowed(100));
        assert!(r.fetch_allowed(101) && r.refresh_due(101));
    }

    #[test]
    fn remote_symmetric_keys_are_dropped_unless_allowed() {
        let mut r = remote();
        r.started(1, 100);
        let (count, logs) =
            crate::jwt::test_log::capture(|| r.finish(&answer(200, &oct_jwks()), 100));
        assert_eq!(count, Ok(0));
        assert_eq!(
            warnings(&logs),
            [
                "meshwasm auth: provider `corp`: JWKS key dropped: keys[0] (kid `h`): \
              kty `oct` is a shared secret, refused from a remote JWKS unless \
              `allow_symmetric_keys` is set"
            ]
        );
        assert!(logs
            .iter()
            .all(|(_, line)| !line.contains(&HMAC_SECRET[..8])));

        let mut r = remote_with(r#", "allow_symmetric_keys": true"#);
        r.started(1, 100);
        let (count, logs) =
            crate::jwt::test_log::capture(|| r.finish(&answer(200, &oct_jwks()), 100));
        assert_eq!(count, Ok(1));
        assert!(warnings(&logs).is_empty(), "{logs:?}");
    }

    #[test]
    fn each_dropped_key_is_logged_with_its_reason_and_no_key_material() {
        let document =
            format!(r#"{{"keys": [{RSA1024}, {P256_PRIVATE}, {{"kty": "foo"}}, {P256_PUBLIC}]}}"#);
        let mut r = remote();
        r.started(1, 100);
        let (count, logs) =
            crate::jwt::test_log::capture(|| r.finish(&answer(200, &document), 100));
        assert_eq!(count, Ok(1));
        let prefix = "meshwasm auth: provider `corp`: JWKS key dropped: ";
        assert_eq!(
            warnings(&logs),
            [
                format!("{prefix}keys[0] (kid `rsa-1024`): `n` is a 1024-bit RSA modulus; 2048 to 8192 bits are accepted"),
                format!("{prefix}keys[1] (kid `p-256`): JWK has private key member `d`; publish only public keys"),
                format!("{prefix}keys[2]: kty `foo` is not supported"),
            ]
        );
        for secret in [
            member(RSA1024, "n"),
            member(P256_PRIVATE, "d"),
            member(P256_PRIVATE, "x"),
        ] {
            assert!(
                logs.iter().all(|(_, line)| !line.contains(&secret[..12])),
                "{logs:?}"
            );
        }
    }
}
