//! Matching a string (the host, say) by one condition.

use super::Regex;
use serde::Deserialize;

/// How a string is matched.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
