//! The metrics filter in a real Envoy: after a known mix of requests,
//! `/stats/prometheus` (read with a Prometheus text-format parser) shows
//! the right counts, histogram counts and label values, and a flood of
//! hostile label values stays within the cap.

use meshwasm_e2e::{Bootstrap, Echo, Envoy, WasmFilter};
use serde_json::json;
use std::time::{Duration, Instant};

const REQUESTS: &str = "meshwasm_requests_total";
const DURATION: &str = "meshwasm_request_duration_milliseconds";

/// Waits until the histograms have been flushed (once a second) with at
/// least `samples` samples.
fn wait_for_histograms(envoy: &Envoy, samples: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while envoy.histogram_count(DURATION, &[]) < samples {
        assert!(
            Instant::now() < deadline,
            "histograms never showed {samples} samples"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_known_mix_of_requests_shows_up_with_its_labels() {
    let v1 = Echo::start("v1", "127.0.0.1:0").unwrap();
    let v2 = Echo::start("v2", "127.0.0.1:0").unwrap();
    let envoy = Envoy::start(
        &Bootstrap::new(&v1)
            .route_on_header("x-route-version", "v2", &v2)
            .stats_label("tenant")
            .filter(WasmFilter::new(
                "metrics",
                json!({
                    "consumer_header": "x-meshwasm-consumer",
                    "extra_labels": [{ "name": "tenant", "header": "x-tenant", "values": ["acme"] }],
                    "sizes": true,
                    "in_flight": true
                }),
            ))
            .filter(WasmFilter::new(
                "auth",
                json!({ "api_key": { "consumers": [
                    { "name": "alice", "key": "alice-key" }, { "name": "bob", "key": "bob-key" }] } }),
            )),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let alice = ("x-api-key", "alice-key");
    for _ in 0..3 {
        assert_eq!(
            envoy.get("/orders", &[alice, ("x-tenant", "acme")]).status,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            envoy
                .request(
                    "POST",
                    "/orders",
                    &[("x-api-key", "bob-key"), ("x-route-version", "v2")],
                    b"{}"
                )
                .status,
            200
        );
    }
    assert_eq!(
        envoy
            .get(
                "/orders",
                &[alice, ("x-echo-status", "503"), ("x-tenant", "initech")]
            )
            .status,
        503
    );
    for _ in 0..2 {
        assert_eq!(envoy.get("/orders", &[]).status, 401);
    }
    wait_for_histograms(&envoy, 8.0);

    let count = |labels: &[(&str, &str)]| envoy.counter(REQUESTS, labels);
    assert_eq!(
        count(&[
            ("method", "GET"),
            ("code", "200"),
            ("code_class", "2xx"),
            ("route", "default"),
            ("cluster", "v1"),
            ("consumer", "alice"),
            ("tenant", "acme")
        ]),
        3.0
    );
    assert_eq!(
        count(&[
            ("method", "POST"),
            ("code", "200"),
            ("route", "to-v2"),
            ("cluster", "v2"),
            ("consumer", "bob"),
            ("tenant", "none")
        ]),
        2.0
    );
    assert_eq!(
        count(&[
            ("code", "503"),
            ("code_class", "5xx"),
            ("consumer", "alice"),
            ("tenant", "other")
        ]),
        1.0
    );
    // Denied by auth before any upstream: the metrics filter, first in the
    // chain, still sees the answer.
    assert_eq!(
        count(&[("code", "401"), ("code_class", "4xx"), ("consumer", "none")]),
        2.0
    );
    assert_eq!(count(&[]), 8.0);
    assert_eq!(
        envoy.histogram_count(DURATION, &[("consumer", "alice"), ("code", "200")]),
        3.0
    );
    assert_eq!(
        envoy.histogram_count("meshwasm_response_bytes", &[("cluster", "v2")]),
        2.0
    );
    assert_eq!(
        envoy.counter(
            "meshwasm_auth_requests_total",
            &[
                ("decision", "unauthorized"),
                ("reason", "missing_credentials")
            ]
        ),
        2.0
    );
    assert_eq!(
        envoy.counter(
            "meshwasm_auth_requests_total",
            &[("decision", "allowed"), ("reason", "api_key")]
        ),
        6.0
    );
    let in_flight = envoy
        .prometheus()
        .into_iter()
        .find(|s| {
            s.metric == "meshwasm_requests_in_flight" && s.labels.get("method") == Some("POST")
        })
        .unwrap_or_else(|| {
            panic!(
                "no in-flight gauge in {}",
                envoy.admin_get("/stats/prometheus").body
            )
        });
    assert!(
        matches!(in_flight.value, prometheus_parse::Value::Gauge(v) if v == 0.0),
        "{in_flight:?}"
    );
}

#[test]
fn a_flood_of_hostile_label_values_stays_within_the_cap() {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = Envoy::start(&Bootstrap::new(&backend).filter(WasmFilter::new(
        "metrics",
        json!({ "consumer_header": "x-user", "max_label_values": 5 }),
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..60 {
        let user = format!("attacker-{i}");
        assert_eq!(envoy.get("/", &[("x-user", &user)]).status, 200);
    }
    let consumers: std::collections::BTreeSet<String> = envoy
        .prometheus()
        .into_iter()
        .filter(|s| s.metric == REQUESTS)
        .filter_map(|s| s.labels.get("consumer").map(str::to_owned))
        .collect();
    assert_eq!(
        consumers.len(),
        6,
        "five admitted values and `other`: {consumers:?}"
    );
    assert!(consumers.contains("other"));
    assert_eq!(envoy.counter(REQUESTS, &[("consumer", "other")]), 55.0);
    assert_eq!(
        envoy.counter(
            "meshwasm_label_overflow_total",
            &[("label_name", "consumer")]
        ),
        55.0
    );
}
