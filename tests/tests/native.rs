//! What only the native build has, in a real Envoy (`MESHWASM_BUILD=native`;
//! under the Wasm build these skip): the module checks the ABI it loads
//! into, a panic stops at Envoy's boundary as a 500, and a configuration
//! needing what Envoy's dynamic-module ABI lacks is refused by name.

use meshwasm_e2e::{native_only, Bootstrap, Echo, Envoy, WasmFilter};
use serde_json::json;

#[test]
fn the_module_reports_the_abi_of_envoy_1_40() {
    native_only!("the dynamic-module ABI");
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy =
        Envoy::start(&Bootstrap::new(&backend).filter(WasmFilter::new("metrics", json!({}))))
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        envoy
            .log()
            .contains("Dynamic module ABI version v0.2.0 matched."),
        "Envoy did not match the ABI version"
    );
    assert_eq!(envoy.get("/", &[]).status, 200);
}

/// Envoy with the probe filter (`tools/native-probe`), which panics in the
/// phase `x-panic` names.
fn probe() -> (Envoy, Echo) {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy =
        Envoy::start(&Bootstrap::new(&backend).filter(WasmFilter::new("native-probe", json!({}))))
            .unwrap_or_else(|e| panic!("{e}"));
    (envoy, backend)
}

#[test]
fn a_panic_on_the_request_becomes_a_500_and_envoy_keeps_serving() {
    native_only!("the native build's panic boundary (a Wasm panic is a VM trap)");
    let (envoy, backend) = probe();
    for _ in 0..3 {
        let answer = envoy.get("/", &[("x-panic", "request")]);
        assert_eq!(answer.status, 500, "{answer:?}");
        assert_eq!(answer.json()["error"], "internal_error");
    }
    assert!(backend.received().is_empty(), "a panicked request went on");
    assert!(envoy.log().contains(
        "meshwasm probe: panicked in request headers: meshwasm probe: asked to panic in request"
    ));
    // Both workers build a fresh filter and serve on.
    for _ in 0..8 {
        assert_eq!(envoy.get("/", &[]).status, 200);
    }
    assert_eq!(backend.received().len(), 8);
}

#[test]
fn a_panic_after_the_request_went_on_is_logged_and_the_answer_stands() {
    native_only!("the native build's panic boundary (a Wasm panic is a VM trap)");
    let (envoy, backend) = probe();
    for phase in ["response", "log"] {
        let answer = envoy.get("/", &[("x-panic", phase)]);
        assert_eq!(answer.status, 200, "{phase}: {answer:?}");
    }
    assert_eq!(backend.received().len(), 2);
    let log = envoy.log();
    for hook in ["response headers", "stream complete"] {
        assert!(
            log.contains(&format!("meshwasm probe: panicked in {hook}")),
            "no panic logged in {hook}"
        );
    }
    for _ in 0..4 {
        assert_eq!(envoy.get("/", &[]).status, 200);
    }
}

#[test]
fn a_rate_limit_service_is_refused_naming_the_field() {
    native_only!("Envoy's dynamic-module ABI has no gRPC calls; the Wasm build calls the service");
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let config = json!({
        "service": { "cluster": "ratelimit", "domain": "shop" },
        "rules": [{ "name": "per-tenant", "global": { "descriptor": [
            { "key": "tenant", "from": { "header": "x-tenant" } }] } }]
    });
    for (filter, config, field) in [
        ("rate-limit", config.clone(), "service"),
        (
            "chain",
            json!({ "rate_limit": config }),
            "rate_limit.service",
        ),
    ] {
        let err = Envoy::start(&Bootstrap::new(&backend).filter(WasmFilter::new(filter, config)))
            .err()
            .unwrap_or_else(|| panic!("Envoy accepted a {filter} service config"));
        let name = if filter == "chain" {
            "chain"
        } else {
            "rate-limit"
        };
        let needle = format!(
            "meshwasm {name}: invalid configuration: field `{field}`: the native build cannot call gRPC services (Envoy's dynamic-module ABI has no gRPC calls)"
        );
        assert!(err.log.contains(&needle), "no `{needle}` in:\n{}", err.log);
    }
}
