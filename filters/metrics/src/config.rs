//! The metrics filter's configuration.

use meshwasm_core::config::validate_each;
use meshwasm_core::{ConfigError, HeaderName, Validate};
use serde::Deserialize;
use std::collections::HashSet;

/// The longest metric name prefix accepted.
const MAX_PREFIX_BYTES: usize = 64;

/// The metrics filter's JSON configuration.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Starts every metric name: a Prometheus name (`[a-zA-Z_][a-zA-Z0-9_]*`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// The request header naming the consumer (such as the auth filter's
    /// identity header); the `consumer` label is `none` when unset.
    #[serde(default)]
    pub consumer_header: Option<HeaderName>,
    /// More labels, from request headers, each with an allow-list.
    #[serde(default)]
    pub extra_labels: Vec<ExtraLabel>,
    /// Distinct values each of `route`, `cluster` and `consumer` may take;
    /// more become `other`.
    #[serde(default = "default_max_values")]
    pub max_label_values: u32,
    /// Series each metric may have, per worker; more are recorded under
    /// the series whose capped labels are all `other`.
    #[serde(default = "default_max_series")]
    pub max_series: u32,
    /// Also record `<prefix>_request_bytes` and `<prefix>_response_bytes`
    /// histograms (two more property reads and samples per request).
    #[serde(default)]
    pub sizes: bool,
    /// Also keep the `<prefix>_requests_in_flight{method}` gauge (two more
    /// updates and a header read per request).
    #[serde(default)]
    pub in_flight: bool,
}

fn default_prefix() -> String {
    "meshwasm".to_owned()
}

fn default_max_values() -> u32 {
    100
}

fn default_max_series() -> u32 {
    2000
}

/// A label taken from a request header.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ExtraLabel {
    /// The label: a Prometheus label name, not one of the built-in ones.
    pub name: String,
    /// The header it comes from.
    pub header: HeaderName,
    /// The values kept; any other value is `other`, and a missing header
    /// is `none`.
    pub values: Vec<String>,
}

/// Whether `s` is a Prometheus name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn prometheus_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Validate for MetricsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !prometheus_name(&self.prefix) || self.prefix.len() > MAX_PREFIX_BYTES {
            return Err(ConfigError::new(
                "prefix",
                format!(
                    "`{}` is not a Prometheus metric name of at most {MAX_PREFIX_BYTES} bytes",
                    self.prefix.escape_debug()
                ),
            ));
        }
        if !(1..=10_000).contains(&self.max_label_values) {
            return Err(ConfigError::new("max_label_values", "must be 1 to 10000"));
        }
        if !(1..=100_000).contains(&self.max_series) {
            return Err(ConfigError::new("max_series", "must be 1 to 100000"));
        }
        validate_each("extra_labels", &self.extra_labels)?;
        let mut names = HashSet::new();
        if let Some(i) = self
            .extra_labels
            .iter()
            .position(|l| !names.insert(l.name.as_str()))
        {
            return Err(ConfigError::new(
                format!("extra_labels[{i}].name"),
                "names another extra label already",
            ));
        }
        Ok(())
    }
}

impl Validate for ExtraLabel {
    fn validate(&self) -> Result<(), ConfigError> {
        if !prometheus_name(&self.name) || self.name.starts_with("__") {
            return Err(ConfigError::new("name", "must be a Prometheus label name"));
        }
        if meshwasm_core::metrics::LABELS.contains(&self.name.as_str()) {
            return Err(ConfigError::new(
                "name",
                format!("`{}` is a label of meshwasm's own", self.name),
            ));
        }
        if self.values.is_empty() || self.values.len() > 100 {
            return Err(ConfigError::new("values", "must list 1 to 100 values"));
        }
        if let Some(i) = self.values.iter().position(|v| {
            v.is_empty()
                || v.len() > 64
                || matches!(v.as_str(), "other" | "none")
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:/-".contains(c))
        }) {
            return Err(ConfigError::new(
                format!("values[{i}]"),
                "must be 1 to 64 of letters, digits, `_.:/-`, and not `other` or `none`",
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
        assert_eq!((config.max_label_values, config.max_series), (100, 2000));
    }

    #[test]
    fn a_full_config_parses() {
        let config: MetricsConfig = parse(
            br#"{"prefix": "mesh_1", "consumer_header": "X-Meshwasm-Consumer",
                 "extra_labels": [{"name": "tenant", "header": "x-tenant", "values": ["acme", "globex"]}],
                 "max_label_values": 10, "max_series": 50}"#,
        )
        .unwrap();
        assert_eq!(config.prefix, "mesh_1");
        assert_eq!(
            config.consumer_header,
            Some(HeaderName::from_static("x-meshwasm-consumer"))
        );
        assert_eq!(config.extra_labels[0].values, ["acme", "globex"]);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (r#"{"prefix": "mesh-wasm"}"#, "prefix"),
            (r#"{"prefix": "1abc"}"#, "prefix"),
            (r#"{"max_label_values": 0}"#, "max_label_values"),
            (r#"{"max_series": 0}"#, "max_series"),
            (
                r#"{"extra_labels": [{"name": "code", "header": "x", "values": ["a"]}]}"#,
                "extra_labels[0].name",
            ),
            (
                r#"{"extra_labels": [{"name": "a-b", "header": "x", "values": ["a"]}]}"#,
                "extra_labels[0].name",
            ),
            (
                r#"{"extra_labels": [{"name": "t", "header": "x", "values": []}]}"#,
                "extra_labels[0].values",
            ),
            (
                r#"{"extra_labels": [{"name": "t", "header": "x", "values": ["a b"]}]}"#,
                "extra_labels[0].values[0]",
            ),
            (
                r#"{"extra_labels": [{"name": "t", "header": "x", "values": ["other"]}]}"#,
                "extra_labels[0].values[0]",
            ),
            (
                r#"{"extra_labels": [{"name": "t", "header": "x", "values": ["a"]}, {"name": "t", "header": "y", "values": ["a"]}]}"#,
                "extra_labels[1].name",
            ),
        ];
        for (json, field) in cases {
            let err = parse::<MetricsConfig>(json.as_bytes()).unwrap_err();
            assert_eq!(err.field(), field, "{json}: {err}");
        }
    }
}

#[cfg(test)]
mod props;
