//! What the benchmark runs, for the tests and the guest profile: its
//! filter configurations and its request.

use meshwasm_core::testing::FakeHost;

/// A configuration from tools/bench-configs (compiled in, so it also
/// runs where there is no file system, as under Wasmtime).
pub fn config(name: &str) -> serde_json::Value {
    macro_rules! bench_config {
        ($file:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tools/bench-configs/",
                $file
            ))
        };
    }
    let text = match name {
        "auth-api-key" => bench_config!("auth-api-key.json"),
        "rate-limit" => bench_config!("rate-limit.json"),
        "header-router" => bench_config!("header-router.json"),
        "metrics" => bench_config!("metrics.json"),
        "trivial" => bench_config!("trivial.json"),
        other => panic!("no bench configuration {other}"),
    };
    serde_json::from_str(text).unwrap()
}

/// The four bench configurations as the chain module takes them.
pub fn chain_config() -> serde_json::Value {
    serde_json::json!({
        "metrics": config("metrics"),
        "auth": config("auth-api-key"),
        "rate_limit": config("rate-limit"),
        "header_router": config("header-router"),
    })
}

/// The benchmark request, as Envoy hands it to the filters.
pub fn bench_request(proxy: &FakeHost) -> FakeHost {
    let mut host = proxy.sharing(&[
        (":authority", "127.0.0.1:10000"),
        (":path", "/bench"),
        (":method", "GET"),
        (":scheme", "http"),
        ("x-tenant", "tenant-10"),
        ("x-api-key", "alice-bench-key-7f3a9c"),
        ("authorization", "Bearer x.y.z"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
    ]);
    host.properties
        .insert("source.address".into(), b"127.0.0.1:40000".to_vec());
    host.properties
        .insert("response.code".into(), 200_i64.to_le_bytes().to_vec());
    host.properties
        .insert("xds.route_name".into(), b"bench".to_vec());
    host.properties
        .insert("xds.cluster_name".into(), b"upstream".to_vec());
    host.properties
        .insert("request.total_size".into(), 300_i64.to_le_bytes().to_vec());
    host.properties
        .insert("response.total_size".into(), 120_i64.to_le_bytes().to_vec());
    host
}
