//! The header-router filter's configuration.

use meshwasm_core::matcher::RequestMatch;
use meshwasm_core::{ConfigError, HeaderName, Validate};
use serde::Deserialize;

/// The header-router filter's JSON configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRouterConfig {
    /// Rules in order; the first that matches applies, unless it says to
    /// continue.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// What to match and what to do with a matching request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Names the rule in stats and logs.
    pub name: String,
    /// What the request must look like; an empty match takes every request.
    #[serde(default, rename = "match")]
    pub matcher: RequestMatch,
    /// Request headers to set, replacing any value the request has.
    #[serde(default)]
    pub set_request_headers: Vec<Header>,
    /// Request headers to remove.
    #[serde(default)]
    pub remove_request_headers: Vec<HeaderName>,
    /// Go on to the next rules after this one applies.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

/// A header to write.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Its name.
    pub name: HeaderName,
    /// Its value: no CR, LF or NUL.
    pub value: String,
}

impl Validate for HeaderRouterConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        meshwasm_core::config::validate_named("rules", &self.rules, |r| &r.name)
    }
}

impl Validate for Rule {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        self.matcher.validate().map_err(|e| e.within("match"))?;
        meshwasm_core::config::validate_each("set_request_headers", &self.set_request_headers)
    }
}

impl Validate for Header {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.value.contains(['\r', '\n', '\0']) {
            return Err(ConfigError::new("value", "must not contain CR, LF or NUL"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::config::parse;

    #[test]
    fn a_full_config_parses() {
        let config: HeaderRouterConfig = parse(
            br#"{"rules": [{
                "name": "beta-users",
                "match": {"path": {"prefix": "/api/"}, "methods": ["GET", "POST"]},
                "set_request_headers": [{"name": "x-route-version", "value": "v2"}],
                "remove_request_headers": ["x-debug"],
                "continue": true
            }]}"#,
        )
        .unwrap();
        let rule = &config.rules[0];
        assert!(rule.matcher.matches("GET", "/api/x", |_| None));
        assert!(rule.continue_matching);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (r#"{"rules": [{"name": ""}]}"#, "rules[0].name"),
            (
                r#"{"rules": [{"name": "a", "match": {"path": {"prefix": "api"}}}]}"#,
                "rules[0].match.path",
            ),
            (
                r#"{"rules": [{"name": "a", "match": {"path": {"suffix": "/"}}}]}"#,
                "rules[0].match.path",
            ),
            (
                r#"{"rules": [{"name": "a", "match": {"methods": ["get"]}}]}"#,
                "rules[0].match.methods[0]",
            ),
            (
                r#"{"rules": [{"name": "a", "set_request_headers": [{"name": "x", "value": "a\r\nb"}]}]}"#,
                "rules[0].set_request_headers[0].value",
            ),
            (
                r#"{"rules": [{"name": "a"}, {"name": "a"}]}"#,
                "rules[1].name",
            ),
        ];
        for (json, field) in cases {
            let err = parse::<HeaderRouterConfig>(json.as_bytes()).unwrap_err();
            assert_eq!(err.field(), field, "{json}: {err}");
        }
    }
}
