//! The rate-limit filter's configuration.

use meshwasm_core::{ConfigError, HeaderName, Validate};
use serde::Deserialize;
use std::collections::HashSet;

/// The rate-limit filter's JSON configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The limits; a request passes only if every rule allows it.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What to do when the bucket store fails.
    #[serde(default)]
    pub failure_mode: FailureMode,
}

/// One limit on the requests that share a key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Names the rule in stats and logs: lowercase letters, digits, `-`, `_`.
    pub name: String,
    /// What requests are counted together; empty means one shared bucket.
    #[serde(default)]
    pub key: Vec<KeyPart>,
    /// How many requests the key may make.
    pub limit: Limit,
    /// Decide and count, but never block.
    #[serde(default)]
    pub shadow: bool,
}

/// A part of a rule's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
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

/// A number of requests per period, with a burst allowance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Requests allowed per period; at least 1.
    pub requests: u32,
    /// The period.
    pub per: Period,
    /// Requests allowed beyond the steady rate at once.
    #[serde(default)]
    pub burst: u32,
}

/// The period of a [`Limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

/// What happens to a request when the bucket store fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
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
        meshwasm_core::config::validate_named("rules", &self.rules, |r| &r.name)
    }
}

impl Validate for Rule {
    fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'));
        if !name_ok {
            return Err(ConfigError::new(
                "name",
                "must be 1 to 64 of lowercase letters, digits, `-` and `_`",
            ));
        }
        let mut parts = HashSet::new();
        if let Some(i) = self.key.iter().position(|part| !parts.insert(part)) {
            return Err(ConfigError::new(
                format!("key[{i}]"),
                "repeats an earlier key part",
            ));
        }
        if self.limit.requests == 0 {
            return Err(ConfigError::new("limit.requests", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::config::parse;

    const FULL: &str = r#"{
        "rules": [{
            "name": "per-consumer",
            "key": ["client_address", {"header": "x-meshwasm-consumer"}],
            "limit": {"requests": 100, "per": "minute", "burst": 20},
            "shadow": true
        }],
        "failure_mode": "deny"
    }"#;

    #[test]
    fn a_full_config_parses() {
        let config: RateLimitConfig = parse(FULL.as_bytes()).unwrap();
        let rule = &config.rules[0];
        assert_eq!(
            rule.key[1],
            KeyPart::Header(HeaderName::from_static("x-meshwasm-consumer"))
        );
        assert_eq!(rule.limit.per, Period::Minute);
        assert_eq!(config.failure_mode, FailureMode::Deny);
    }

    #[test]
    fn defaults_apply_to_omitted_fields() {
        let config: RateLimitConfig = parse(b"{}").unwrap();
        assert!(config.rules.is_empty());
        assert_eq!(config.failure_mode, FailureMode::Allow);
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
