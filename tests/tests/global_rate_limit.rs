//! Global limits: two Envoys (two workers each) in front of one rate limit
//! service, which counts in Redis (`examples/ratelimit-service`, built on
//! Kuadrant's Limitador engine). A limit is exact across all of them; a
//! service that stops, or a Redis that restarts, does what the docs say.

use meshwasm_e2e::{send, Bootstrap, Echo, Envoy, RateLimitService, Redis, WasmFilter};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Barrier;

/// Why these tests skip themselves under the native build.
const NO_GRPC: &str = "the native build has no gRPC calls: a rate-limit `service` is refused there";

/// A limits file (Limitador's format): `max_value` requests per minute per
/// `tenant`, for the domain `meshwasm`.
fn limits(max_value: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshwasm-global-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("limits-{max_value}.yaml"));
    std::fs::write(
        &path,
        format!(
            "- namespace: meshwasm\n  name: per-tenant\n  max_value: {max_value}\n  seconds: 60\n  \
             conditions: []\n  variables: [\"descriptors[0].tenant\"]\n"
        ),
    )
    .unwrap();
    path
}

/// The rate-limit filter with one global rule per `x-tenant`.
fn filter(failure_mode: &str) -> WasmFilter {
    WasmFilter::new(
        "rate-limit",
        json!({
            "service": {"cluster": "ratelimit", "domain": "meshwasm", "timeout_ms": 5000,
                        "failure_mode": failure_mode},
            "response_headers": true,
            "rules": [{"name": "per-tenant", "global": {"descriptor": [
                {"key": "tenant", "from": {"header": "x-tenant"}}]}}]
        }),
    )
}

fn envoy(backend: &Echo, service: &RateLimitService, failure_mode: &str) -> Envoy {
    let bootstrap = Bootstrap::new(backend)
        .grpc_cluster("ratelimit", service.addr())
        .filter(filter(failure_mode));
    Envoy::start(&bootstrap).unwrap_or_else(|e| panic!("{e}"))
}

/// What the filter counted of its calls to the service, by outcome.
fn calls(envoy: &Envoy, outcome: &str) -> f64 {
    envoy.counter(
        "meshwasm_ratelimit_service_calls_total",
        &[("outcome", outcome)],
    )
}

#[test]
fn two_envoys_share_one_limit_exactly() {
    meshwasm_e2e::wasm_only!(NO_GRPC);
    let redis = Redis::start().unwrap();
    let service = RateLimitService::start(&redis, &limits(50)).unwrap();
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    // Deny when the service cannot answer: a failure can only lower the
    // count that passed, never raise it.
    let envoys = [
        envoy(&backend, &service, "deny"),
        envoy(&backend, &service, "deny"),
    ];
    for run in 0..10 {
        let tenant = format!("tenant-{run}");
        let barrier = Barrier::new(200);
        let statuses: Vec<(usize, u16)> = std::thread::scope(|scope| {
            let sent: Vec<_> = (0..200)
                .map(|i| {
                    let (barrier, tenant, envoy) = (&barrier, &tenant, &envoys[i % 2]);
                    scope.spawn(move || {
                        barrier.wait();
                        let answer = send(
                            "GET",
                            &format!("{}/", envoy.url()),
                            &[("x-tenant", tenant)],
                            b"",
                        );
                        (i % 2, answer.status)
                    })
                })
                .collect();
            sent.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let passed = statuses.iter().filter(|(_, s)| *s == 200).count();
        let limited = statuses.iter().filter(|(_, s)| *s == 429).count();
        assert_eq!((passed, limited), (50, 150), "run {run}");
        for (i, envoy) in envoys.iter().enumerate() {
            assert!(
                statuses.iter().any(|(e, s)| *e == i && *s == 200),
                "run {run}: nothing passed through Envoy {i}"
            );
            for outcome in ["timeout", "unavailable", "error", "invalid"] {
                assert_eq!(
                    calls(envoy, outcome),
                    0.0,
                    "run {run}: Envoy {i}: {outcome}"
                );
            }
        }
    }
    let answered: f64 = envoys
        .iter()
        .map(|e| calls(e, "ok") + calls(e, "over_limit"))
        .sum();
    assert_eq!(answered, 2000.0);
}

#[test]
fn over_the_limit_answers_as_a_local_limit_does() {
    meshwasm_e2e::wasm_only!(NO_GRPC);
    let redis = Redis::start().unwrap();
    let service = RateLimitService::start(&redis, &limits(2)).unwrap();
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = envoy(&backend, &service, "deny");
    let tenant = [("x-tenant", "acme")];
    let first = envoy.get("/", &tenant);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"per-tenant\";q=2;w=60")
    );
    assert_eq!(envoy.get("/", &tenant).status, 200);
    let refused = envoy.get("/", &tenant);
    assert_eq!(refused.status, 429);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    let body: Value = refused.json();
    assert_eq!(body["error"], "rate_limited");
    // Another tenant has a count of its own.
    assert_eq!(envoy.get("/", &[("x-tenant", "globex")]).status, 200);
    assert_eq!(backend.received().len(), 3);
    assert_eq!(
        envoy.counter(
            "meshwasm_ratelimit_requests_total",
            &[("rule", "per-tenant"), ("decision", "limited")]
        ),
        1.0
    );
}

#[test]
fn a_stopped_service_gives_the_configured_failure_mode() {
    meshwasm_e2e::wasm_only!(NO_GRPC);
    let redis = Redis::start().unwrap();
    let mut service = RateLimitService::start(&redis, &limits(100)).unwrap();
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let open = envoy(&backend, &service, "allow");
    let closed = envoy(&backend, &service, "deny");
    let tenant = [("x-tenant", "acme")];
    assert_eq!(open.get("/", &tenant).status, 200);
    assert_eq!(closed.get("/", &tenant).status, 200);
    service.stop();
    for _ in 0..3 {
        assert_eq!(open.get("/", &tenant).status, 200);
        let refused = closed.get("/", &tenant);
        assert_eq!(refused.status, 429);
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert!(
            refused.body.contains("could not be checked"),
            "{}",
            refused.body
        );
    }
    for envoy in [&open, &closed] {
        assert_eq!(calls(envoy, "unavailable"), 3.0);
        assert_eq!(
            envoy.counter(
                "meshwasm_ratelimit_requests_total",
                &[("rule", "per-tenant"), ("decision", "error")]
            ),
            3.0
        );
    }
}

#[test]
fn a_redis_restart_forgets_the_current_window_and_no_more() {
    meshwasm_e2e::wasm_only!(NO_GRPC);
    let mut redis = Redis::start().unwrap();
    let service = RateLimitService::start(&redis, &limits(5)).unwrap();
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = envoy(&backend, &service, "deny");
    let tenant = [("x-tenant", "acme")];
    let status = || envoy.get("/", &tenant).status;
    assert_eq!([status(), status(), status()], [200, 200, 200]);
    redis.restart().unwrap();
    // Until the service has reconnected, requests are refused (deny); once
    // it has, the tenant starts a new window: the 3 counted before are
    // lost, never more than the limit is granted again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut statuses = Vec::new();
    while statuses.iter().filter(|s| **s == 200).count() < 5 {
        assert!(std::time::Instant::now() < deadline, "{statuses:?}");
        statuses.push(status());
    }
    assert_eq!([status(), status()], [429, 429], "after {statuses:?}");
}
