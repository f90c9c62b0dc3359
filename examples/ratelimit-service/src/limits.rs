//! The limits file: limitador's own format, as Limitador server reads it.
//!
//! A YAML list of limits, each `{namespace, max_value, seconds, conditions,
//! variables, name, id}`. Conditions and variables are CEL over the request's
//! descriptors, bound as `descriptors` (a list of maps, one per descriptor, key
//! → value): `descriptors[0].tenant == 'acme'`, `descriptors[0].tenant`.
//!
//! Checked more strictly than Limitador server does (which reads the same file
//! into `Vec<limitador::limit::Limit>`): unknown fields, a missing `max_value`
//! (limitador would take 0), `seconds: 0`, an empty namespace, and two limits
//! that limitador would take for the same one are all refused, with the path of
//! the field at fault.

use limitador::limit::{Expression, Limit, Predicate};
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One limit as the file spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitSpec {
    #[serde(default)]
    id: Option<String>,
    namespace: String,
    max_value: u64,
    seconds: u64,
    #[serde(default, deserialize_with = "null_as_empty")]
    conditions: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    variables: Vec<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Limitador's examples write `conditions:` with nothing after it for "none".
fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// A limits file that cannot be used, and why.
#[derive(Debug)]
pub struct LimitsError(String);

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitsError {}

/// The limits of a file, checked and turned into limitador's.
#[derive(Debug)]
pub struct Limits {
    /// Every limit, for `AsyncRateLimiter::add_limit`.
    pub limits: Vec<Limit>,
    /// Per namespace, how many descriptors its limits name by a literal index
    /// (`descriptors[2]` → 3): requests with fewer are padded with empty
    /// descriptors, so that such a limit does not apply instead of failing the
    /// CEL evaluation on an index out of bounds.
    pub descriptors_needed: BTreeMap<String, usize>,
}

/// Reads and checks a limits file.
pub fn load(path: &str) -> Result<Limits, LimitsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LimitsError(format!("cannot read limits file {path}: {e}")))?;
    parse(&text).map_err(|LimitsError(e)| LimitsError(format!("limits file {path}: {e}")))
}

/// Parses and checks the text of a limits file.
pub fn parse(text: &str) -> Result<Limits, LimitsError> {
    let specs: Vec<LimitSpec> = serde_path_to_error::deserialize(
        serde_yaml::Deserializer::from_str(text),
    )
    .map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            LimitsError(format!("not a list of limits: {inner}"))
        } else {
            LimitsError(format!("limits{path}: {inner}"))
        }
    })?;

    let mut limits = Vec::with_capacity(specs.len());
    let mut descriptors_needed: BTreeMap<String, usize> = BTreeMap::new();
    // limitador keys a limit by (namespace, seconds, conditions, variables):
    // a second limit with the same key would silently replace the first.
    let mut seen: BTreeMap<(String, u64, BTreeSet<String>, BTreeSet<String>), usize> =
        BTreeMap::new();

    for (i, spec) in specs.into_iter().enumerate() {
        let at = format!("limits[{i}]");
        if spec.namespace.is_empty() {
            return Err(LimitsError(format!(
                "{at}.namespace: must not be empty (it is the RLS request's domain)"
            )));
        }
        if spec.seconds == 0 {
            return Err(LimitsError(format!(
                "{at}.seconds: must be at least 1 (the counter's window)"
            )));
        }
        let mut conditions = Vec::with_capacity(spec.conditions.len());
        for (j, source) in spec.conditions.iter().enumerate() {
            let predicate = Predicate::parse(source)
                .map_err(|e| LimitsError(format!("{at}.conditions[{j}]: {e}")))?;
            conditions.push(predicate);
        }
        let mut variables = Vec::with_capacity(spec.variables.len());
        for (j, source) in spec.variables.iter().enumerate() {
            let expression = Expression::parse(source)
                .map_err(|e| LimitsError(format!("{at}.variables[{j}]: {e}")))?;
            variables.push(expression);
        }

        let key = (
            spec.namespace.clone(),
            spec.seconds,
            spec.conditions.iter().cloned().collect::<BTreeSet<_>>(),
            spec.variables.iter().cloned().collect::<BTreeSet<_>>(),
        );
        if let Some(first) = seen.insert(key, i) {
            return Err(LimitsError(format!(
                "{at}: same namespace, seconds, conditions and variables as limits[{first}]; \
                 limitador would keep only one of them"
            )));
        }

        let needed = spec
            .conditions
            .iter()
            .chain(spec.variables.iter())
            .flat_map(|source| descriptor_indices(source))
            .map(|index| index.saturating_add(1))
            .max()
            .unwrap_or(0);
        let entry = descriptors_needed
            .entry(spec.namespace.clone())
            .or_insert(0);
        *entry = (*entry).max(needed);

        let mut limit = match spec.id {
            Some(id) => Limit::with_id(
                id,
                spec.namespace,
                spec.max_value,
                spec.seconds,
                conditions,
                variables,
            ),
            None => Limit::new(
                spec.namespace,
                spec.max_value,
                spec.seconds,
                conditions,
                variables,
            ),
        };
        if let Some(name) = spec.name {
            limit.set_name(name);
        }
        limits.push(limit);
    }

    Ok(Limits {
        limits,
        descriptors_needed,
    })
}

/// The literal indices `N` of `descriptors[N]` in a CEL expression's source.
///
/// A plain scan, not a CEL parse: an index computed at run time, or
/// `descriptors` inside a string literal, is not told apart. It serves two
/// things that tolerate that: padding short requests (see
/// [`Limits::descriptors_needed`]) and telling which request descriptor a
/// limit's status belongs to (a limit that names none belongs to all).
pub fn descriptor_indices(source: &str) -> Vec<usize> {
    const WORD: &str = "descriptors";
    let mut found = Vec::new();
    let mut rest = source;
    let mut before: Option<char> = None;
    while let Some(at) = rest.find(WORD) {
        let (head, tail) = rest.split_at(at);
        let prev = head.chars().next_back().or(before);
        let after = tail.get(WORD.len()..).unwrap_or("");
        let is_word = !prev.is_some_and(is_ident_char);
        if is_word {
            if let Some(index) = literal_index(after) {
                found.push(index);
            }
        }
        before = Some('s');
        rest = after;
    }
    found
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// `[ 12 ]` at the start of `s` (after optional spaces) → 12.
fn literal_index(s: &str) -> Option<usize> {
    let s = s.trim_start().strip_prefix('[')?.trim_start();
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let s = s.get(digits.len()..)?.trim_start();
    if digits.is_empty() || !s.starts_with(']') {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_limitadors_format() {
        let limits = parse(
            r#"
- namespace: meshwasm
  max_value: 100
  seconds: 60
  conditions:
    - "descriptors[0].tenant == 'acme'"
  variables:
    - descriptors[0].user
  name: per-user
- namespace: meshwasm
  max_value: 5
  seconds: 1
  conditions:
  variables:
- id: x
  namespace: other
  max_value: 1
  seconds: 86400
"#,
        )
        .unwrap();
        assert_eq!(limits.limits.len(), 3);
        let first = &limits.limits[0];
        assert_eq!(first.namespace().as_ref(), "meshwasm");
        assert_eq!(first.max_value(), 100);
        assert_eq!(first.seconds(), 60);
        assert_eq!(first.name(), Some("per-user"));
        assert!(first
            .conditions()
            .contains("descriptors[0].tenant == 'acme'"));
        assert!(first.variables().contains("descriptors[0].user"));
        assert!(limits.limits[1].conditions().is_empty());
        assert_eq!(limits.limits[2].id(), Some("x"));
        assert_eq!(limits.descriptors_needed["meshwasm"], 1);
        assert_eq!(limits.descriptors_needed["other"], 0);
    }

    #[test]
    fn the_example_file_is_valid() {
        let limits = parse(include_str!("../limits.yaml")).unwrap();
        assert_eq!(limits.limits.len(), 3);
        assert_eq!(limits.descriptors_needed["meshwasm"], 1);
    }

    #[test]
    fn an_empty_list_is_no_limits() {
        assert!(parse("[]").unwrap().limits.is_empty());
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn refuses_what_limitador_would_take_silently() {
        let e = error("- {namespace: a, seconds: 1}");
        assert!(e.contains("limits[0]") && e.contains("max_value"), "{e}");
        let e = error("- {namespace: a, max_value: 1, seconds: 1, condition: []}");
        assert!(e.contains("unknown field `condition`"), "{e}");
        let e = error("- {namespace: a, max_value: 1, seconds: 0}");
        assert!(e.starts_with("limits[0].seconds"), "{e}");
        let e = error("- {namespace: '', max_value: 1, seconds: 1}");
        assert!(e.starts_with("limits[0].namespace"), "{e}");
        let e = error(
            "- {namespace: a, max_value: 1, seconds: 1, variables: [\"descriptors[0].x\"]}\n\
             - {namespace: a, max_value: 9, seconds: 1, variables: [\"descriptors[0].x\"]}",
        );
        assert!(e.contains("limits[1]") && e.contains("limits[0]"), "{e}");
        let e = error("- {namespace: a, max_value: -1, seconds: 1}");
        assert!(e.contains("limits[0].max_value"), "{e}");
        let e = error("namespace: a");
        assert!(e.starts_with("not a list of limits"), "{e}");
    }

    #[test]
    fn refuses_cel_that_does_not_parse() {
        let e = error("- {namespace: a, max_value: 1, seconds: 1, conditions: [\"x ==\"]}");
        assert!(e.starts_with("limits[0].conditions[0]"), "{e}");
        let e = error("- {namespace: a, max_value: 1, seconds: 1, variables: [\"(\"]}");
        assert!(e.starts_with("limits[0].variables[0]"), "{e}");
    }

    #[test]
    fn finds_literal_descriptor_indices() {
        assert_eq!(descriptor_indices("descriptors[0].tenant"), vec![0]);
        assert_eq!(
            descriptor_indices("descriptors[0]['a'] == '1' && descriptors [ 12 ].b == 'x'"),
            vec![0, 12]
        );
        assert!(descriptor_indices("my_descriptors[1].x").is_empty());
        assert!(descriptor_indices("a.descriptors[1].x").is_empty());
        assert!(descriptor_indices("descriptors[i].x").is_empty());
        assert!(descriptor_indices("descriptors.exists(d, d.x == '1')").is_empty());
        assert!(descriptor_indices("size(descriptors) > 1").is_empty());
        assert!(descriptor_indices("descriptors[").is_empty());
    }
}
