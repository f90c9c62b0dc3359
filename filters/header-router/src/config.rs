//! The header-router filter's configuration.

use crate::template::Template;
use meshwasm_core::config::validate_named;
use meshwasm_core::matcher::{PathMatch, Regex, RequestMatch};
use meshwasm_core::{ConfigError, HeaderName, Validate};
use serde::Deserialize;
use std::collections::HashSet;

/// The header-router filter's JSON configuration.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HeaderRouterConfig {
    /// Rules in order; the first that matches applies, unless it says to
    /// continue.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// What to match, and what to do with a matching request.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Names the rule in stats and logs: 1 to 64 of `a-z`, `0-9`, `-`, `_`.
    pub name: String,
    /// What the request must look like; an empty match takes every request.
    #[serde(default, rename = "match")]
    pub matcher: RequestMatch,
    /// Request headers to set, append and remove.
    #[serde(default)]
    pub request_headers: HeaderActions,
    /// A new path.
    #[serde(default)]
    pub rewrite: Option<Rewrite>,
    /// A weighted split that writes a route header.
    #[serde(default)]
    pub split: Option<Split>,
    /// Response headers to set, append and remove.
    #[serde(default)]
    pub response_headers: HeaderActions,
    /// Answer directly instead of routing.
    #[serde(default)]
    pub respond: Option<Respond>,
    /// Go on to the next rules after this one applies.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

/// Changes to a header map. Values are [templates](crate::template).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HeaderActions {
    /// Headers to set, replacing any values they have.
    #[serde(default)]
    pub set: Vec<HeaderValue>,
    /// Values to add, keeping those there.
    #[serde(default)]
    pub append: Vec<HeaderValue>,
    /// Headers to remove.
    #[serde(default)]
    pub remove: Vec<HeaderName>,
}

/// A header and a value template.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HeaderValue {
    /// The header.
    pub name: HeaderName,
    /// Its value, a template.
    pub value: Template,
}

/// How the path is rewritten; the query string is kept.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Rewrite {
    /// Replaces a leading `from` with `to`.
    Prefix {
        /// The prefix to replace.
        from: String,
        /// What replaces it.
        to: String,
    },
    /// Replaces a whole-path regex match; `$1`, `${name}` name its groups.
    Regex {
        /// The regex.
        pattern: Regex,
        /// The new path.
        replacement: String,
    },
}

/// A weighted split that writes one header; Envoy's route table then sends
/// each value to its cluster.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// The header written; clients' own copies are always removed.
    pub header: HeaderName,
    /// The values and their weights.
    pub targets: Vec<Target>,
    /// What keeps one user on one side; every request is drawn anew when
    /// unset.
    #[serde(default)]
    pub sticky: Option<StickyKey>,
    /// What a request without the sticky key gets.
    #[serde(default)]
    pub fallback: Fallback,
}

/// One side of a split.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The header value.
    pub value: String,
    /// Its share, relative to the others.
    pub weight: u32,
}

/// What a sticky split hashes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StickyKey {
    /// A request header (such as a user id).
    Header(HeaderName),
    /// A cookie.
    Cookie(String),
    /// The connection's source address.
    ClientAddress,
}

/// What a request without the sticky key gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fallback {
    /// A weighted draw, as if unsticky.
    #[default]
    Random,
    /// This target's value.
    Value(String),
}

/// A direct answer.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Respond {
    /// A redirect.
    Redirect {
        /// Where to, a template such as `https://{host}{path}`.
        location: Template,
        /// 301, 302, 303, 307 or 308.
        #[serde(default = "found")]
        status: u16,
    },
    /// A fixed answer.
    Direct {
        /// The status, 200 to 599.
        status: u16,
        /// The body.
        #[serde(default)]
        body: String,
        /// Its content type.
        #[serde(default = "text_plain")]
        content_type: String,
    },
}

fn found() -> u16 {
    302
}

fn text_plain() -> String {
    "text/plain".to_owned()
}

impl Validate for HeaderRouterConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        validate_named("rules", &self.rules, |r| &r.name)
    }
}

impl Rule {
    /// Every template the rule renders.
    fn templates(&self) -> impl Iterator<Item = &Template> {
        let location = match &self.respond {
            Some(Respond::Redirect { location, .. }) => Some(location),
            _ => None,
        };
        self.request_headers
            .values()
            .chain(self.response_headers.values())
            .chain(location)
    }
}

impl Validate for Rule {
    fn validate(&self) -> Result<(), ConfigError> {
        meshwasm_core::config::check_rule_name(&self.name)?;
        self.matcher.validate().map_err(|e| e.within("match"))?;
        let groups = match &self.matcher.path {
            Some(PathMatch::Regex(r)) => r.groups(),
            _ => 1,
        };
        if let Some(n) = self.templates().filter_map(Template::max_capture).max() {
            if n >= groups {
                return Err(ConfigError::new(
                    "match.path",
                    format!(
                        "a template uses `{{path.{n}}}`, but the path regex has {} group(s)",
                        groups - 1
                    ),
                ));
            }
        }
        let nothing = self.request_headers.is_empty()
            && self.response_headers.is_empty()
            && self.rewrite.is_none()
            && self.split.is_none()
            && self.respond.is_none();
        if nothing {
            return Err(ConfigError::new("", "a rule must do something"));
        }
        if let Some(Rewrite::Prefix { from, to }) = &self.rewrite {
            if !from.starts_with('/') || !to.starts_with('/') {
                return Err(ConfigError::new(
                    "rewrite.prefix",
                    "`from` and `to` must start with `/`",
                ));
            }
        }
        if let Some(split) = &self.split {
            split.validate().map_err(|e| e.within("split"))?;
        }
        if let Some(respond) = &self.respond {
            respond.validate().map_err(|e| e.within("respond"))?;
        }
        Ok(())
    }
}

impl HeaderActions {
    fn values(&self) -> impl Iterator<Item = &Template> {
        self.set.iter().chain(&self.append).map(|h| &h.value)
    }

    fn is_empty(&self) -> bool {
        self.set.is_empty() && self.append.is_empty() && self.remove.is_empty()
    }
}

impl Validate for Split {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.targets.is_empty() {
            return Err(ConfigError::new("targets", "must name at least one target"));
        }
        let mut values = HashSet::new();
        for (i, target) in self.targets.iter().enumerate() {
            let bad = target.value.is_empty() || target.value.chars().any(char::is_control);
            if bad || !values.insert(target.value.as_str()) {
                return Err(ConfigError::new(
                    format!("targets[{i}].value"),
                    "must be a non-empty header value, different from the others",
                ));
            }
        }
        if self.targets.iter().all(|t| t.weight == 0) {
            return Err(ConfigError::new(
                "targets",
                "at least one weight must be above 0",
            ));
        }
        if let Fallback::Value(v) = &self.fallback {
            if !values.contains(v.as_str()) {
                return Err(ConfigError::new(
                    "fallback.value",
                    format!("`{v}` is not a target"),
                ));
            }
        }
        Ok(())
    }
}

impl Validate for Respond {
    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::Redirect { status, .. } if ![301, 302, 303, 307, 308].contains(status) => Err(
                ConfigError::new("redirect.status", "must be 301, 302, 303, 307 or 308"),
            ),
            Self::Direct { status, .. } if !(200..=599).contains(status) => {
                Err(ConfigError::new("direct.status", "must be 200 to 599"))
            }
            Self::Direct { content_type, .. } if content_type.chars().any(char::is_control) => Err(
                ConfigError::new("direct.content_type", "must not contain control characters"),
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::config::parse;

    const FULL: &str = r#"{"rules": [{
        "name": "beta-users",
        "match": {"path": {"regex": "/api/v1/(.*)"}, "methods": ["GET"], "host": {"suffix": ".example"},
                  "headers": [{"name": "x-beta", "present": true}], "query": [{"name": "q", "exact": "1"}],
                  "cookies": [{"name": "group", "prefix": "b"}]},
        "request_headers": {"set": [{"name": "x-user", "value": "{cookie.uid}"}],
                            "append": [{"name": "x-trace", "value": "router"}],
                            "remove": ["x-debug"]},
        "rewrite": {"regex": {"pattern": "/api/v1/(.*)", "replacement": "/v2/$1"}},
        "split": {"header": "x-route-version", "sticky": {"cookie": "uid"}, "fallback": {"value": "v1"},
                  "targets": [{"value": "v1", "weight": 90}, {"value": "v2", "weight": 10}]},
        "response_headers": {"set": [{"name": "x-served-by", "value": "{path.1}"}]},
        "continue": true
    }]}"#;

    #[test]
    fn a_full_config_parses() {
        let config: HeaderRouterConfig = parse(FULL.as_bytes()).unwrap();
        let rule = &config.rules[0];
        assert!(rule.continue_matching);
        assert_eq!(
            rule.split.as_ref().unwrap().sticky,
            Some(StickyKey::Cookie("uid".into()))
        );
        assert!(matches!(rule.rewrite, Some(Rewrite::Regex { .. })));
    }

    #[test]
    fn bad_fields_are_named() {
        let rule = |extra: &str| format!(r#"{{"rules": [{{"name": "r", {extra}}}]}}"#);
        let cases = [
            (
                rule(r#""respond": {"direct": {"status": 200}}, "match": {"methods": ["get"]}"#),
                "rules[0].match.methods[0]",
            ),
            (
                rule(r#""request_headers": {"set": [{"name": "x", "value": "{nope}"}]}"#),
                "rules[0].request_headers.set[0].value",
            ),
            (
                rule(r#""request_headers": {"set": [{"name": "x", "value": "{path.1}"}]}"#),
                "rules[0].match.path",
            ),
            (
                rule(r#""split": {"header": "x", "targets": []}"#),
                "rules[0].split.targets",
            ),
            (
                rule(r#""split": {"header": "x", "targets": [{"value": "a", "weight": 0}]}"#),
                "rules[0].split.targets",
            ),
            (
                rule(
                    r#""split": {"header": "x", "targets": [{"value": "a", "weight": 1}, {"value": "a", "weight": 1}]}"#,
                ),
                "rules[0].split.targets[1].value",
            ),
            (
                rule(
                    r#""split": {"header": "x", "fallback": {"value": "c"}, "targets": [{"value": "a", "weight": 1}]}"#,
                ),
                "rules[0].split.fallback.value",
            ),
            (
                rule(r#""respond": {"redirect": {"location": "/x", "status": 200}}"#),
                "rules[0].respond.redirect.status",
            ),
            (
                rule(r#""respond": {"direct": {"status": 99}}"#),
                "rules[0].respond.direct.status",
            ),
            (
                rule(r#""rewrite": {"prefix": {"from": "api", "to": "/"}}"#),
                "rules[0].rewrite.prefix",
            ),
            (
                rule(r#""rewrite": {"regex": {"pattern": "(", "replacement": "/"}}"#),
                "rules[0].rewrite.regex.pattern",
            ),
            (rule(r#""continue": true"#), "rules[0]"),
            (
                r#"{"rules": [{"name": "Bad Name", "respond": {"direct": {"status": 204}}}]}"#
                    .to_owned(),
                "rules[0].name",
            ),
        ];
        for (json, field) in cases {
            let err = parse::<HeaderRouterConfig>(json.as_bytes()).unwrap_err();
            assert_eq!(err.field(), field, "{json}: {err}");
        }
    }
}

#[cfg(test)]
mod props;
