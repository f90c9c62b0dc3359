//! API keys: the consumer is whoever holds the key.

use crate::config::ApiKeyConfig;
use meshwasm_core::config::compile_each;
use meshwasm_core::{ConfigError, HeaderName};
use sha2::{Digest, Sha256};

/// The configured keys, as SHA-256 digests.
#[derive(Debug)]
pub struct ApiKeys {
    /// The header carrying the key.
    pub header: HeaderName,
    /// A query parameter carrying the key.
    pub query: Option<String>,
    /// Whether the key stays on the request.
    pub forward: bool,
    consumers: Vec<([u8; 32], String)>,
}

impl ApiKeys {
    /// Digests every key once, and decodes every `key_sha256`. Errors name
    /// fields relative to `config` (`consumers[1].key_sha256`).
    pub fn new(config: &ApiKeyConfig) -> Result<Self, ConfigError> {
        let consumers = compile_each("consumers", &config.consumers, |c| {
            let digest = match (&c.key, &c.key_sha256) {
                (Some(key), None) => Sha256::digest(key.as_bytes()).into(),
                (None, Some(hex)) => meshwasm_core::hex::decode(hex)
                    .ok_or_else(|| ConfigError::new("key_sha256", "must be 64 hex digits"))?,
                _ => {
                    return Err(ConfigError::new(
                        "",
                        "set exactly one of `key` and `key_sha256`",
                    ))
                }
            };
            Ok((digest, c.name.clone()))
        })?;
        Ok(Self {
            header: config.header.clone(),
            query: config.query.clone(),
            forward: config.forward,
            consumers,
        })
    }

    /// The consumer holding `key`. Compares fixed-length digests in
    /// constant time, against every consumer, so timing tells nothing
    /// about how close a guess came.
    pub fn consumer(&self, key: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (candidate, name) in &self.consumers {
            if crate::digest::same(candidate, &digest) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        let config: crate::config::AuthConfig = meshwasm_core::config::parse(
            br#"{"api_key": {"consumers": [
                {"name": "alice", "key": "alice-key-0123456789"},
                {"name": "bob", "key_sha256": "6D8D5B0B8E7A4F1E5E1F3F4B0E1C6C0F1A7E2B0A3D5C9E8F7A6B5C4D3E2F1A0B"}
            ]}}"#,
        )
        .unwrap();
        ApiKeys::new(config.api_key.as_ref().unwrap()).unwrap()
    }

    #[test]
    fn a_plain_key_names_its_consumer() {
        let keys = keys();
        assert_eq!(keys.consumer("alice-key-0123456789"), Some("alice"));
        assert_eq!(keys.consumer("alice-key-012345678"), None);
        assert_eq!(keys.consumer(""), None);
        assert_eq!(keys.header.as_str(), "x-api-key");
    }

    #[test]
    fn a_digest_matches_the_key_it_was_made_from() {
        let digest = hex_of(&Sha256::digest(b"bob's key"));
        let config: crate::config::AuthConfig = meshwasm_core::config::parse(
            format!(r#"{{"api_key": {{"query": "k", "consumers": [{{"name": "bob", "key_sha256": "{digest}"}}]}}}}"#)
                .as_bytes(),
        )
        .unwrap();
        let keys = ApiKeys::new(config.api_key.as_ref().unwrap()).unwrap();
        assert_eq!(keys.consumer("bob's key"), Some("bob"));
        assert_eq!(keys.consumer(&digest), None);
        assert_eq!(keys.query.as_deref(), Some("k"));
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn bad_consumers_are_named() {
        let cases = [
            (r#"{"api_key": {"consumers": []}}"#, "api_key.consumers"),
            (
                r#"{"api_key": {"consumers": [{"name": "a"}]}}"#,
                "api_key.consumers[0]",
            ),
            (
                r#"{"api_key": {"consumers": [{"name": "a", "key": "k", "key_sha256": "00"}]}}"#,
                "api_key.consumers[0]",
            ),
            (
                r#"{"api_key": {"consumers": [{"name": "a", "key_sha256": "xyz"}]}}"#,
                "api_key.consumers[0].key_sha256",
            ),
            (
                r#"{"api_key": {"consumers": [{"name": "a b", "key": "k"}]}}"#,
                "api_key.consumers[0].name",
            ),
            (
                r#"{"api_key": {"consumers": [{"name": "a", "key": "k"}, {"name": "a", "key": "j"}]}}"#,
                "api_key.consumers[1].name",
            ),
            (
                r#"{"api_key": {"header": "x y", "consumers": [{"name": "a", "key": "k"}]}}"#,
                "api_key.header",
            ),
        ];
        for (json, field) in cases {
            // The whole configure step: shape checks, then building.
            let err =
                <crate::Auth as meshwasm_core::Filter>::configure(json.as_bytes()).unwrap_err();
            assert_eq!(err.field(), field, "{json}: {err}");
        }
    }
}
