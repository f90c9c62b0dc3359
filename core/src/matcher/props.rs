//! Property tests: matchers built from generated configurations against
//! arbitrary requests. `make fuzz` runs them long.

use super::*;
use crate::testing::{prop_cases, FakeHost};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};

/// A path from a small alphabet, so generated prefixes often match.
fn path_text() -> impl Strategy<Value = String> {
    "/[ab/.]{0,5}"
}

/// A regex that always compiles, from a few safe pieces.
fn safe_regex() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        "[ab/]".prop_map(|s| s),
        Just(".".to_owned()),
        Just(".*".to_owned()),
        Just("[a-z]+".to_owned()),
        Just("[0-9]*".to_owned()),
        Just("(a|b)".to_owned()),
        Just("([^/]*)".to_owned()),
        Just("b?".to_owned()),
    ];
    vec(atom, 0..5).prop_map(|atoms| format!("/{}", atoms.concat()))
}

fn short_text() -> impl Strategy<Value = String> {
    "[ab=;%/ ]{0,3}"
}

/// One condition of a [`ValueMatch`]: exactly one of its kinds.
fn condition() -> impl Strategy<Value = Value> {
    prop_oneof![
        short_text().prop_map(|s| json!({"exact": s})),
        short_text().prop_map(|s| json!({"prefix": s})),
        short_text().prop_map(|s| json!({"suffix": s})),
        short_text().prop_map(|s| json!({"contains": s})),
        vec(
            proptest::sample::select(&["a", "b", ".", "a*", ".*", "[;=]"][..]),
            0..4
        )
        .prop_map(|atoms| json!({"regex": atoms.concat()})),
        any::<bool>().prop_map(|b| json!({"present": b})),
    ]
}

fn value_match(names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    (proptest::sample::select(names), condition()).prop_map(|(name, mut c)| {
        if let Some(object) = c.as_object_mut() {
            object.insert("name".to_owned(), json!(name));
        }
        c
    })
}

const HEADERS: &[&str] = &["x-a", "x-b"];
const PARAMS: &[&str] = &["a", "b"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];

fn path_match() -> impl Strategy<Value = Value> {
    prop_oneof![
        path_text().prop_map(|p| json!({"prefix": p})),
        path_text().prop_map(|p| json!({"exact": p})),
        safe_regex().prop_map(|r| json!({"regex": r})),
    ]
}

/// A matcher's conditions, each as a matcher of its own.
fn conditions() -> impl Strategy<Value = Vec<Value>> {
    let host = prop_oneof![
        short_text().prop_map(|s| json!({"exact": s})),
        short_text().prop_map(|s| json!({"suffix": s})),
        "[ab.]{0,3}".prop_map(|s| json!({"regex": s})),
    ];
    (
        proptest::option::of(path_match()),
        proptest::sample::subsequence(METHODS, 0..=METHODS.len()),
        proptest::option::of(host),
        vec(value_match(HEADERS), 0..3),
        vec(value_match(PARAMS), 0..3),
        vec(value_match(PARAMS), 0..3),
    )
        .prop_map(|(path, methods, host, headers, query, cookies)| {
            let mut all = Vec::new();
            all.extend(path.map(|p| json!({"path": p})));
            if !methods.is_empty() {
                all.push(json!({"methods": methods}));
            }
            all.extend(host.map(|h| json!({"host": h})));
            all.extend(headers.into_iter().map(|h| json!({"headers": [h]})));
            all.extend(query.into_iter().map(|q| json!({"query": [q]})));
            all.extend(cookies.into_iter().map(|c| json!({"cookies": [c]})));
            all
        })
}

/// The matcher with all of `conditions`.
fn together(conditions: &[Value]) -> Value {
    let mut all = serde_json::Map::new();
    for c in conditions.iter().filter_map(Value::as_object) {
        for (k, v) in c {
            match (all.get_mut(k), v) {
                (Some(Value::Array(items)), Value::Array(more)) => items.extend(more.clone()),
                _ => {
                    all.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Value::Object(all)
}

fn matcher(json: &Value) -> RequestMatch {
    crate::config::parse(json.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{json} was refused: {e}"))
}

/// Bytes for a value: arbitrary, or from the alphabet matchers use.
fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => vec(any::<u8>(), 0..16),
        3 => "[ab=;%/ .]{0,6}".prop_map(String::into_bytes),
        1 => (vec(any::<u8>(), 1..4), 0..65_536usize)
            .prop_map(|(unit, len)| unit.into_iter().cycle().take(len).collect()),
    ]
}

/// A request: a path (often from the matchers' alphabet, with a query),
/// a method, a host, headers and cookies, any of them missing or odd.
fn request() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let path = prop_oneof![
        4 => (path_text(), proptest::option::of("[ab=&%+/]{0,8}"), vec(any::<u8>(), 0..3))
            .prop_map(|(p, q, tail)| {
                let mut bytes = p.into_bytes();
                if tail.len() == 1 {
                    bytes.extend(tail);
                }
                if let Some(q) = q {
                    bytes.push(b'?');
                    bytes.extend(q.into_bytes());
                }
                bytes
            }),
        1 => value_bytes(),
    ];
    let method = prop_oneof![
        4 => proptest::sample::select(METHODS).prop_map(|m| m.as_bytes().to_vec()),
        1 => value_bytes(),
    ];
    const NAMES: &[&str] = &[":authority", "x-a", "x-b", "cookie"];
    (
        proptest::option::of(path),
        proptest::option::of(method),
        vec((proptest::sample::select(NAMES), value_bytes()), 0..5),
    )
        .prop_map(|(path, method, rest)| {
            let mut headers = Vec::new();
            headers.extend(path.map(|p| (":path".to_owned(), p)));
            headers.extend(method.map(|m| (":method".to_owned(), m)));
            headers.extend(rest.into_iter().map(|(n, v)| (n.to_owned(), v)));
            headers
        })
}

fn first<'m>(headers: &'m [(String, Vec<u8>)], name: &str) -> Option<&'m [u8]> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

/// The path as matchers see it: lossy text, query removed.
fn bare_path(headers: &[(String, Vec<u8>)]) -> String {
    let path = String::from_utf8_lossy(first(headers, ":path").unwrap_or_default()).into_owned();
    path.split_once('?')
        .map_or(path.clone(), |(p, _)| p.to_owned())
}

fn hit(m: &RequestMatch, headers: &[(String, Vec<u8>)]) -> bool {
    m.matches(&FakeHost::with_headers(headers).view())
        .expect("the fake host never fails")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_generated_matchers_parse_and_match_as_their_conditions_do(
        conditions in conditions(),
        headers in request(),
    ) {
        let all = matcher(&together(&conditions));
        let each: Vec<bool> = conditions.iter().map(|c| hit(&matcher(c), &headers)).collect();
        prop_assert_eq!(hit(&all, &headers), each.iter().all(|h| *h), "{:?}", each);
    }

    #[test]
    fn prop_a_prefix_matches_iff_the_path_starts_with_it(prefix in path_text(), headers in request()) {
        let m = matcher(&json!({"path": {"prefix": prefix}}));
        prop_assert_eq!(hit(&m, &headers), bare_path(&headers).starts_with(&prefix));
    }

    #[test]
    fn prop_an_exact_path_matches_iff_equal(path in path_text(), headers in request()) {
        let m = matcher(&json!({"path": {"exact": path}}));
        prop_assert_eq!(hit(&m, &headers), bare_path(&headers) == path);
    }

    #[test]
    fn prop_methods_match_iff_listed(
        methods in proptest::sample::subsequence(METHODS, 1..=METHODS.len()),
        headers in request(),
    ) {
        let m = matcher(&json!({"methods": methods}));
        let method = String::from_utf8_lossy(first(&headers, ":method").unwrap_or_default()).into_owned();
        prop_assert_eq!(hit(&m, &headers), methods.contains(&method.as_str()));
    }

    #[test]
    fn prop_header_conditions_read_the_first_value(
        name in proptest::sample::select(HEADERS),
        condition in condition(),
        headers in request(),
    ) {
        let mut spec = condition.clone();
        if let Some(o) = spec.as_object_mut() {
            o.insert("name".to_owned(), json!(name));
        }
        let m = matcher(&json!({"headers": [spec]}));
        let value = first(&headers, name).map(|v| String::from_utf8_lossy(v).into_owned());
        let (kind, arg) = condition.as_object().and_then(|o| o.iter().next()).unwrap();
        let text = arg.as_str().unwrap_or_default();
        let expected = match (kind.as_str(), value.as_deref()) {
            ("present", v) => arg.as_bool() == Some(v.is_some()),
            (_, None) => false,
            ("exact", Some(v)) => v == text,
            ("prefix", Some(v)) => v.starts_with(text),
            ("suffix", Some(v)) => v.ends_with(text),
            ("contains", Some(v)) => v.contains(text),
            ("regex", Some(v)) => Regex::try_from(text.to_owned()).unwrap().is_match(v),
            (other, _) => panic!("no condition kind `{other}`"),
        };
        prop_assert_eq!(hit(&m, &headers), expected, "{} on {:?}", spec, value);
    }

    #[test]
    fn prop_any_regex_source_compiles_or_is_refused(source in any::<String>(), value in any::<String>(), replacement in any::<String>()) {
        if let Ok(r) = Regex::try_from(source) {
            if r.is_match(&value) {
                let groups = r.captures(&value).unwrap();
                prop_assert_eq!(groups.first(), Some(&value), "a match is of the whole value");
                prop_assert_eq!(groups.len(), r.groups());
                prop_assert!(r.replace(&value, &replacement).is_some());
            } else {
                prop_assert_eq!(r.captures(&value), None);
                prop_assert_eq!(r.replace(&value, &replacement), None);
            }
        }
    }

    #[test]
    fn prop_a_regex_matches_the_whole_value(literal in any::<String>(), more in "[a-z]{1,3}") {
        let r = Regex::try_from(regex_lite::escape(&literal)).unwrap();
        let (longer, earlier) = (format!("{literal}{more}"), format!("{more}{literal}"));
        prop_assert!(r.is_match(&literal));
        prop_assert!(!r.is_match(&longer));
        prop_assert!(!r.is_match(&earlier));
    }

    #[test]
    fn prop_matcher_configs_of_any_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        let _ = crate::config::parse::<RequestMatch>(&bytes);
    }

    #[test]
    fn prop_any_matcher_json_never_panics(
        json in "\\{(\"(path|methods|host|headers|query|cookies|prefix|exact|regex|name|present|[a-z]{1,3})\"|[\\[\\]{}:,0-9. ]|\"[ab/.*(]{0,3}\"|true|null){0,24}",
        headers in request(),
    ) {
        if let Ok(m) = crate::config::parse::<RequestMatch>(json.as_bytes()) {
            let _ = hit(&m, &headers);
        }
    }
}
