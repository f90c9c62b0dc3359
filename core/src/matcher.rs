//! Request matching that every filter shares: by method, path, host,
//! headers, query parameters and cookies. Regexes are compiled once, when
//! the configuration is read, with a linear-time engine.

use crate::config::{validate_each, ConfigError, Validate};
use crate::names::HeaderName;
use crate::request::{self, Request};
use crate::stage::HostError;
use serde::Deserialize;
use std::fmt;

/// The largest compiled regex allowed, in bytes of the engine's program.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// A regex from a configuration, compiled when read. It must match the
/// whole value (as Envoy's `safe_regex` does).
#[derive(Clone)]
pub struct Regex {
    source: String,
    compiled: regex_lite::Regex,
}

impl Regex {
    /// Whether it matches the whole of `value`.
    pub fn is_match(&self, value: &str) -> bool {
        self.compiled.is_match(value)
    }

    /// The capture groups of a whole-value match, group 0 (the value)
    /// first; a group that took no part is empty.
    pub fn captures(&self, value: &str) -> Option<Vec<String>> {
        let caps = self.compiled.captures(value)?;
        Some(
            caps.iter()
                .map(|m| m.map_or_else(String::new, |m| m.as_str().to_owned()))
                .collect(),
        )
    }

    /// Replaces a whole-value match with `replacement`, in which `$1`,
    /// `${name}` and so on name capture groups.
    pub fn replace(&self, value: &str, replacement: &str) -> Option<String> {
        let caps = self.compiled.captures(value)?;
        let mut out = String::new();
        caps.expand(replacement, &mut out);
        Some(out)
    }

    /// How many capture groups it has, group 0 included.
    pub fn groups(&self) -> usize {
        self.compiled.captures_len()
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({:?})", self.source)
    }
}

impl TryFrom<String> for Regex {
    type Error = String;

    fn try_from(source: String) -> Result<Self, Self::Error> {
        let compiled = regex_lite::RegexBuilder::new(&format!("^(?:{source})$"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("`{}` is not a valid regex: {e}", source.escape_debug()))?;
        Ok(Self { source, compiled })
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = String::deserialize(d)?;
        Self::try_from(source).map_err(serde::de::Error::custom)
    }
}

/// How a string is matched.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StringMatch {
    /// The whole value.
    Exact(String),
    /// Its start.
    Prefix(String),
    /// Its end.
    Suffix(String),
    /// Anywhere in it.
    Contains(String),
    /// A regex matching the whole value.
    Regex(Regex),
}

impl StringMatch {
    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => value == s,
            Self::Prefix(s) => value.starts_with(s.as_str()),
            Self::Suffix(s) => value.ends_with(s.as_str()),
            Self::Contains(s) => value.contains(s.as_str()),
            Self::Regex(r) => r.is_match(value),
        }
    }
}

/// How a rule matches the request path (without the query).
#[derive(Debug, Clone, Deserialize)]
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

/// A condition on one named value (a header, a query parameter, a
/// cookie). Exactly one of `exact`, `prefix`, `suffix`, `contains`,
/// `regex` and `present` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueMatch<N = String> {
    /// The value's name.
    pub name: N,
    /// The value is exactly this.
    #[serde(default)]
    pub exact: Option<String>,
    /// The value starts with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The value ends with this.
    #[serde(default)]
    pub suffix: Option<String>,
    /// The value contains this.
    #[serde(default)]
    pub contains: Option<String>,
    /// A regex matches the whole value.
    #[serde(default)]
    pub regex: Option<Regex>,
    /// The value is present (`true`) or absent (`false`).
    #[serde(default)]
    pub present: Option<bool>,
}

/// A condition on a request header.
pub type HeaderMatch = ValueMatch<HeaderName>;

impl<N> ValueMatch<N> {
    /// Whether a value (`None`: absent) matches.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return self.present == Some(false);
        };
        if let Some(present) = self.present {
            return present;
        }
        self.exact.as_ref().is_none_or(|s| value == s)
            && self
                .prefix
                .as_ref()
                .is_none_or(|s| value.starts_with(s.as_str()))
            && self
                .suffix
                .as_ref()
                .is_none_or(|s| value.ends_with(s.as_str()))
            && self
                .contains
                .as_ref()
                .is_none_or(|s| value.contains(s.as_str()))
            && self.regex.as_ref().is_none_or(|r| r.is_match(value))
    }
}

impl<N> Validate for ValueMatch<N> {
    fn validate(&self) -> Result<(), ConfigError> {
        let set = [
            self.exact.is_some(),
            self.prefix.is_some(),
            self.suffix.is_some(),
            self.contains.is_some(),
            self.regex.is_some(),
            self.present.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err(ConfigError::new(
                "",
                "set exactly one of `exact`, `prefix`, `suffix`, `contains`, `regex` and `present`",
            ));
        }
        Ok(())
    }
}

/// Conditions on a request; all that are set must hold.
#[derive(Debug, Clone, Default, Deserialize)]
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
        validate_each("headers", &self.headers)?;
        validate_each("query", &self.query)?;
        validate_each("cookies", &self.cookies)
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
    fn every_string_match_kind_works() {
        let cases = [
            (r#"{"exact": "a.example"}"#, "a.example", true),
            (r#"{"prefix": "api."}"#, "api.example", true),
            (r#"{"suffix": ".example"}"#, "a.example", true),
            (r#"{"suffix": ".example"}"#, "a.example.org", false),
            (r#"{"contains": "beta"}"#, "x-beta-y", true),
            (r#"{"regex": "[a-z]+\\.example"}"#, "shop.example", true),
            (r#"{"regex": "[a-z]+"}"#, "shop.example", false),
        ];
        for (json, value, expected) in cases {
            let m: StringMatch = serde_json::from_str(json).unwrap();
            assert_eq!(m.matches(value), expected, "{json} on {value}");
        }
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

    #[test]
    fn replacements_use_groups() {
        let r = Regex::try_from("/api/v([0-9])/(.*)".to_owned()).unwrap();
        assert_eq!(
            r.replace("/api/v2/users", "/v$1/${2}").as_deref(),
            Some("/v2/users")
        );
        assert_eq!(r.replace("/other", "/x"), None);
        assert_eq!(r.groups(), 3);
    }
}

#[cfg(test)]
mod props;
