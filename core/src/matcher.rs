//! Request matching that several filters share: by path, method and
//! headers.

use crate::config::{validate_each, ConfigError, Validate};
use crate::names::HeaderName;
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

/// A condition on one request header. Exactly one of `exact`, `prefix`
/// and `present` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// The header.
    pub name: HeaderName,
    /// Its value is exactly this.
    #[serde(default)]
    pub exact: Option<String>,
    /// Its value starts with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// It is present (`true`) or absent (`false`).
    #[serde(default)]
    pub present: Option<bool>,
}

impl HeaderMatch {
    /// Whether a header with this value (`None`: absent) matches.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match (&self.exact, &self.prefix, self.present, value) {
            (Some(want), _, _, Some(v)) => v == want,
            (_, Some(want), _, Some(v)) => v.starts_with(want.as_str()),
            (_, _, Some(present), v) => present == v.is_some(),
            _ => false,
        }
    }
}

impl Validate for HeaderMatch {
    fn validate(&self) -> Result<(), ConfigError> {
        let set = [
            self.exact.is_some(),
            self.prefix.is_some(),
            self.present.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err(ConfigError::new(
                "",
                "set exactly one of `exact`, `prefix` and `present`",
            ));
        }
        Ok(())
    }
}

/// Conditions on a request's path, method and headers; all that are set
/// must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestMatch {
    /// The path, without the query; any path when unset.
    #[serde(default)]
    pub path: Option<PathMatch>,
    /// Any of these methods; any method when empty.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Conditions on headers; all must hold.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
}

impl RequestMatch {
    /// Whether a request with this method and path (query included or
    /// not) matches; `header` looks up a request header, and is asked only
    /// when path and method match.
    pub fn matches(
        &self,
        method: &str,
        path: &str,
        mut header: impl FnMut(&str) -> Option<String>,
    ) -> bool {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        self.path.as_ref().is_none_or(|p| p.matches(path))
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && self
                .headers
                .iter()
                .all(|h| h.matches(header(h.name.as_str()).as_deref()))
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
        validate_each("headers", &self.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(json: &str) -> Result<RequestMatch, ConfigError> {
        crate::config::parse(json.as_bytes())
    }

    fn no_headers(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn paths_and_methods_match() {
        let m = matcher(r#"{"path": {"prefix": "/api/"}, "methods": ["GET", "HEAD"]}"#).unwrap();
        assert!(m.matches("GET", "/api/x", no_headers));
        assert!(m.matches("HEAD", "/api/x?y=/z", no_headers));
        assert!(!m.matches("POST", "/api/x", no_headers));
        assert!(!m.matches("GET", "/apix", no_headers));
        let exact = matcher(r#"{"path": {"exact": "/health"}}"#).unwrap();
        assert!(exact.matches("DELETE", "/health?full=1", no_headers));
        assert!(!exact.matches("GET", "/health/db", no_headers));
        assert!(matcher("{}")
            .unwrap()
            .matches("PATCH", "/anything", no_headers));
    }

    #[test]
    fn headers_match_when_asked() {
        let m = matcher(
            r#"{"headers": [{"name": "X-Tier", "exact": "free"}, {"name": "x-debug", "present": false},
                            {"name": "user-agent", "prefix": "curl/"}]}"#,
        )
        .unwrap();
        let request = |tier: &'static str, debug: bool| {
            move |name: &str| match name {
                "x-tier" => Some(tier.to_owned()),
                "x-debug" if debug => Some(String::new()),
                "user-agent" => Some("curl/8".to_owned()),
                _ => None,
            }
        };
        assert!(m.matches("GET", "/", request("free", false)));
        assert!(!m.matches("GET", "/", request("paid", false)));
        assert!(!m.matches("GET", "/", request("free", true)));
        let mut asked = false;
        let path_only =
            matcher(r#"{"path": {"exact": "/a"}, "headers": [{"name": "x", "present": true}]}"#)
                .unwrap();
        assert!(!path_only.matches("GET", "/b", |_| {
            asked = true;
            None
        }));
        assert!(!asked, "headers are read only when path and method match");
    }

    #[test]
    fn bad_matchers_are_named() {
        let err = matcher(r#"{"path": {"prefix": "api"}}"#).unwrap_err();
        assert_eq!(err.field(), "path");
        let err = matcher(r#"{"methods": ["GET", "get"]}"#).unwrap_err();
        assert_eq!(err.field(), "methods[1]");
        let err = matcher(r#"{"path": {"regex": "x"}}"#).unwrap_err();
        assert_eq!(err.field(), "path");
        let err =
            matcher(r#"{"headers": [{"name": "x", "exact": "a", "present": true}]}"#).unwrap_err();
        assert_eq!(err.field(), "headers[0]");
        let err = matcher(r#"{"headers": [{"name": "x"}]}"#).unwrap_err();
        assert_eq!(err.field(), "headers[0]");
    }
}
