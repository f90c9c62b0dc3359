//! Configuration documents taken apart and put back wrong, for property
//! tests of configuration parsing: every value's path, and the document
//! with one value dropped, repeated, replaced, or joined by a field no
//! configuration has.
//!
//! Paths are written as [`ConfigError::field`](crate::ConfigError::field)
//! names fields: `rules[0].limit.requests`; the document itself is `""`.

use serde_json::Value;

/// The member [`Mutation::AddUnknown`] adds: a field no configuration has.
pub const UNKNOWN_FIELD: &str = "zz_unknown";

/// What is done to the value at one path.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// Left out: a member of its object, an item of its array.
    Drop,
    /// Written twice: a member under the same key (a duplicate key), an
    /// item twice in a row.
    Duplicate,
    /// Replaced by this value.
    Replace(Value),
    /// The object at the path gets one more member, [`UNKNOWN_FIELD`].
    AddUnknown,
}

/// How many cases a property test runs: `PROPTEST_CASES` when it is set
/// (`make fuzz` sets it high), `default` otherwise.
pub fn prop_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The path of `key` under `parent`.
fn member(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The path of item `index` under `parent`.
fn item(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// Every value's path in `doc`, the document itself first (`""`), parents
/// before their children.
pub fn paths(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(doc, String::new(), &mut |path, _| out.push(path.to_owned()));
    out
}

/// Every object's path in `doc`, the document itself first.
pub fn object_paths(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(doc, String::new(), &mut |path, value| {
        if value.is_object() {
            out.push(path.to_owned());
        }
    });
    out
}

/// The value at `path`, if there is one.
pub fn at<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    find(doc, "", path)
}

fn find<'v>(value: &'v Value, here: &str, path: &str) -> Option<&'v Value> {
    if here == path {
        return Some(value);
    }
    match value {
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| find(v, &member(here, k), path)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find(v, &item(here, i), path)),
        _ => None,
    }
}

fn walk(value: &Value, path: String, visit: &mut dyn FnMut(&str, &Value)) {
    visit(&path, value);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                walk(v, member(&path, k), visit);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, item(&path, i), visit);
            }
        }
        _ => {}
    }
}

/// `doc` as JSON text with `mutation` applied at `path` (dropping or
/// repeating the document itself leaves it as it is).
pub fn render(doc: &Value, path: &str, mutation: &Mutation) -> String {
    let mut out = String::new();
    write(doc, "", path, mutation, &mut out);
    out
}

fn write(value: &Value, here: &str, target: &str, mutation: &Mutation, out: &mut String) {
    if here == target {
        if let Mutation::Replace(other) = mutation {
            out.push_str(&other.to_string());
            return;
        }
    }
    match value {
        Value::Object(map) => {
            out.push('{');
            let mut first = true;
            let mut sep = |out: &mut String| {
                if !std::mem::take(&mut first) {
                    out.push(',');
                }
            };
            for (k, v) in map {
                let path = member(here, k);
                let times = match mutation {
                    Mutation::Drop if path == target => 0,
                    Mutation::Duplicate if path == target => 2,
                    _ => 1,
                };
                for _ in 0..times {
                    sep(out);
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, &path, target, mutation, out);
                }
            }
            if here == target && *mutation == Mutation::AddUnknown {
                sep(out);
                out.push_str(&format!("\"{UNKNOWN_FIELD}\":1"));
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            let mut first = true;
            for (i, v) in items.iter().enumerate() {
                let path = item(here, i);
                let times = match mutation {
                    Mutation::Drop if path == target => 0,
                    Mutation::Duplicate if path == target => 2,
                    _ => 1,
                };
                for _ in 0..times {
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    write(v, &path, target, mutation, out);
                }
            }
            out.push(']');
        }
        leaf => out.push_str(&leaf.to_string()),
    }
}

/// A value of another JSON kind than `value` that no typed field of
/// `value`'s kind accepts; `choice` picks one of several. Never `null`
/// (an optional field takes it) and never an array in place of an object
/// (serde reads a struct from an array too).
pub fn retyped(value: &Value, choice: usize) -> Value {
    let number = Value::from(7);
    let text = Value::from("zz~");
    let flag = Value::Bool(true);
    let list = Value::Array(Vec::new());
    let object = Value::Object(serde_json::Map::new());
    let options = match value {
        Value::Object(_) => vec![number, text, flag],
        Value::Array(_) => vec![number, text, flag, object],
        Value::String(_) => vec![number, flag, list, object],
        Value::Number(_) => vec![text, flag, list, object],
        Value::Bool(_) => vec![number, text, list, object],
        Value::Null => vec![number, text, flag, list, object],
    };
    let len = options.len();
    options.into_iter().nth(choice % len).unwrap_or(Value::Null)
}

/// Whether `path` is `ancestor` or lies under it.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    ancestor.is_empty()
        || path == ancestor
        || path
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// `path` with every index left out (`rules[2].key[0]` is `rules[].key[]`),
/// to compare it with a pattern that holds for every item.
pub fn pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            c if in_index && c.is_ascii_digit() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_named_as_config_errors_name_fields() {
        let doc = json!({"rules": [{"name": "a", "key": ["path"]}], "max": 1});
        assert_eq!(
            paths(&doc),
            [
                "",
                "max",
                "rules",
                "rules[0]",
                "rules[0].key",
                "rules[0].key[0]",
                "rules[0].name"
            ]
        );
        assert_eq!(object_paths(&doc), ["", "rules[0]"]);
        assert_eq!(at(&doc, "rules[0].key[0]"), Some(&json!("path")));
        assert_eq!(at(&doc, "rules[1]"), None);
        assert_eq!(pattern("rules[12].key[0].x"), "rules[].key[].x");
        assert!(is_within("rules[0].name", "rules[0]"));
        assert!(is_within("rules[0].name", ""));
        assert!(!is_within("rules[0].names", "rules[0].name"));
        assert!(!is_within("rules[10]", "rules[1]"));
    }

    #[test]
    fn mutations_change_one_place() {
        let doc = json!({"a": {"b": 1}, "c": [true, false]});
        assert_eq!(
            render(&doc, "a.b", &Mutation::Drop),
            r#"{"a":{},"c":[true,false]}"#
        );
        assert_eq!(
            render(&doc, "a.b", &Mutation::Duplicate),
            r#"{"a":{"b":1,"b":1},"c":[true,false]}"#
        );
        assert_eq!(
            render(&doc, "c[1]", &Mutation::Duplicate),
            r#"{"a":{"b":1},"c":[true,false,false]}"#
        );
        assert_eq!(
            render(&doc, "c", &Mutation::Replace(json!("x"))),
            r#"{"a":{"b":1},"c":"x"}"#
        );
        assert_eq!(
            render(&doc, "", &Mutation::AddUnknown),
            r#"{"a":{"b":1},"c":[true,false],"zz_unknown":1}"#
        );
        for choice in 0..5 {
            for value in [json!({}), json!([]), json!("s"), json!(1), json!(true)] {
                let other = retyped(&value, choice);
                assert_ne!(
                    std::mem::discriminant(&other),
                    std::mem::discriminant(&value)
                );
                assert!(!other.is_null());
                assert!(!(value.is_object() && other.is_array()));
            }
        }
    }
}
