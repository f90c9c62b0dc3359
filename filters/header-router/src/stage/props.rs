//! Property tests: the header-router stage renders templates from
//! requests of arbitrary bytes, and every value it writes can be sent.
//! `make fuzz` runs them long.

use super::*;
use meshwasm_core::names::is_field_value;
use meshwasm_core::testing::{prop_cases, FakeHost};
use meshwasm_core::{Filter, Host};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::json;

/// Rules that copy every kind of request value into headers, a path
/// rewrite, a sticky split, and a redirect built from request values.
fn router() -> Rc<HeaderRouter> {
    let config = json!({"rules": [{
        "name": "copy",
        "request_headers": {
            "set": [{"name": "x-copy-header", "value": "{header.x-user}"},
                    {"name": "x-copy-query", "value": "{query.q}"},
                    {"name": "x-copy-cookie", "value": "{cookie.c}"},
                    {"name": "x-copy-all", "value": "{method} {host}{path}"}],
            "append": [{"name": "x-trail", "value": "q={query.q};u={header.x-user}"}]
        },
        "response_headers": {"set": [{"name": "x-resp", "value": "{header.x-user}/{cookie.c}"}]},
        "continue": true
    }, {
        "name": "rewrite",
        "match": {"path": {"regex": "/r/(.*)"}},
        "request_headers": {"set": [{"name": "x-cap", "value": "<{path.1}>"}]},
        "rewrite": {"regex": {"pattern": "/r/(.*)", "replacement": "/s/$1"}},
        "split": {"header": "x-side", "sticky": {"header": "x-user"},
                  "targets": [{"value": "a", "weight": 1}, {"value": "b", "weight": 1}]},
        "continue": true
    }, {
        "name": "moved",
        "match": {"path": {"prefix": "/old/"}},
        "rewrite": {"prefix": {"from": "/old/", "to": "/new/"}}
    }, {
        "name": "go",
        "match": {"path": {"prefix": "/go"}},
        "respond": {"redirect": {"location": "https://{host}/{query.q}{path}?u={header.x-user}"}}
    }]});
    let config = meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap();
    Rc::new(HeaderRouter::new(config).unwrap())
}

fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..24),
        1 => "[ -~]{0,12}".prop_map(String::into_bytes),
        1 => (vec(any::<u8>(), 1..4), 0..65_536usize)
            .prop_map(|(unit, len)| unit.into_iter().cycle().take(len).collect()),
    ]
}

/// Bytes Envoy lets through in a path: no control characters, no space
/// (its codecs refuse those), anything else, UTF-8 or not. A path with
/// control characters is rewritten into a `:path` that cannot be sent:
/// see `a_rewritten_path_keeps_control_characters` below.
fn path_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(
        any::<u8>().prop_filter("a byte Envoy takes in a path", |b| *b > b' ' && *b != 0x7f),
        0..16,
    )
}

/// A query value: percent-escapes of any bytes (control characters
/// included, once decoded), or the bytes themselves.
fn query_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..16).prop_map(|v| v
            .iter()
            .map(|b| format!("%{b:02x}"))
            .collect::<String>()
            .into_bytes()),
        path_bytes(),
    ]
}

#[derive(Debug, Clone)]
struct Raw {
    headers: Vec<(&'static str, Vec<u8>)>,
}

fn request() -> impl Strategy<Value = Raw> {
    let start = proptest::sample::select(&["/r/", "/old/", "/go", "/", ""][..]);
    (
        start,
        path_bytes(),
        proptest::option::of(query_bytes()),
        vec(proptest::option::of(value_bytes()), 4),
    )
        .prop_map(|(start, rest, query, values)| {
            let mut path = [start.as_bytes(), &rest].concat();
            if let Some(q) = query {
                path.extend(b"?a=1&q=");
                path.extend(q);
            }
            let mut headers = vec![(":path", path)];
            let names = [":method", ":authority", "x-user", "cookie"];
            for (name, value) in names.into_iter().zip(values) {
                let value = match (name, value) {
                    ("cookie", Some(v)) => Some([&b"a=1; c="[..], &v].concat()),
                    (_, v) => v,
                };
                headers.extend(value.map(|v| (name, v)));
            }
            Raw { headers }
        })
}

/// Every value in `after` that the client did not send in `before`: what
/// the stage wrote.
fn written<'a>(
    before: &[(&'static str, Vec<u8>)],
    after: &'a [(String, Vec<u8>)],
) -> Vec<(&'a str, &'a [u8])> {
    after
        .iter()
        .filter(|(n, v)| !before.iter().any(|(bn, bv)| bn == n && bv == v))
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect()
}

fn sendable(value: &[u8]) -> bool {
    std::str::from_utf8(value).is_ok_and(is_field_value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_every_value_the_router_writes_can_be_sent(request in request()) {
        let filter = router();
        let raw: Vec<(&str, &[u8])> = request.headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        let mut host = FakeHost::with_raw_request(&raw);
        let mut stage = filter.stage();
        let flow = stage.on_request_headers(&mut host.view());
        match &flow {
            Flow::Continue => {}
            Flow::Respond(answer) => {
                prop_assert!([302, 400].contains(&answer.status), "{:?}", answer);
                for (name, value) in &answer.headers {
                    prop_assert!(is_field_value(value), "{}: {:?}", name, value);
                }
            }
            Flow::Pause => prop_assert!(false, "the router never waits"),
        }
        let after = host.headers(HeaderMap::Request).unwrap();
        for (name, value) in written(&request.headers, &after) {
            prop_assert!(sendable(value), "{} = {:?}", name, String::from_utf8_lossy(value));
        }
        stage.on_response_headers(&mut host.view());
        for (name, value) in host.headers(HeaderMap::Response).unwrap() {
            prop_assert!(sendable(&value), "response {} = {:?}", name, String::from_utf8_lossy(&value));
        }
    }
}

/// Found by `prop_every_value_the_router_writes_can_be_sent` with any byte
/// allowed in the path: a path rewrite (prefix or regex) copied the rest
/// of the request's path into the new `:path` without the
/// `is_field_value` check that header templates and redirect targets get,
/// so `/r/\0` (or `/old/\x01`) was written on as `/s/\0`. Such a rewrite
/// is now dropped and counted, as a header value is.
#[test]
fn a_rewritten_path_never_keeps_control_characters() {
    for path in [&b"/r/\0"[..], b"/old/\x01x"] {
        let filter = router();
        let mut host = FakeHost::with_raw_request(&[(":method", b"GET"), (":path", path)]);
        filter.stage().on_request_headers(&mut host.view());
        let after = host.headers(HeaderMap::Request).unwrap();
        let written = written(&[(":path", path.to_vec())], &after);
        for (name, value) in written {
            assert!(
                sendable(value),
                "{name} = {:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
}
