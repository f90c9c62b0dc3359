//! Filter configuration through files (filesystem extension config
//! discovery): a change applies without a restart, and a refused change
//! leaves the last good configuration serving.

use meshwasm_e2e::{Bootstrap, Echo, Envoy, WasmFilter};
use serde_json::json;
use std::time::{Duration, Instant};

/// Asks until `check` holds (Envoy applies a new file within a moment).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keys(consumers: &[(&str, &str)]) -> serde_json::Value {
    let consumers: Vec<_> = consumers
        .iter()
        .map(|(name, key)| json!({ "name": name, "key": key }))
        .collect();
    json!({ "api_key": { "consumers": consumers } })
}

#[test]
fn a_config_change_applies_without_a_restart_and_a_bad_one_is_refused() {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let auth = WasmFilter::new("auth", keys(&[("alice", "key-1")])).via_ecds();
    let envoy = Envoy::start(&Bootstrap::new(&backend).filter(auth.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    let status = |key: &str| envoy.get("/", &[("x-api-key", key)]).status;
    assert_eq!(status("key-1"), 200);
    assert_eq!(status("key-2"), 401);

    // Roll the key: write the new file, rename it into place.
    envoy
        .update_ecds(&auth.with_configuration(keys(&[("alice", "key-2")])))
        .unwrap();
    eventually("the new key is accepted", || status("key-2") == 200);
    assert_eq!(status("key-1"), 401);

    // A refused config (the log names the field) leaves the last good one.
    envoy
        .update_ecds(&auth.with_configuration(json!({ "api_key": { "consumers": [] } })))
        .unwrap();
    eventually("the refusal is logged", || {
        envoy
            .log()
            .contains("meshwasm auth: invalid configuration: field `api_key.consumers`")
    });
    for _ in 0..5 {
        assert_eq!(status("key-2"), 200);
        assert_eq!(status("key-1"), 401);
    }
}
