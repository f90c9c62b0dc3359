//! The metrics filter's configuration.

use meshwasm_core::{ConfigError, HeaderName, Validate};
use serde::Deserialize;

/// The longest metric name prefix accepted.
const MAX_PREFIX_BYTES: usize = 64;

/// The metrics filter's JSON configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Starts every metric name: a Prometheus name (`[a-zA-Z_][a-zA-Z0-9_]*`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// The request header naming the consumer (such as the auth filter's
    /// identity header); no consumer label when unset.
    #[serde(default)]
    pub consumer_header: Option<HeaderName>,
}

fn default_prefix() -> String {
    "meshwasm".to_owned()
}

impl Validate for MetricsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let mut bytes = self.prefix.bytes();
        let valid = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && self.prefix.len() <= MAX_PREFIX_BYTES;
        if !valid {
            return Err(ConfigError::new(
                "prefix",
                format!(
                    "`{}` is not a Prometheus metric name of at most {MAX_PREFIX_BYTES} bytes",
                    self.prefix.escape_debug()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::config::parse;

    #[test]
    fn defaults_apply() {
        let config: MetricsConfig = parse(b"").unwrap();
        assert_eq!(config.prefix, "meshwasm");
        assert_eq!(config.consumer_header, None);
    }

    #[test]
    fn a_full_config_parses() {
        let config: MetricsConfig =
            parse(br#"{"prefix": "mesh_1", "consumer_header": "X-Meshwasm-Consumer"}"#).unwrap();
        assert_eq!(config.prefix, "mesh_1");
        assert_eq!(
            config.consumer_header,
            Some(HeaderName::from_static("x-meshwasm-consumer"))
        );
    }

    #[test]
    fn bad_prefixes_are_named() {
        for prefix in ["", "1abc", "mesh-wasm", "a b", &"a".repeat(65)] {
            let json = serde_json::json!({ "prefix": prefix }).to_string();
            let err = parse::<MetricsConfig>(json.as_bytes()).unwrap_err();
            assert_eq!(err.field(), "prefix", "{prefix:?}");
        }
    }
}
