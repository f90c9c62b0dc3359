//! Every module loads in a real Envoy, passes traffic with a valid config,
//! and makes Envoy refuse a bad one, naming the field.

use meshwasm_e2e::{Bootstrap, Echo, Envoy, WasmFilter, FILTERS};
use serde_json::{json, Value};

/// The key the auth filter's valid configuration accepts; every request
/// here carries it.
const API_KEY: &str = "e2e-test-key";

/// A valid configuration for each filter.
fn valid_config(filter: &str) -> Value {
    match filter {
        "auth" => json!({
            "identity_header": "x-meshwasm-consumer",
            "api_key": { "consumers": [{ "name": "tester", "key": API_KEY }] },
        }),
        "rate-limit" => json!({
            "rules": [{ "name": "per-client", "key": ["client_address"],
                        "limit": { "requests": 100, "per": "second", "burst": 10 } }],
        }),
        "header-router" => json!({
            "rules": [{ "name": "v2", "match": { "path": { "prefix": "/" } },
                        "request_headers": { "set": [{ "name": "x-route-version", "value": "v2" }] } }],
        }),
        "metrics" => json!({ "prefix": "meshwasm" }),
        other => panic!("no config for {other}"),
    }
}

/// A bad configuration for each filter, and the field its error must name.
fn bad_config(filter: &str) -> (Value, &'static str) {
    match filter {
        "auth" => (
            json!({ "identity_header": "not a header" }),
            "identity_header",
        ),
        "rate-limit" => (
            json!({ "rules": [{ "name": "r", "limit": { "requests": 0, "per": "second" } }] }),
            "rules[0].limit.requests",
        ),
        "header-router" => (
            json!({ "rules": [{ "name": "r", "match": { "methods": ["get"] } }] }),
            "rules[0].match.methods[0]",
        ),
        "metrics" => (json!({ "prefix": "no-dashes" }), "prefix"),
        other => panic!("no config for {other}"),
    }
}

fn passes_traffic(filter: &str) {
    let echo = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy =
        Envoy::start(&Bootstrap::new(&echo).filter(WasmFilter::new(filter, valid_config(filter))))
            .unwrap_or_else(|e| panic!("{e}"));
    let answer = envoy.request(
        "POST",
        "/orders/7?debug=1",
        &[("x-test", filter), ("x-api-key", API_KEY)],
        b"hello",
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let seen = answer.json();
    assert_eq!(seen["upstream"], "backend");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/orders/7");
    assert_eq!(seen["query"], "debug=1");
    assert_eq!(seen["headers"]["x-test"], filter);
    assert_eq!(seen["body"], "hello");
    assert_eq!(echo.received().len(), 1);
    assert!(
        envoy
            .log()
            .contains(&format!("meshwasm {filter}: configured")),
        "no configured line in the log"
    );
}

fn refuses_bad_config(filter: &str) {
    let echo = Echo::start("backend", "127.0.0.1:0").unwrap();
    let (config, field) = bad_config(filter);
    let err = match Envoy::start(&Bootstrap::new(&echo).filter(WasmFilter::new(filter, config))) {
        Ok(_) => panic!("Envoy accepted a bad {filter} config"),
        Err(err) => err,
    };
    let needle = format!("meshwasm {filter}: invalid configuration: field `{field}`");
    assert!(
        err.log.contains(&needle),
        "log does not name `{field}`:\n{}",
        err.log
    );
}

#[test]
fn auth_passes_traffic() {
    passes_traffic("auth");
}

#[test]
fn rate_limit_passes_traffic() {
    passes_traffic("rate-limit");
}

#[test]
fn header_router_passes_traffic() {
    passes_traffic("header-router");
}

#[test]
fn metrics_passes_traffic() {
    passes_traffic("metrics");
}

#[test]
fn auth_refuses_bad_config() {
    refuses_bad_config("auth");
}

#[test]
fn rate_limit_refuses_bad_config() {
    refuses_bad_config("rate-limit");
}

#[test]
fn header_router_refuses_bad_config() {
    refuses_bad_config("header-router");
}

#[test]
fn metrics_refuses_bad_config() {
    refuses_bad_config("metrics");
}

#[test]
fn malformed_json_is_refused() {
    let echo = Echo::start("backend", "127.0.0.1:0").unwrap();
    let bootstrap = Bootstrap::new(&echo).filter(WasmFilter::raw("metrics", "{\"prefix\": "));
    let err = Envoy::start(&bootstrap)
        .err()
        .expect("Envoy accepted malformed JSON");
    let line = err
        .log
        .lines()
        .find(|l| l.contains("meshwasm metrics: invalid configuration"))
        .unwrap_or_else(|| panic!("no configuration error in the log:\n{}", err.log));
    assert!(line.contains("EOF while parsing"), "{line}");
}

#[test]
fn all_four_modules_chain() {
    let echo = Echo::start("backend", "127.0.0.1:0").unwrap();
    let bootstrap = FILTERS.iter().fold(Bootstrap::new(&echo), |b, f| {
        b.filter(WasmFilter::new(f, valid_config(f)))
    });
    let envoy = Envoy::start(&bootstrap).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..20 {
        let answer = envoy.get(&format!("/item/{i}"), &[("x-api-key", API_KEY)]);
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    assert_eq!(echo.received().len(), 20);
    assert!(echo
        .received()
        .iter()
        .all(|r| r.header("x-meshwasm-consumer") == Some("tester")));
    for filter in FILTERS {
        assert!(envoy
            .log()
            .contains(&format!("meshwasm {filter}: configured")));
    }
}
