//! The one-context module: all four filters in one Wasm VM, configured as
//! one object, behaving as the four modules do.

use meshwasm_e2e::{Bootstrap, Echo, Envoy, WasmFilter};
use serde_json::json;

#[test]
fn one_module_runs_the_whole_chain() {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let config = json!({
        "metrics": { "consumer_header": "x-meshwasm-consumer" },
        "auth": { "api_key": { "consumers": [{ "name": "alice", "key": "alice-key" }] } },
        "rate_limit": { "rules": [{ "name": "per-consumer", "key": [{ "header": "x-meshwasm-consumer" }],
                                    "limit": { "requests": 2, "per": "minute" } }] },
        "header_router": { "rules": [{ "name": "tag",
            "request_headers": { "set": [{ "name": "x-served-for", "value": "{header.x-meshwasm-consumer}" }] } }] }
    });
    let envoy = Envoy::start(&Bootstrap::new(&backend).filter(WasmFilter::new("chain", config)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(envoy.get("/", &[]).status, 401);
    let key = ("x-api-key", "alice-key");
    assert_eq!(envoy.get("/", &[key]).status, 200);
    assert_eq!(backend.received()[0].header("x-served-for"), Some("alice"));
    assert_eq!(envoy.get("/", &[key]).status, 200);
    assert_eq!(envoy.get("/", &[key]).status, 429);
    assert_eq!(
        envoy.counter(
            "meshwasm_requests_total",
            &[("consumer", "alice"), ("code", "429")]
        ),
        1.0
    );
    assert_eq!(
        envoy.counter("meshwasm_requests_total", &[("code", "401")]),
        1.0
    );
    assert_eq!(
        envoy.counter(
            "meshwasm_ratelimit_requests_total",
            &[("rule", "per-consumer"), ("decision", "limited")]
        ),
        1.0
    );
}

#[test]
fn a_bad_part_is_refused_by_name() {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let bad = json!({ "rate_limit": { "rules": [{ "name": "r", "limit": { "requests": 0, "per": "second" } }] } });
    let err = Envoy::start(&Bootstrap::new(&backend).filter(WasmFilter::new("chain", bad)))
        .err()
        .expect("Envoy accepted a bad chain config");
    assert!(
        err.log.contains(
            "meshwasm chain: invalid configuration: field `rate_limit.rules[0].limit.requests`"
        ),
        "{}",
        err.log
    );
}
