//! Request matching that every filter shares: by method, path, host,
//! headers, query parameters and cookies, one kind of condition per file.
//! Regexes are compiled once, when the configuration is read, with a
//! linear-time engine.

mod path;
mod regex;
mod string;
mod value;

pub use path::PathMatch;
pub use regex::Regex;
pub use string::StringMatch;
pub use value::{Condition, ValueMatch};

use crate::config::{ConfigError, Validate};
use crate::names::HeaderName;
use crate::request::{self, Request};
use crate::stage::HostError;
use serde::Deserialize;

/// A condition on a request header.
pub type HeaderMatch = ValueMatch<HeaderName>;

/// Conditions on a request; all that are set must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestMatch {
    /// The path, without the query; any path when unset.
    #[serde(default)]
    pub path: Option<PathMatch>,
    /// Any of these methods; any method when empty.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The host (`:authority`); any when unset.
    #[serde(default)]
    pub host: Option<StringMatch>,
    /// Conditions on headers.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    /// Conditions on query parameters (percent-decoded).
    #[serde(default)]
    pub query: Vec<ValueMatch>,
    /// Conditions on cookies.
    #[serde(default)]
    pub cookies: Vec<ValueMatch>,
}

impl RequestMatch {
    /// Whether the request matches. Path, query and method are checked
    /// first; the host, headers and cookies are read only if they match.
    /// Nothing is read that no condition asks for.
    pub fn matches(&self, request: &Request<'_>) -> Result<bool, HostError> {
        if self.path.is_some() || !self.query.is_empty() {
            let path = request.path()?;
            let bare = path.split_once('?').map_or(&*path, |(p, _)| p);
            if !self.path.as_ref().is_none_or(|p| p.matches(bare)) {
                return Ok(false);
            }
            if !self
                .query
                .iter()
                .all(|q| q.matches(request::query_param(&path, &q.name).as_deref()))
            {
                return Ok(false);
            }
        }
        if !self.methods.is_empty() {
            let method = request.method()?;
            if !self.methods.iter().any(|m| *m == method) {
                return Ok(false);
            }
        }
        if let Some(host) = &self.host {
            if !host.matches(&request.header_text(":authority")?.unwrap_or_default()) {
                return Ok(false);
            }
        }
        for header in &self.headers {
            if !header.matches(request.header_text(header.name.as_str())?.as_deref()) {
                return Ok(false);
            }
        }
        if self.cookies.is_empty() {
            return Ok(true);
        }
        let cookies = request.header_text("cookie")?.unwrap_or_default();
        Ok(self
            .cookies
            .iter()
            .all(|c| c.matches(request::cookie(&cookies, &c.name))))
    }

    /// Whether the path is matched by a regex, whose groups
    /// [`RequestMatch::path_captures`] gives.
    pub fn captures_path(&self) -> bool {
        matches!(self.path, Some(PathMatch::Regex(_)))
    }

    /// The capture groups of a regex path match (group 0 first); empty
    /// for other path matches.
    pub fn path_captures(&self, path: &str) -> Vec<String> {
        let bare = path.split_once('?').map_or(path, |(p, _)| p);
        match &self.path {
            Some(PathMatch::Regex(r)) => r.captures(bare).unwrap_or_default(),
            _ => Vec::new(),
        }
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
    use crate::testing::FakeHost;

    fn matcher(json: &str) -> Result<RequestMatch, ConfigError> {
        crate::config::parse(json.as_bytes())
    }

    /// Whether `m` matches a request with this method, path and headers.
    fn hit(m: &RequestMatch, method: &str, path: &str, headers: &[(&str, &str)]) -> bool {
        let mut all = vec![(":method", method), (":path", path)];
        all.extend_from_slice(headers);
        m.matches(&FakeHost::with_request(&all).view()).unwrap()
    }

    #[test]
    fn paths_and_methods_match() {
        let m = matcher(r#"{"path": {"prefix": "/api/"}, "methods": ["GET", "HEAD"]}"#).unwrap();
        assert!(hit(&m, "GET", "/api/x", &[]));
        assert!(hit(&m, "HEAD", "/api/x?y=/z", &[]));
        assert!(!hit(&m, "POST", "/api/x", &[]));
        assert!(!hit(&m, "GET", "/apix", &[]));
        let exact = matcher(r#"{"path": {"exact": "/health"}}"#).unwrap();
        assert!(hit(&exact, "DELETE", "/health?full=1", &[]));
        assert!(!hit(&exact, "GET", "/health/db", &[]));
        assert!(hit(&matcher("{}").unwrap(), "PATCH", "/anything", &[]));
    }

    #[test]
    fn regex_paths_match_whole_and_capture() {
        let m = matcher(r#"{"path": {"regex": "/users/([0-9]+)(/.*)?"}}"#).unwrap();
        assert!(hit(&m, "GET", "/users/42/orders?x=1", &[]));
        assert!(
            !hit(&m, "GET", "/v1/users/42", &[]),
            "a regex matches the whole path"
        );
        assert_eq!(
            m.path_captures("/users/42/orders?x"),
            ["/users/42/orders", "42", "/orders"]
        );
        assert_eq!(m.path_captures("/users/42"), ["/users/42", "42", ""]);
    }

    #[test]
    fn hosts_headers_query_and_cookies_match() {
        let m = matcher(
            r#"{"host": {"suffix": ".example"},
                "headers": [{"name": "X-Tier", "exact": "free"}, {"name": "x-debug", "present": false},
                            {"name": "user-agent", "regex": "curl/[0-9.]+"}],
                "query": [{"name": "beta", "exact": "1"}],
                "cookies": [{"name": "group", "prefix": "canary"}]}"#,
        )
        .unwrap();
        let good = &[
            (":authority", "shop.example"),
            ("x-tier", "free"),
            ("user-agent", "curl/8.1"),
            ("cookie", "a=b; group=canary-7"),
        ];
        assert!(hit(&m, "GET", "/?beta=1", good));
        assert!(!hit(&m, "GET", "/?beta=2", good));
        assert!(!hit(&m, "GET", "/", good));
        assert!(!hit(&m, "GET", "/?beta=1", &[(":authority", "shop.other")]));
        let with_debug = &[
            (":authority", "shop.example"),
            ("x-tier", "free"),
            ("user-agent", "curl/8.1"),
            ("cookie", "group=canary"),
            ("x-debug", "1"),
        ];
        assert!(!hit(&m, "GET", "/?beta=1", with_debug));
        let path_only =
            matcher(r#"{"path": {"exact": "/a"}, "headers": [{"name": "x", "present": true}]}"#)
                .unwrap();
        let mut host = FakeHost::with_request(&[(":path", "/b"), ("x", "1")]);
        assert!(!path_only.matches(&host.view()).unwrap());
        assert_eq!(
            host.take_host_calls().into_iter().collect::<Vec<_>>(),
            [("header", 1)],
            "headers are read only when path and method match"
        );
    }

    #[test]
    fn bad_matchers_are_named() {
        let cases = [
            (r#"{"path": {"prefix": "api"}}"#, "path"),
            (r#"{"methods": ["GET", "get"]}"#, "methods[1]"),
            (r#"{"path": {"glob": "x"}}"#, "path"),
            (r#"{"path": {"regex": "(unclosed"}}"#, "path.regex"),
            (
                r#"{"headers": [{"name": "x", "exact": "a", "present": true}]}"#,
                "headers[0]",
            ),
            (r#"{"headers": [{"name": "x"}]}"#, "headers[0]"),
            (
                r#"{"query": [{"name": "q", "regex": "[z-a]"}]}"#,
                "query[0].regex",
            ),
            (r#"{"host": {"regex": "a{99999999}"}}"#, "host.regex"),
        ];
        for (json, field) in cases {
            let err = matcher(json).unwrap_err();
            assert_eq!(err.field(), field, "{json}: {err}");
        }
    }
}

#[cfg(test)]
mod props;
