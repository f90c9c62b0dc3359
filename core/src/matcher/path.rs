//! Matching the request path, without its query.

use super::Regex;
use crate::config::{ConfigError, Validate};
use serde::Deserialize;

/// How a rule matches the request path (without the query).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PathMatch {
    /// The whole path.
    Exact(String),
    /// The path's start.
    Prefix(String),
    /// A regex matching the whole path; its groups can be used in
    /// templates and rewrites.
    Regex(Regex),
}

impl PathMatch {
    /// Whether `path` (without the query) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => path == p,
            Self::Prefix(p) => path.starts_with(p.as_str()),
            Self::Regex(r) => r.is_match(path),
        }
    }
}

impl Validate for PathMatch {
    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::Exact(path) | Self::Prefix(path) if !path.starts_with('/') => {
                Err(ConfigError::new("", "must start with `/`"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(json: &str) -> PathMatch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn paths_match_exactly_by_prefix_or_whole_regex() {
        assert!(path(r#"{"exact": "/a"}"#).matches("/a"));
        assert!(!path(r#"{"exact": "/a"}"#).matches("/a/"));
        assert!(path(r#"{"prefix": "/a/"}"#).matches("/a/b"));
        assert!(!path(r#"{"prefix": "/a/"}"#).matches("/ab"));
        assert!(path(r#"{"regex": "/u/[0-9]+"}"#).matches("/u/42"));
        assert!(!path(r#"{"regex": "/u/[0-9]+"}"#).matches("/x/u/42"));
    }

    #[test]
    fn literal_paths_start_with_a_slash() {
        assert!(path(r#"{"prefix": "api"}"#).validate().is_err());
        assert!(path(r#"{"exact": "/api"}"#).validate().is_ok());
        assert!(path(r#"{"regex": "api.*"}"#).validate().is_ok());
    }
}
