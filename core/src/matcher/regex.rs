//! Regexes from a configuration: compiled once, when it is read, with a
//! linear-time engine and a size limit, matching whole values.

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
        crate::config::checked::string(d)
    }
}

/// A regex is written as a string in the `regex-lite` syntax; it matches
/// the whole value.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Regex {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Regex".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "regex",
            "description": "A regular expression (regex-lite syntax, linear time) that must match the whole value."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
