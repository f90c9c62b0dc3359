//! The rate-limit filter in a real Envoy with two workers: limits hold
//! exactly across workers, refill, keep clients apart, and say so on the
//! wire and in `/stats/prometheus`.

use meshwasm_e2e::{Answer, Bootstrap, Echo, Envoy, WasmFilter};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

fn start(config: Value) -> (Envoy, Echo) {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy =
        Envoy::start(&Bootstrap::new(&backend).filter(WasmFilter::new("rate-limit", config)))
            .unwrap_or_else(|e| panic!("{e}"));
    (envoy, backend)
}

/// `threads` × `each` requests at once, each on a connection of its own.
fn burst(envoy: &Envoy, threads: usize, each: usize, headers: &[(&str, &str)]) -> Vec<Answer> {
    let url = envoy.url().to_owned();
    let start = Arc::new(Barrier::new(threads));
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (url, start, headers) = (url.clone(), Arc::clone(&start), headers.clone());
            thread::spawn(move || {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                start.wait();
                (0..each)
                    .map(|_| meshwasm_e2e::send("GET", &format!("{url}/orders"), &headers, b""))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect()
}

fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

/// Connections each Envoy worker accepted.
fn connections_per_worker(envoy: &Envoy) -> Vec<u64> {
    let stats = envoy
        .admin_get("/stats?filter=worker_.\\.downstream_cx_total")
        .body;
    stats
        .lines()
        .filter(|l| l.starts_with("listener.127.0.0.1_"))
        .filter_map(|l| l.rsplit_once(": ")?.1.parse().ok())
        .collect()
}

#[test]
fn a_concurrent_burst_passes_exactly_the_limit_across_workers() {
    let (envoy, backend) = start(json!({
        "rules": [{ "name": "per-tenant", "key": [{ "header": "x-tenant" }],
                    "limit": { "requests": 10, "per": "minute" } }]
    }));
    for round in 0..5 {
        let tenant = format!("tenant-{round}");
        let answers = burst(&envoy, 8, 5, &[("x-tenant", &tenant)]);
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        statuses.sort();
        assert_eq!(
            count(&answers, 200),
            10,
            "round {round}: {statuses:?} {:?}",
            answers.iter().find(|a| a.status != 200 && a.status != 429)
        );
        assert_eq!(count(&answers, 429), 30, "round {round}");
    }
    assert_eq!(backend.received().len(), 50);
    let workers = connections_per_worker(&envoy);
    assert_eq!(workers.len(), 2, "{workers:?}");
    assert!(
        workers.iter().all(|c| *c > 0),
        "one worker took every connection: {workers:?}"
    );
    assert_eq!(
        envoy.counter(
            "meshwasm_ratelimit_requests_total",
            &[("rule", "per-tenant"), ("decision", "allowed")]
        ),
        50.0
    );
    assert_eq!(
        envoy.counter(
            "meshwasm_ratelimit_requests_total",
            &[("rule", "per-tenant"), ("decision", "limited")]
        ),
        150.0
    );
}

#[test]
fn a_429_says_when_to_come_back_and_the_bucket_refills() {
    let (envoy, _backend) = start(json!({
        "rules": [{ "name": "per-second", "limit": { "requests": 2, "per": "second" } }],
        "response_headers": true
    }));
    let first = envoy.get("/", &[]);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"per-second\";q=2;w=1")
    );
    assert_eq!(envoy.get("/", &[]).status, 200);
    let limited = envoy.get("/", &[]);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(limited.header("ratelimit"), Some("\"per-second\";r=0;t=1"));
    assert_eq!(limited.header("content-type"), Some("application/json"));
    assert_eq!(limited.json()["error"], "rate_limited");
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(envoy.get("/", &[]).status, 200, "refilled after the window");
}

/// One trusted proxy in front, set where it belongs: on Envoy
/// (`xff_num_trusted_hops`), whose client address the filter keys on. (With
/// `use_remote_address`, Envoy appends the address it saw to
/// `x-forwarded-for`, so the filter's own `xff_trusted_hops: 1` would name
/// that entry, the same for every client.)
#[test]
fn clients_are_told_apart_past_trusted_proxies_only() {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = Envoy::start(&Bootstrap::new(&backend).xff_num_trusted_hops(1).filter(
        WasmFilter::new(
            "rate-limit",
            json!({
                "rules": [{ "name": "per-client", "key": ["client_address"],
                            "limit": { "requests": 2, "per": "minute" } }]
            }),
        ),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let from = |xff: &str| envoy.get("/", &[("x-forwarded-for", xff)]).status;
    assert_eq!(
        [from("1.1.1.1"), from("1.1.1.1"), from("1.1.1.1")],
        [200, 200, 429]
    );
    assert_eq!(from("2.2.2.2"), 200, "another client has its own bucket");
    // Forged entries to the left of the trusted one change nothing.
    assert_eq!(from("9.9.9.9, 1.1.1.1"), 429);
    assert_eq!(from("8.8.8.8, 7.7.7.7, 1.1.1.1"), 429);
}

#[test]
fn shadow_rules_count_but_never_block() {
    let (envoy, backend) = start(json!({
        "rules": [{ "name": "trial", "shadow": true, "limit": { "requests": 3, "per": "minute" } }]
    }));
    let answers = burst(&envoy, 2, 5, &[]);
    assert_eq!(count(&answers, 200), 10);
    assert_eq!(backend.received().len(), 10);
    let counter = |decision| {
        envoy.counter(
            "meshwasm_ratelimit_requests_total",
            &[("rule", "trial"), ("decision", decision)],
        )
    };
    assert_eq!(counter("allowed"), 3.0);
    assert_eq!(counter("shadow_limited"), 7.0);
    assert_eq!(counter("limited"), 0.0);
}

#[test]
fn only_matching_requests_are_limited() {
    let (envoy, _backend) = start(json!({
        "rules": [{ "name": "writes", "match": { "methods": ["POST"], "path": { "prefix": "/orders" } },
                    "limit": { "requests": 1, "per": "minute" } }]
    }));
    for _ in 0..3 {
        assert_eq!(envoy.get("/orders", &[]).status, 200);
    }
    assert_eq!(envoy.request("POST", "/orders", &[], b"{}").status, 200);
    assert_eq!(envoy.request("POST", "/orders", &[], b"{}").status, 429);
    assert_eq!(envoy.request("POST", "/other", &[], b"{}").status, 200);
}
