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

/// The configuration inside a shipped ECDS resource file.
fn shipped_ecds_configuration(path: &str) -> serde_json::Value {
    let path = meshwasm_e2e::workspace_root().join(path);
    let text = std::fs::read_to_string(&path).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let resource: serde_json::Value = serde_json::to_value(yaml).unwrap();
    let value = resource
        .pointer("/resources/0/typed_config/config/configuration/value")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_else(|| panic!("{}: no configuration", path.display()));
    serde_json::from_str(value).unwrap()
}

#[test]
fn the_shipped_chain_configuration_by_ecds_serves_and_updates() {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let config = shipped_ecds_configuration("envoy-config/ecds/filters/chain.yaml");
    let chain = WasmFilter::new("chain", config.clone()).via_ecds();
    let envoy = Envoy::start(&Bootstrap::new(&backend).filter(chain.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    let alice = ("x-api-key", "alice-demo-key");
    assert_eq!(envoy.get("/", &[]).status, 401);
    assert_eq!(envoy.get("/healthz", &[]).status, 200);
    let answer = envoy.get("/", &[alice, ("x-beta", "1")]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-routed-by"), Some("meshwasm canary rule"));
    assert_eq!(answer.header("x-ratelimit-limit"), Some("5"));

    // Lower the limit in place: the rate-limit part applies it without a
    // restart, and the other parts keep working.
    let mut lower = config.clone();
    lower["rate_limit"]["rules"][0]["limit"]["requests"] = json!(1);
    envoy.update_ecds(&chain.with_configuration(lower)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while envoy.get("/", &[alice]).header("x-ratelimit-limit") != Some("1") {
        assert!(
            std::time::Instant::now() < deadline,
            "the new limit never applied"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(envoy.get("/", &[alice]).status, 429);
    assert_eq!(envoy.get("/", &[]).status, 401);
}
