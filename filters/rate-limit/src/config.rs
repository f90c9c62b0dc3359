//! The rate-limit filter's configuration.

use meshwasm_core::matcher::RequestMatch;
use meshwasm_core::{ConfigError, HeaderName, Validate};
use serde::Deserialize;
use std::collections::HashSet;

/// The most keys one rule may track.
pub const MAX_KEYS_LIMIT: u32 = 1_000_000;

/// The rate-limit filter's JSON configuration.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The limits; a request passes only if every rule that matches it
    /// allows it.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What to do when the bucket store fails, or a rule tracks as many
    /// keys as it may.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// How the client's address is found.
    #[serde(default)]
    pub client_address: ClientAddress,
    /// Send the rate-limit headers on allowed responses too (they are
    /// always on 429s).
    #[serde(default)]
    pub response_headers: bool,
    /// How many keys each rule tracks at most.
    #[serde(default = "default_max_keys")]
    pub max_keys: u32,
    /// The rate limit service that keeps the counts of rules with `global`
    /// (Envoy's `envoy.service.ratelimit.v3.RateLimitService`).
    #[serde(default)]
    pub service: Option<ServiceConfig>,
}

/// The most entries one global descriptor may have.
pub const MAX_DESCRIPTOR_ENTRIES: usize = 16;
/// The longest descriptor key or constant value, and the longest domain.
pub const MAX_DESCRIPTOR_TEXT: usize = 256;
/// The longest cluster name accepted.
pub const MAX_CLUSTER_NAME: usize = 100;

/// Where a rate limit service is and how to ask it.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The Envoy cluster the service is reached through; it must speak
    /// HTTP/2 (gRPC).
    pub cluster: String,
    /// The domain every request names: the service's configuration is
    /// looked up under it.
    pub domain: String,
    /// How long to wait for the service's answer, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// What happens to a request when the service cannot answer (down, too
    /// slow, an answer that cannot be read); the filter's `failure_mode`
    /// when not set.
    #[serde(default)]
    pub failure_mode: Option<FailureMode>,
}

fn default_timeout_ms() -> u32 {
    100
}

/// A rule's count kept by the rate limit service: the descriptor it is
/// asked about.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GlobalLimit {
    /// The descriptor's entries, in order: each a key and where its value
    /// comes from.
    pub descriptor: Vec<DescriptorEntry>,
}

/// One entry of a descriptor: its key, and its value taken from the
/// request (`from`, as a local rule's key parts) or given (`value`).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(extend("minProperties" = 2, "maxProperties" = 2))
)]
#[serde(deny_unknown_fields)]
pub struct DescriptorEntry {
    /// The entry's key, as the service's configuration names it.
    pub key: String,
    /// The request part the value is taken from.
    #[serde(default)]
    pub from: Option<KeyPart>,
    /// A constant value.
    #[serde(default)]
    pub value: Option<String>,
}

fn default_max_keys() -> u32 {
    10_000
}

/// Where the client's address comes from.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ClientAddress {
    /// Proxies in front of Envoy that append to `x-forwarded-for` and are
    /// trusted; the client is the address this many entries from the
    /// right. 0: the connection's source address, `x-forwarded-for`
    /// ignored.
    #[serde(default)]
    pub xff_trusted_hops: u32,
}

/// One limit on the requests that share a key.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Names the rule in stats and logs: lowercase letters, digits, `-`, `_`.
    pub name: String,
    /// Which requests the rule counts; every request when empty.
    #[serde(default, rename = "match")]
    pub matcher: RequestMatch,
    /// What requests are counted together; empty means one shared bucket.
    #[serde(default)]
    pub key: Vec<KeyPart>,
    /// How many requests the key may make in this Envoy (local: exact
    /// across its workers).
    #[serde(default)]
    pub limit: Option<Limit>,
    /// A count kept by the rate limit service for all Envoys (global). With
    /// `limit` too, the local limit is checked first: a cheap cap in front
    /// of the shared one.
    #[serde(default)]
    pub global: Option<GlobalLimit>,
    /// Decide and count, but never block.
    #[serde(default)]
    pub shadow: bool,
}

/// A part of a rule's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyPart {
    /// The client's address.
    ClientAddress,
    /// The request path, without the query.
    Path,
    /// The request method.
    Method,
    /// The value of a request header, such as the auth filter's identity.
    Header(HeaderName),
}

/// A number of requests per period, with a burst allowance: a bucket of
/// `requests + burst` that refills at `requests` per period.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Requests allowed per period; at least 1.
    pub requests: u32,
    /// The period.
    pub per: Period,
    /// Requests allowed at once beyond `requests`.
    #[serde(default)]
    pub burst: u32,
}

/// The period of a [`Limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One second.
    Second,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl Period {
    /// Its length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }
}

/// What happens to a request when the bucket store fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Let it pass.
    #[default]
    Allow,
    /// Refuse it.
    Deny,
}

impl Validate for RateLimitConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_KEYS_LIMIT).contains(&self.max_keys) {
            return Err(ConfigError::new(
                "max_keys",
                format!("must be 1 to {MAX_KEYS_LIMIT}"),
            ));
        }
        meshwasm_core::config::validate_named("rules", &self.rules, |r| &r.name)?;
        if let Some(service) = &self.service {
            service.validate().map_err(|e| e.within("service"))?;
        }
        if self.service.is_none() {
            if let Some(i) = self.rules.iter().position(|r| r.global.is_some()) {
                return Err(ConfigError::new(
                    format!("rules[{i}].global"),
                    "needs a rate limit `service` to ask",
                ));
            }
        }
        Ok(())
    }
}

impl Validate for ServiceConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_cluster_name(&self.cluster).map_err(|reason| ConfigError::new("cluster", reason))?;
        if self.domain.is_empty() || self.domain.len() > MAX_DESCRIPTOR_TEXT {
            return Err(ConfigError::new(
                "domain",
                format!("must be 1 to {MAX_DESCRIPTOR_TEXT} bytes"),
            ));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(ConfigError::new("timeout_ms", "must be 1 to 60000"));
        }
        Ok(())
    }
}

/// A cluster name Envoy reads as a name: printable ASCII, and not bytes
/// that would also read as a protobuf `GrpcService` (Envoy tries that
/// first).
fn check_cluster_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_CLUSTER_NAME {
        return Err(format!("must be 1 to {MAX_CLUSTER_NAME} bytes"));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".to_owned());
    }
    if crate::rls::reads_as_grpc_service(name.as_bytes()) {
        return Err(format!(
            "`{name}` would be read by Envoy as a protobuf GrpcService, not a cluster name: rename the cluster"
        ));
    }
    Ok(())
}

impl Validate for GlobalLimit {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.descriptor.is_empty() || self.descriptor.len() > MAX_DESCRIPTOR_ENTRIES {
            return Err(ConfigError::new(
                "descriptor",
                format!("must have 1 to {MAX_DESCRIPTOR_ENTRIES} entries"),
            ));
        }
        let mut keys = HashSet::new();
        for (i, entry) in self.descriptor.iter().enumerate() {
            let field = |name: &str| format!("descriptor[{i}]{name}");
            if entry.key.is_empty() || entry.key.len() > MAX_DESCRIPTOR_TEXT {
                return Err(ConfigError::new(
                    field(".key"),
                    format!("must be 1 to {MAX_DESCRIPTOR_TEXT} bytes"),
                ));
            }
            if !keys.insert(entry.key.as_str()) {
                return Err(ConfigError::new(field(".key"), "repeats an earlier key"));
            }
            match (&entry.from, &entry.value) {
                (Some(_), None) => {}
                (None, Some(value)) if !value.is_empty() && value.len() <= MAX_DESCRIPTOR_TEXT => {}
                (None, Some(_)) => {
                    return Err(ConfigError::new(
                        field(".value"),
                        format!("must be 1 to {MAX_DESCRIPTOR_TEXT} bytes"),
                    ))
                }
                _ => {
                    return Err(ConfigError::new(
                        field(""),
                        "set exactly one of `from` and `value`",
                    ))
                }
            }
        }
        Ok(())
    }
}

impl Validate for Rule {
    fn validate(&self) -> Result<(), ConfigError> {
        meshwasm_core::config::check_rule_name(&self.name)?;
        self.matcher.validate().map_err(|e| e.within("match"))?;
        let mut parts = HashSet::new();
        if let Some(i) = self.key.iter().position(|part| !parts.insert(part)) {
            return Err(ConfigError::new(
                format!("key[{i}]"),
                "repeats an earlier key part",
            ));
        }
        if self.limit.as_ref().is_some_and(|l| l.requests == 0) {
            return Err(ConfigError::new("limit.requests", "must be at least 1"));
        }
        if let Some(global) = &self.global {
            global.validate().map_err(|e| e.within("global"))?;
        }
        if self.limit.is_none() && self.global.is_none() {
            return Err(ConfigError::new(
                "",
                "set `limit` (in this Envoy), `global` (across Envoys) or both",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::config::parse;
    use meshwasm_core::testing::FakeHost;

    const FULL: &str = r#"{
        "rules": [{
            "name": "per-consumer",
            "match": {"path": {"prefix": "/api/"}, "methods": ["POST"]},
            "key": ["client_address", {"header": "x-meshwasm-consumer"}],
            "limit": {"requests": 100, "per": "minute", "burst": 20},
            "shadow": true
        }],
        "failure_mode": "deny",
        "client_address": {"xff_trusted_hops": 1},
        "response_headers": true,
        "max_keys": 500
    }"#;

    #[test]
    fn a_full_config_parses() {
        let config: RateLimitConfig = parse(FULL.as_bytes()).unwrap();
        let rule = &config.rules[0];
        assert_eq!(
            rule.key[1],
            KeyPart::Header(HeaderName::from_static("x-meshwasm-consumer"))
        );
        assert_eq!(rule.limit.as_ref().unwrap().per, Period::Minute);
        assert_eq!(config.failure_mode, FailureMode::Deny);
        assert_eq!(config.client_address.xff_trusted_hops, 1);
        assert!(config.response_headers && rule.shadow);
        assert_eq!(config.max_keys, 500);
        let mut post = FakeHost::with_request(&[(":method", "POST"), (":path", "/api/x")]);
        assert!(rule.matcher.matches(&post.view()).unwrap());
    }

    #[test]
    fn defaults_apply_to_omitted_fields() {
        let config: RateLimitConfig = parse(b"{}").unwrap();
        assert!(config.rules.is_empty());
        assert_eq!(config.failure_mode, FailureMode::Allow);
        assert_eq!(config.client_address.xff_trusted_hops, 0);
        assert!(!config.response_headers);
        assert_eq!(config.max_keys, 10_000);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                r#"{"rules": [{"name": "a", "limit": {"requests": 0, "per": "second"}}]}"#,
                "rules[0].limit.requests",
            ),
            (
                r#"{"rules": [{"name": "a", "limit": {"requests": 1, "per": "week"}}]}"#,
                "rules[0].limit.per",
            ),
            (
                r#"{"rules": [{"name": "A b", "limit": {"requests": 1, "per": "day"}}]}"#,
                "rules[0].name",
            ),
            (
                r#"{"rules": [{"name": "a", "key": ["path", "path"], "limit": {"requests": 1, "per": "day"}}]}"#,
                "rules[0].key[1]",
            ),
            (
                r#"{"rules": [{"name": "a", "key": [{"header": "x y"}], "limit": {"requests": 1, "per": "day"}}]}"#,
                "rules[0].key[0].header",
            ),
            (r#"{"failure_mode": "maybe"}"#, "failure_mode"),
            (r#"{"max_keys": 0}"#, "max_keys"),
            (
                r#"{"client_address": {"xff_trusted_hops": -1}}"#,
                "client_address.xff_trusted_hops",
            ),
            (
                r#"{"rules": [{"name": "a", "match": {"methods": ["get"]}, "limit": {"requests": 1, "per": "day"}}]}"#,
                "rules[0].match.methods[0]",
            ),
            (r#"{"rules": [{"name": "a"}]}"#, "rules[0]"),
            (
                r#"{"rules": [{"name": "a", "global": {"descriptor": [{"key": "k", "value": "v"}]}}]}"#,
                "rules[0].global",
            ),
            (
                r#"{"service": {"cluster": "rls", "domain": "d"}, "rules": [{"name": "a", "global": {"descriptor": []}}]}"#,
                "rules[0].global.descriptor",
            ),
            (
                r#"{"service": {"cluster": "rls", "domain": "d"}, "rules": [{"name": "a", "global": {"descriptor": [{"key": "k", "value": "v", "from": "path"}]}}]}"#,
                "rules[0].global.descriptor[0]",
            ),
            (
                r#"{"service": {"cluster": "rls", "domain": "d"}, "rules": [{"name": "a", "global": {"descriptor": [{"key": "k", "value": "v"}, {"key": "k", "from": "path"}]}}]}"#,
                "rules[0].global.descriptor[1].key",
            ),
            (
                r#"{"service": {"cluster": "hx", "domain": "d"}}"#,
                "service.cluster",
            ),
            (
                r#"{"service": {"cluster": "rate limit", "domain": "d"}}"#,
                "service.cluster",
            ),
            (
                r#"{"service": {"cluster": "rls", "domain": ""}}"#,
                "service.domain",
            ),
            (
                r#"{"service": {"cluster": "rls", "domain": "d", "timeout_ms": 0}}"#,
                "service.timeout_ms",
            ),
        ];
        for (json, field) in cases {
            let err = parse::<RateLimitConfig>(json.as_bytes()).unwrap_err();
            assert_eq!(err.field(), field, "{json}: {err}");
        }
    }

    #[test]
    fn rule_names_are_unique() {
        let rule = r#"{"name": "a", "limit": {"requests": 1, "per": "day"}}"#;
        let err = parse::<RateLimitConfig>(format!(r#"{{"rules": [{rule}, {rule}]}}"#).as_bytes())
            .unwrap_err();
        assert_eq!(err.field(), "rules[1].name");
    }
}

#[cfg(test)]
mod props;
