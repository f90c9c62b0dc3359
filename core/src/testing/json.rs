//! Configuration documents taken apart and put back wrong, for property
//! tests of configuration parsing: every value's path, and the document
//! with one value dropped, repeated, replaced, or joined by a field no
//! configuration has.
//!
//! Paths are written as [`ConfigError::field`](crate::ConfigError::field)
//! names fields: `rules[0].limit.requests`; the document itself is `""`.

use crate::testing::FakeHost;
use crate::{ConfigError, Filter, Flow, Stage};
use serde_json::Value;
use std::rc::Rc;

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
    /// Replaced by this value, of another JSON kind that no typed field
    /// of the original's kind accepts (see [`retyped`]).
    Retype(Value),
    /// Replaced by this value, whatever it is.
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
        if let Mutation::Replace(other) | Mutation::Retype(other) = mutation {
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

/// Every object key and string in `doc`, each once: words a
/// configuration understands, for [`value_from_bytes`].
pub fn words(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        if !out.iter().any(|o| o == w) {
            out.push(w.to_owned());
        }
    };
    walk(doc, String::new(), &mut |_, value| match value {
        Value::Object(map) => map.keys().for_each(|k| add(k)),
        Value::String(s) => add(s),
        _ => {}
    });
    out
}

/// A JSON value spelled out by `bytes`, with keys and strings mostly from
/// `words`: structured garbage that a configuration's parser reads deep
/// into. The same bytes always give the same value, so a failing case
/// shrinks as its bytes do.
pub fn value_from_bytes(bytes: &[u8], words: &[String]) -> Value {
    let mut bytes = bytes.iter().copied();
    garbage(&mut bytes, words, 0)
}

fn garbage(bytes: &mut dyn Iterator<Item = u8>, words: &[String], depth: usize) -> Value {
    let Some(kind) = bytes.next() else {
        return Value::Null;
    };
    let word = |bytes: &mut dyn Iterator<Item = u8>| {
        let pick = usize::from(bytes.next().unwrap_or(0));
        match words.get(pick % words.len().max(1)) {
            Some(w) if pick < 200 => w.clone(),
            _ => {
                let len = usize::from(bytes.next().unwrap_or(0) % 8);
                String::from_utf8_lossy(&bytes.take(len).collect::<Vec<u8>>()).into_owned()
            }
        }
    };
    let nested = depth < 6;
    match kind % 8 {
        0 => Value::Null,
        1 => Value::Bool(kind & 0x80 != 0),
        2 => {
            let n = bytes.next().unwrap_or(0);
            match n % 8 {
                0 => Value::from(0),
                1 => Value::from(-1),
                2 => Value::from(u64::from(u32::MAX) + 1),
                3 => Value::from(u64::MAX),
                4 => Value::from(0.5),
                5 => Value::from(1e300),
                _ => Value::from(n),
            }
        }
        3 | 4 => Value::String(word(bytes)),
        5 if nested => {
            let len = bytes.next().unwrap_or(0) % 4;
            Value::Array((0..len).map(|_| garbage(bytes, words, depth + 1)).collect())
        }
        _ if nested => {
            let len = bytes.next().unwrap_or(0) % 5;
            let mut map = serde_json::Map::new();
            for _ in 0..len {
                let key = word(bytes);
                map.insert(key, garbage(bytes, words, depth + 1));
            }
            Value::Object(map)
        }
        _ => Value::String(word(bytes)),
    }
}

/// Why `err` does not read as the configuration errors the adapter logs
/// (`invalid configuration: field `F`: REASON`, or without the field for
/// the document as a whole); `None` when it does.
pub fn display_failure(err: &ConfigError) -> Option<String> {
    let shown = err.to_string();
    let expected = if err.field().is_empty() {
        format!("invalid configuration: {}", err.reason())
    } else {
        format!(
            "invalid configuration: field `{}`: {}",
            err.field(),
            err.reason()
        )
    };
    if err.reason().is_empty() {
        Some(format!("{shown:?} gives no reason"))
    } else if shown != expected {
        Some(format!("{shown:?} is not {expected:?}"))
    } else {
        None
    }
}

/// Where a configuration takes any JSON, or any keys: the places where a
/// mutation may be harmless. Patterns are paths without indices (see
/// [`pattern`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Schema<'a> {
    /// Values of any JSON kind (a `serde_json::Value` field, such as an
    /// inline JWKS): nothing inside them is checked by type.
    pub any: &'a [&'a str],
    /// Objects whose keys are free (a map of names to values).
    pub maps: &'a [&'a str],
}

impl Schema<'_> {
    fn any_at(&self, path: &str) -> bool {
        let p = pattern(path);
        self.any.iter().any(|a| is_within(&p, a))
    }

    fn map_at(&self, path: &str) -> bool {
        let p = pattern(path);
        self.maps.iter().any(|m| p == *m)
    }
}

/// The object a member's path is in, or `None` for an array's item (or
/// the document itself).
fn member_of(path: &str) -> Option<&str> {
    if path.is_empty() || path.ends_with(']') {
        return None;
    }
    let dot = path.rfind('.');
    let bracket = path.rfind(']');
    Some(match (dot, bracket) {
        (Some(d), Some(b)) if b > d => return None,
        (Some(d), _) => path.get(..d).unwrap_or(""),
        (None, _) => "",
    })
}

/// Why `result`, the outcome of reading `doc` with `mutation` at `path`,
/// is not what the configuration promises; `None` when it is.
///
/// Every error reads as [`display_failure`] says. Beyond that:
/// - a value replaced by one of another kind ([`retyped`]) is refused,
///   naming exactly its path;
/// - a member written twice in a typed object is refused, naming the
///   member or an object it is in;
/// - an unknown member in a typed object is refused, naming it or an
///   object it is in.
///
/// Nothing is promised of dropped members or other replacements: they
/// may be fine, or refused for another field (a rule that now does
/// nothing, a method a rule names that is gone).
pub fn mutation_failure(
    doc: &Value,
    path: &str,
    mutation: &Mutation,
    result: &Result<(), ConfigError>,
    schema: Schema<'_>,
) -> Option<String> {
    if let Err(err) = result {
        if let Some(why) = display_failure(err) {
            return Some(why);
        }
    }
    let refused_within = |place: &str, exact: bool| match result {
        Ok(()) => Some(format!("accepted; expected an error at `{place}`")),
        Err(err) if exact && err.field() != place => Some(format!(
            "refused at `{}`, not at `{place}`: {err}",
            err.field()
        )),
        Err(err) if !is_within(place, err.field()) => Some(format!(
            "refused at `{}`, which is not `{place}` nor above it: {err}",
            err.field()
        )),
        Err(_) => None,
    };
    match mutation {
        Mutation::Retype(_) if !schema.any_at(path) => refused_within(path, true),
        Mutation::Retype(_) | Mutation::Replace(_) => None,
        Mutation::Duplicate => {
            let object = member_of(path)?;
            if schema.any_at(object) || schema.map_at(object) {
                return None;
            }
            refused_within(path, false)
        }
        Mutation::AddUnknown => {
            if schema.any_at(path) || schema.map_at(path) || !at(doc, path)?.is_object() {
                return None;
            }
            refused_within(&member(path, UNKNOWN_FIELD), false)
        }
        Mutation::Drop => None,
    }
}

/// One case of a configuration property test, as the plain numbers and
/// bytes a strategy draws (so it shrinks as they do).
#[derive(Debug, Clone)]
pub struct Case {
    /// Which valid configuration to start from.
    pub base: usize,
    /// Which of its paths to change.
    pub at: usize,
    /// What to do there: drop, duplicate, retype, add an unknown member,
    /// or put garbage in its place.
    pub kind: u8,
    /// Which other kind a retyped value gets.
    pub choice: usize,
    /// The garbage ([`value_from_bytes`]).
    pub bytes: Vec<u8>,
}

/// The document, path and mutation `case` picks among `bases`.
pub fn pick(bases: &[Value], case: &Case) -> (Value, String, Mutation) {
    let base = bases
        .get(case.base % bases.len().max(1))
        .cloned()
        .unwrap_or(Value::Null);
    let choose = |paths: Vec<String>| {
        let len = paths.len().max(1);
        paths.into_iter().nth(case.at % len).unwrap_or_default()
    };
    let (path, mutation) = match case.kind % 5 {
        0 => (choose(paths(&base)), Mutation::Drop),
        1 => (choose(paths(&base)), Mutation::Duplicate),
        2 => {
            let path = choose(paths(&base));
            let value = at(&base, &path).map_or(Value::Null, |v| retyped(v, case.choice));
            (path, Mutation::Retype(value))
        }
        3 => (choose(object_paths(&base)), Mutation::AddUnknown),
        _ => {
            let words: Vec<String> = bases.iter().flat_map(words).collect();
            let garbage = value_from_bytes(&case.bytes, &words);
            (choose(paths(&base)), Mutation::Replace(garbage))
        }
    };
    (base, path, mutation)
}

/// Reads a configuration as the adapter does ([`crate::config::parse`]),
/// then builds the filter.
pub fn build<F: Filter>(bytes: &[u8]) -> Result<Rc<F>, ConfigError> {
    F::new(crate::config::parse::<F::Config>(bytes)?).map(Rc::new)
}

/// Runs a built filter's stage on a plain request: whatever configuration
/// was accepted, a request must not make it panic.
pub fn plain_request<F: Filter>(filter: &Rc<F>) -> Flow {
    let mut host = FakeHost::with_request(&[
        (":method", "GET"),
        (":path", "/api/x?a=1"),
        (":authority", "shop.example"),
        ("cookie", "a=1"),
        ("authorization", "Bearer x.y.z"),
    ]);
    let mut request = host.view();
    filter.stage().on_request_headers(&mut request)
}

/// Checks one configuration case for filter `F`: the mutated document is
/// parsed and built without a panic, the outcome is what
/// [`mutation_failure`] says it must be, and a filter that was built
/// handles a request. `Err` says what went wrong, with the document.
pub fn check_case<F: Filter>(
    bases: &[Value],
    schema: Schema<'_>,
    case: &Case,
) -> Result<(), String> {
    let (doc, path, mutation) = pick(bases, case);
    let text = render(&doc, &path, &mutation);
    let built = build::<F>(text.as_bytes());
    let outcome = built.as_ref().map(drop).map_err(Clone::clone);
    if let Some(why) = mutation_failure(&doc, &path, &mutation, &outcome, schema) {
        return Err(format!("{mutation:?} at `{path}`: {why}\n{text}"));
    }
    if let Ok(filter) = built {
        plain_request(&filter);
    }
    Ok(())
}

/// Checks a configuration of arbitrary bytes for filter `F`: no panic; an
/// error reads as [`display_failure`] says; bytes that are not a JSON
/// object are refused for the document as a whole, and blank bytes read
/// as `{}`.
pub fn check_bytes<F: Filter>(bytes: &[u8]) -> Result<(), String> {
    let outcome = build::<F>(bytes).map(drop);
    if let Err(err) = &outcome {
        if let Some(why) = display_failure(err) {
            return Err(why);
        }
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            let empty = build::<F>(b"{}").map(drop);
            if outcome != empty {
                return Err(format!(
                    "blank bytes gave {outcome:?}, `{{}}` gives {empty:?}"
                ));
            }
        }
        Some(b'{') => {}
        Some(_) => match &outcome {
            Err(err) if err.field().is_empty() => {}
            other => return Err(format!("not an object, yet {other:?}")),
        },
    }
    Ok(())
}

/// Checks structured garbage for filter `F`: an object spelled out by
/// `bytes` with the words of `bases`, parsed and built without a panic; a
/// filter that was built handles a request.
pub fn check_garbage<F: Filter>(bases: &[Value], bytes: &[u8]) -> Result<(), String> {
    let words: Vec<String> = bases.iter().flat_map(words).collect();
    // A leading 7 makes the document an object.
    let doc = value_from_bytes(&[&[7u8][..], bytes].concat(), &words);
    let text = doc.to_string();
    match build::<F>(text.as_bytes()) {
        Ok(filter) => {
            plain_request(&filter);
            Ok(())
        }
        Err(err) => display_failure(&err).map_or(Ok(()), |why| Err(format!("{why}\n{text}"))),
    }
}

/// The configuration property tests every filter shares, for a
/// [`Filter`] type, a function giving valid configurations that between
/// them set every field, and a [`Schema`]: the bases are valid; arbitrary
/// bytes are refused as a whole ([`check_bytes`]); structured garbage
/// never panics ([`check_garbage`]); mutations are refused at their field
/// ([`check_case`]). Expands in a `#[cfg(test)]` module of a crate with
/// `proptest` among its dev-dependencies.
#[macro_export]
macro_rules! config_properties {
    ($filter:ty, $bases:path, $schema:expr) => {
        fn case() -> impl ::proptest::strategy::Strategy<Value = $crate::testing::json::Case> {
            use ::proptest::prelude::*;
            (
                any::<usize>(),
                any::<usize>(),
                any::<u8>(),
                any::<usize>(),
                ::proptest::collection::vec(any::<u8>(), 0..64),
            )
                .prop_map(
                    |(base, at, kind, choice, bytes)| $crate::testing::json::Case {
                        base,
                        at,
                        kind,
                        choice,
                        bytes,
                    },
                )
        }

        #[test]
        fn the_bases_are_valid() {
            for base in $bases() {
                $crate::testing::json::build::<$filter>(base.to_string().as_bytes()).unwrap();
            }
        }

        ::proptest::proptest! {
            #![proptest_config(::proptest::prelude::ProptestConfig::with_cases(
                $crate::testing::prop_cases(64)
            ))]

            #[test]
            fn prop_config_of_any_bytes_is_refused_as_a_whole(
                bytes in ::proptest::collection::vec(::proptest::prelude::any::<u8>(), 0..256)
            ) {
                $crate::testing::json::check_bytes::<$filter>(&bytes)
                    .map_err(::proptest::test_runner::TestCaseError::fail)?;
            }

            #[test]
            fn prop_config_of_structured_garbage_never_panics(
                bytes in ::proptest::collection::vec(::proptest::prelude::any::<u8>(), 0..512)
            ) {
                $crate::testing::json::check_garbage::<$filter>(&$bases(), &bytes)
                    .map_err(::proptest::test_runner::TestCaseError::fail)?;
            }

            #[test]
            fn prop_config_mutations_are_refused_by_field(case in case()) {
                $crate::testing::json::check_case::<$filter>(&$bases(), $schema, &case)
                    .map_err(::proptest::test_runner::TestCaseError::fail)?;
            }
        }
    };
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
            render(&doc, "c", &Mutation::Retype(json!("x"))),
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
