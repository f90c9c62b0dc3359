//! A configuration the modules refuse while parsing names the same field,
//! with the same words, as a path-tracking deserialiser (`serde_path_to_error`,
//! which the modules used before) would: checked on every shipped
//! configuration, broken in every way a user can break one: an unknown field
//! in each object; each value of the wrong type, out of range (also beyond
//! what JSON numbers hold) or a string that is not what the field holds (also
//! one that is not Unicode); each field missing or misspelt, which in an enum
//! is an unknown variant. Each is written compactly and pretty-printed.
//! (Text that is not JSON is named where it breaks off, which such a parser
//! cannot name: see `field_path`'s own tests.)
// Helpers outside #[test] functions may fail a test by panicking.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use meshwasm_check::Module;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use shipped::root;

mod shipped;

/// Every configuration the repository ships for a module, with its module:
/// the Envoy and Istio configs' and the bench's.
fn shipped() -> Vec<(Module, Value)> {
    let mut found: Vec<(Module, Value)> = shipped::configurations()
        .into_iter()
        .filter(|(_, f)| !f.json.is_empty())
        .map(|(_, f)| (f.module, serde_json::from_slice(&f.json).unwrap()))
        .collect();
    for entry in std::fs::read_dir(root().join("tools/bench-configs")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let module = match name.as_str() {
            "auth-api-key" => Module::Auth,
            "header-router" => Module::HeaderRouter,
            "metrics" => Module::Metrics,
            "rate-limit" | "rate-limit-global" | "trivial" => Module::RateLimit,
            _ => continue,
        };
        found.push((
            module,
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap(),
        ));
    }
    found
}

/// The configuration broken in each single way: every object given an
/// unknown field, every value but the document replaced by values of other
/// types and out of range, every field removed.
fn broken(config: &Value) -> Vec<Value> {
    fn walk(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(at.clone());
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    at.push(Step::Key(key.clone()));
                    walk(item, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    at.push(Step::Index(i));
                    walk(item, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut places = Vec::new();
    walk(config, &mut Vec::new(), &mut places);
    let mut out = Vec::new();
    for place in &places {
        if matches!(get(config, place), Value::Object(_)) {
            let mut c = config.clone();
            if let Value::Object(map) = get_mut(&mut c, place) {
                map.insert("zz_unknown".into(), json!(1));
            }
            out.push(c);
        }
        if place.is_empty() {
            continue;
        }
        let replacements = [
            // Other types, and numbers out of range.
            json!(-1),
            json!(1.5),
            json!(4294967296u64),
            json!(true),
            json!(null),
            json!([]),
            json!({}),
            json!([{}]),
            // Strings that are not a header name, a regex, a template, a
            // digest or a variant.
            json!("x"),
            json!("a b"),
            json!("("),
            json!("{nope"),
            // Spliced into the text as written (see `spliced`).
            json!(BIG_NUMBER),
            json!(LONE_SURROGATE),
        ];
        for replacement in replacements {
            let mut c = config.clone();
            *get_mut(&mut c, place) = replacement;
            out.push(c);
        }
        if let Some(Step::Key(key)) = place.last() {
            for renamed in [None, Some("zz_renamed")] {
                let mut c = config.clone();
                if let Value::Object(map) = get_mut(&mut c, &place[..place.len() - 1]) {
                    let value = map.remove(key).unwrap();
                    if let Some(renamed) = renamed {
                        map.insert(renamed.into(), value);
                    }
                }
                out.push(c);
            }
        }
    }
    out
}

/// Stands for `1e400` (beyond an f64) until the text is written.
const BIG_NUMBER: &str = "zz-big-number";
/// Stands for the string `"\ud800"` (half a surrogate pair).
const LONE_SURROGATE: &str = "zz-lone-surrogate";

/// The text with the stand-ins replaced by what `serde_json::Value` cannot hold.
fn spliced(text: Vec<u8>) -> Vec<u8> {
    String::from_utf8(text)
        .unwrap()
        .replace(&format!("\"{BIG_NUMBER}\""), "1e400")
        .replace(LONE_SURROGATE, "\\ud800")
        .into_bytes()
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn get<'a>(value: &'a Value, at: &[Step]) -> &'a Value {
    at.iter().fold(value, |v, step| match step {
        Step::Key(k) => &v[k.as_str()],
        Step::Index(i) => &v[*i],
    })
}

fn get_mut<'a>(value: &'a mut Value, at: &[Step]) -> &'a mut Value {
    at.iter().fold(value, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// What a path-tracking deserialiser says of `text`: field and reason, or
/// `None` when it parses.
fn reference<T: DeserializeOwned>(text: &[u8]) -> Option<(String, String)> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let err = serde_path_to_error::deserialize::<_, T>(&mut de).err()?;
    let field = err.path().to_string();
    let field = if field == "." { String::new() } else { field };
    Some((field, err.into_inner().to_string()))
}

fn reference_for(module: Module, text: &[u8]) -> Option<(String, String)> {
    match module {
        Module::Auth => reference::<meshwasm_auth::config::AuthConfig>(text),
        Module::RateLimit => reference::<meshwasm_rate_limit::config::RateLimitConfig>(text),
        Module::HeaderRouter => {
            reference::<meshwasm_header_router::config::HeaderRouterConfig>(text)
        }
        Module::Metrics => reference::<meshwasm_metrics::config::MetricsConfig>(text),
        Module::Chain => reference::<meshwasm_chain::ChainConfig>(text),
    }
}

#[test]
fn parse_errors_name_the_field_a_path_tracking_parser_names() {
    let configs = shipped();
    assert!(
        configs.len() >= 15,
        "only {} shipped configurations",
        configs.len()
    );
    let (mut compared, mut differ) = (0, Vec::new());
    for (module, config) in &configs {
        for c in broken(config) {
            for text in [
                serde_json::to_vec(&c).unwrap(),
                serde_json::to_vec_pretty(&c).unwrap(),
            ] {
                let text = spliced(text);
                let Some(expected) = reference_for(*module, &text) else {
                    continue;
                };
                let err = module.check(&text).unwrap_err();
                let got = (err.field().to_string(), err.reason().to_string());
                if got != expected {
                    differ.push(format!(
                        "{module}: {}\n  module:    {got:?}\n  reference: {expected:?}",
                        String::from_utf8_lossy(&text)
                    ));
                }
                compared += 1;
            }
        }
    }
    assert!(
        compared >= 1000,
        "only {compared} refused configurations compared"
    );
    assert!(
        differ.is_empty(),
        "{} of {compared} differ; the first:\n{}",
        differ.len(),
        differ
            .iter()
            .take(400)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
