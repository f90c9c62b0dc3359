//! Request matching that several filters share: by path and by method.

use crate::config::{ConfigError, Validate};
use serde::Deserialize;

/// How a rule matches the request path (without the query).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PathMatch {
    /// The whole path.
    Exact(String),
    /// The path's start.
    Prefix(String),
}

impl PathMatch {
    /// Whether `path` (without the query) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => path == p,
            Self::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

impl Validate for PathMatch {
    fn validate(&self) -> Result<(), ConfigError> {
        let (Self::Exact(path) | Self::Prefix(path)) = self;
        if path.starts_with('/') {
            Ok(())
        } else {
            Err(ConfigError::new("", "must start with `/`"))
        }
    }
}

/// Conditions on a request's path and method; all that are set must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestMatch {
    /// The path, without the query; any path when unset.
    #[serde(default)]
    pub path: Option<PathMatch>,
    /// Any of these methods; any method when empty.
    #[serde(default)]
    pub methods: Vec<String>,
}

impl RequestMatch {
    /// Whether a request with this method and path (query included or
    /// not) matches.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        self.path.as_ref().is_none_or(|p| p.matches(path))
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
    }
}

impl Validate for RequestMatch {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.path {
            path.validate().map_err(|e| e.within("path"))?;
        }
        if let Some(i) = self
            .methods
            .iter()
            .position(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase() || b == b'-'))
        {
            return Err(ConfigError::new(
                format!("methods[{i}]"),
                "must be an uppercase method name such as `GET`",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(json: &str) -> Result<RequestMatch, ConfigError> {
        crate::config::parse(json.as_bytes())
    }

    #[test]
    fn paths_and_methods_match() {
        let m = matcher(r#"{"path": {"prefix": "/api/"}, "methods": ["GET", "HEAD"]}"#).unwrap();
        assert!(m.matches("GET", "/api/x"));
        assert!(m.matches("HEAD", "/api/x?y=/z"));
        assert!(!m.matches("POST", "/api/x"));
        assert!(!m.matches("GET", "/apix"));
        let exact = matcher(r#"{"path": {"exact": "/health"}}"#).unwrap();
        assert!(exact.matches("DELETE", "/health?full=1"));
        assert!(!exact.matches("GET", "/health/db"));
        assert!(matcher("{}").unwrap().matches("PATCH", "/anything"));
    }

    #[test]
    fn bad_matchers_are_named() {
        let err = matcher(r#"{"path": {"prefix": "api"}}"#).unwrap_err();
        assert_eq!(err.field(), "path");
        let err = matcher(r#"{"methods": ["GET", "get"]}"#).unwrap_err();
        assert_eq!(err.field(), "methods[1]");
        let err = matcher(r#"{"path": {"regex": "x"}}"#).unwrap_err();
        assert_eq!(err.field(), "path");
    }
}
