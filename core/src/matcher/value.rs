//! Conditions on one named value: a header, a query parameter, a cookie.

use super::Regex;
use serde::Deserialize;

/// A condition on one named value (a header, a query parameter, a
/// cookie). In a configuration: `name` and exactly one of `exact`,
/// `prefix`, `suffix`, `contains`, `regex` and `present`.
#[derive(Debug, Clone)]
pub struct ValueMatch<N = String> {
    /// The value's name.
    pub name: N,
    /// What the value must be.
    pub condition: Condition,
}

/// What a named value must be.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Exactly this.
    Exact(String),
    /// Starts with this.
    Prefix(String),
    /// Ends with this.
    Suffix(String),
    /// Contains this.
    Contains(String),
    /// A regex matches the whole value.
    Regex(Regex),
    /// Present (`true`) or absent (`false`).
    Present(bool),
}

/// A condition on one named value: `name` and exactly one of `exact`,
/// `prefix`, `suffix`, `contains`, `regex` (matching the whole value) and
/// `present`.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(extend("minProperties" = 2, "maxProperties" = 2))
)]
#[serde(deny_unknown_fields)]
struct Written<N> {
    /// The value's name.
    name: N,
    #[serde(default)]
    exact: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    suffix: Option<String>,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    regex: Option<Regex>,
    #[serde(default)]
    present: Option<bool>,
}

/// A condition's schema is the one it is written in.
#[cfg(feature = "schema")]
impl<N: schemars::JsonSchema> schemars::JsonSchema for ValueMatch<N> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("ValueMatch_for_{}", N::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Written::<N>::json_schema(generator)
    }
}

impl<'de, N: Deserialize<'de>> Deserialize<'de> for ValueMatch<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::config::checked::object::<_, Written<N>, _>(d, "Written")
    }
}

impl<N> TryFrom<Written<N>> for ValueMatch<N> {
    type Error = &'static str;

    fn try_from(written: Written<N>) -> Result<Self, Self::Error> {
        let mut set = [
            written.exact.map(Condition::Exact),
            written.prefix.map(Condition::Prefix),
            written.suffix.map(Condition::Suffix),
            written.contains.map(Condition::Contains),
            written.regex.map(Condition::Regex),
            written.present.map(Condition::Present),
        ]
        .into_iter()
        .flatten();
        match (set.next(), set.next()) {
            (Some(condition), None) => Ok(Self {
                name: written.name,
                condition,
            }),
            _ => Err(
                "set exactly one of `exact`, `prefix`, `suffix`, `contains`, `regex` and `present`",
            ),
        }
    }
}

impl<N> ValueMatch<N> {
    /// Whether a value (`None`: absent) matches.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match (&self.condition, value) {
            (Condition::Present(present), value) => *present == value.is_some(),
            (_, None) => false,
            (Condition::Exact(s), Some(v)) => v == s,
            (Condition::Prefix(s), Some(v)) => v.starts_with(s.as_str()),
            (Condition::Suffix(s), Some(v)) => v.ends_with(s.as_str()),
            (Condition::Contains(s), Some(v)) => v.contains(s.as_str()),
            (Condition::Regex(r), Some(v)) => r.is_match(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(json: &str) -> ValueMatch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_condition_matches_as_it_says() {
        let cases = [
            (r#"{"name": "x", "exact": "a"}"#, Some("a"), true),
            (r#"{"name": "x", "exact": "a"}"#, Some("ab"), false),
            (r#"{"name": "x", "prefix": "a"}"#, Some("ab"), true),
            (r#"{"name": "x", "suffix": "b"}"#, Some("ab"), true),
            (r#"{"name": "x", "contains": "b"}"#, Some("abc"), true),
            (r#"{"name": "x", "regex": "a.c"}"#, Some("abc"), true),
            (r#"{"name": "x", "regex": "a.c"}"#, Some("abcd"), false),
            (r#"{"name": "x", "present": true}"#, Some(""), true),
            (r#"{"name": "x", "present": true}"#, None, false),
            (r#"{"name": "x", "present": false}"#, None, true),
            (r#"{"name": "x", "present": false}"#, Some("a"), false),
            (r#"{"name": "x", "exact": ""}"#, None, false),
        ];
        for (json, value, expected) in cases {
            assert_eq!(
                condition(json).matches(value),
                expected,
                "{json} on {value:?}"
            );
        }
    }

    #[test]
    fn exactly_one_condition_is_set() {
        for json in [
            r#"{"name": "x"}"#,
            r#"{"name": "x", "exact": "a", "present": true}"#,
        ] {
            let err = serde_json::from_str::<ValueMatch>(json).unwrap_err();
            assert!(err.to_string().contains("set exactly one"), "{json}: {err}");
        }
    }
}
