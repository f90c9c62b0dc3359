//! Parsing and validating a filter's JSON configuration.
//!
//! Envoy hands the plugin its `configuration` as bytes (a `StringValue`
//! holding JSON; Istio renders `pluginConfig` into the same JSON). It is
//! parsed once, in `on_configure`, into typed structs that reject unknown
//! fields, checked as a whole by [`Validate`], then compiled into the
//! filter's runtime form by `Filter::new` (the only step that parses or
//! decodes a value). Every error, from either step, names the field at
//! fault by its path, e.g. `rules[1].limit.requests`.

use serde::de::DeserializeOwned;
use std::fmt;

pub mod checked;
mod field_path;

/// The largest configuration accepted, in bytes.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// A configuration that was refused: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: String,
    reason: String,
}

impl ConfigError {
    /// An error at `field` (a path such as `rules[0].name`; empty for the
    /// document as a whole).
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Moves the error under `parent`: `name` at `rules[2]` becomes
    /// `rules[2].name`.
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.field = match (parent.is_empty(), self.field.is_empty()) {
            (true, _) => self.field,
            (false, true) => parent.to_owned(),
            (false, false) if self.field.starts_with('[') => format!("{parent}{}", self.field),
            (false, false) => format!("{parent}.{}", self.field),
        };
        self
    }

    /// The path of the offending field; empty for the document itself.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Why the field was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid configuration: {}", self.reason)
        } else {
            write!(
                f,
                "invalid configuration: field `{}`: {}",
                self.field, self.reason
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Checks that a parsed configuration makes sense as a whole: what types
/// alone cannot say (unique names, ranges that depend on other fields).
pub trait Validate {
    /// Returns the first problem found, naming its field.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Validates each item of a list, naming a failing item by its index under
/// `field` (`rules[2].name`).
pub fn validate_each<T: Validate>(field: &str, items: &[T]) -> Result<(), ConfigError> {
    items.iter().enumerate().try_for_each(|(i, item)| {
        item.validate()
            .map_err(|e| e.within(&format!("{field}[{i}]")))
    })
}

/// Builds the runtime form of each item of a list (the compile step that
/// follows [`Validate`]): `compile` reports paths relative to its item, and a
/// failing item is named by its index under `field`, as [`validate_each`]
/// names it.
pub fn compile_each<T, U>(
    field: &str,
    items: &[T],
    compile: impl FnMut(&T) -> Result<U, ConfigError>,
) -> Result<Vec<U>, ConfigError> {
    items
        .iter()
        .map(compile)
        .enumerate()
        .map(|(i, built)| built.map_err(|e| e.within(&format!("{field}[{i}]"))))
        .collect()
}

/// Builds the runtime form of an optional section (the compile step that
/// follows [`Validate`]): `compile` reports paths relative to the section,
/// which are named under `field` (`jwt.providers[0]`).
pub fn compile_section<T, U>(
    field: &str,
    section: Option<T>,
    compile: impl FnOnce(T) -> Result<U, ConfigError>,
) -> Result<Option<U>, ConfigError> {
    section
        .map(|s| compile(s).map_err(|e| e.within(field)))
        .transpose()
}

/// Validates each item of a list, as [`validate_each`], and checks that no
/// two items share a name (rules are named in stats and logs).
pub fn validate_named<T: Validate>(
    field: &str,
    items: &[T],
    name: impl Fn(&T) -> &str,
) -> Result<(), ConfigError> {
    validate_each(field, items)?;
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let name = name(item);
        if !seen.insert(name) {
            return Err(ConfigError::new(
                format!("{field}[{i}].name"),
                format!("`{name}` names another item already"),
            ));
        }
    }
    Ok(())
}

/// Checks a rule name, which names the rule in stats (as a label value),
/// headers and logs: 1 to 64 of `a-z`, `0-9`, `-` and `_`. An error names
/// the field `name`.
pub fn check_rule_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            "name",
            "must be 1 to 64 of lowercase letters, digits, `-` and `_`",
        ))
    }
}

/// Parses and validates a configuration. Empty input (no `configuration`
/// given) reads as `{}`, so a filter whose fields all have defaults runs
/// without one.
pub fn parse<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ConfigError> {
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::new(
            "",
            format!(
                "{} bytes is larger than the {MAX_CONFIG_BYTES} bytes allowed",
                bytes.len()
            ),
        ));
    }
    let text = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}".as_slice(),
        Some(b'{') => bytes,
        Some(_) => return Err(ConfigError::new("", "must be a JSON object")),
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    let config = T::deserialize(&mut de)
        .map_err(|e| ConfigError::new(field_path::of(text, &e), e.to_string()))?;
    de.end()
        .map_err(|e| ConfigError::new("", format!("trailing characters: {e}")))?;
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Limit {
        requests: u32,
    }

    impl Validate for Limit {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.requests == 0 {
                return Err(ConfigError::new("requests", "must be at least 1"));
            }
            Ok(())
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Root {
        #[serde(default)]
        limits: Vec<Limit>,
    }

    impl Validate for Root {
        fn validate(&self) -> Result<(), ConfigError> {
            validate_each("limits", &self.limits)
        }
    }

    #[derive(Debug, Deserialize)]
    struct Named {
        name: String,
        limit: Limit,
    }

    impl Validate for Named {
        fn validate(&self) -> Result<(), ConfigError> {
            self.limit.validate().map_err(|e| e.within("limit"))
        }
    }

    #[test]
    fn rule_names_are_label_safe() {
        assert_eq!(check_rule_name("per-client_2"), Ok(()));
        for bad in ["", "Upper", "a b", "a.b", &"a".repeat(65)] {
            assert_eq!(check_rule_name(bad).unwrap_err().field(), "name", "{bad:?}");
        }
    }

    #[test]
    fn named_items_are_validated_and_unique() {
        let items: Vec<Named> = serde_json::from_str(
            r#"[{"name": "a", "limit": {"requests": 1}}, {"name": "a", "limit": {"requests": 1}}]"#,
        )
        .unwrap();
        let err = validate_named("rules", &items, |n| &n.name).unwrap_err();
        assert_eq!(err.field(), "rules[1].name");
        let err = validate_named("rules", &items[..1], |n| &n.name);
        assert_eq!(err, Ok(()));
        let bad: Vec<Named> =
            serde_json::from_str(r#"[{"name": "b", "limit": {"requests": 0}}]"#).unwrap();
        let err = validate_named("rules", &bad, |n| &n.name).unwrap_err();
        assert_eq!(err.field(), "rules[0].limit.requests");
    }

    #[test]
    fn empty_input_reads_as_an_empty_object() {
        let root: Root = parse(b"  ").unwrap();
        assert!(root.limits.is_empty());
    }

    #[test]
    fn type_errors_name_the_nested_field() {
        let err =
            parse::<Root>(br#"{"limits": [{"requests": 1}, {"requests": "x"}]}"#).unwrap_err();
        assert_eq!(err.field(), "limits[1].requests");
        assert!(err.reason().contains("invalid type"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err = parse::<Root>(br#"{"limits": [{"requests": 1, "burst": 2}]}"#).unwrap_err();
        assert_eq!(err.field(), "limits[0].burst");
        assert!(err.reason().contains("unknown field `burst`"), "{err}");
        let err = parse::<Root>(br#"{"limit": []}"#).unwrap_err();
        assert!(err.reason().contains("unknown field `limit`"), "{err}");
    }

    #[test]
    fn validation_errors_name_the_item() {
        let err = parse::<Root>(br#"{"limits": [{"requests": 1}, {"requests": 0}]}"#).unwrap_err();
        assert_eq!(err.field(), "limits[1].requests");
        assert_eq!(
            err.to_string(),
            "invalid configuration: field `limits[1].requests`: must be at least 1"
        );
    }

    #[test]
    fn malformed_and_oversized_documents_are_refused() {
        assert!(parse::<Root>(b"{").is_err());
        assert!(parse::<Root>(b"{} {}").is_err());
        assert!(parse::<Root>(b"[]").is_err());
        let big = vec![b' '; MAX_CONFIG_BYTES + 1];
        let err = parse::<Root>(&big).unwrap_err();
        assert!(err.reason().contains("larger than"), "{err}");
    }
}
