//! How many host calls of each kind one benchmark request makes, per
//! benchmark configuration (tools/bench-configs): a host call made in a
//! request costs several µs on the benchmark machine (the bench's `floor-`
//! rows), so a change that adds one shows up here, in `make test`, and not
//! only in the next `make bench`. The counts are in
//! tools/bench-configs/host-calls.json, which the `floor-` rows make.

// A test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use meshwasm_auth::Auth;
use meshwasm_chain::MeshChain;
use meshwasm_core::request::{ReadPlan, Request};
use meshwasm_core::testing::FakeHost;
use meshwasm_core::{stage, Filter, Flow, Stage};
use meshwasm_header_router::HeaderRouter;
use meshwasm_metrics::Metrics;
use meshwasm_rate_limit::RateLimit;
use std::collections::BTreeMap;
use std::rc::Rc;
use support::{bench_request, chain_config, config};

mod support;

/// The host calls of each phase of one request, after a first request
/// has warmed the filter (metric ids defined, label values admitted, read
/// plans learned), each phase with its read plan and run as the adapter
/// runs it.
fn calls<F: Filter>(config: serde_json::Value) -> Counts {
    calls_with::<F>(config, Default::default())
}

/// [`calls`] with the native adapter's read plans (headers one by one).
fn native_calls<F: Filter>(config: serde_json::Value) -> Counts {
    calls_with::<F>(config, [(); 3].map(|()| ReadPlan::one_by_one()))
}

fn calls_with<F: Filter>(config: serde_json::Value, plans: [ReadPlan; 3]) -> Counts {
    let parsed = meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap();
    let filter = Rc::new(F::new(parsed).unwrap());
    let proxy = FakeHost::new();
    let [request_plan, response_plan, log_plan] = &plans;
    let mut phases: [BTreeMap<&'static str, usize>; 3] = Default::default();
    for _ in 0..2 {
        let mut host = bench_request(&proxy);
        let mut stage = filter.stage();
        let flow = stage::request_phase(
            &mut stage,
            &mut Request::planned(&mut host, Some(request_plan)),
            |stage, request| stage.on_request_headers(request),
        );
        assert_eq!(flow, Flow::Continue);
        let request = host.take_host_calls();
        stage.on_response_headers(&mut Request::planned(&mut host, Some(response_plan)));
        let response = host.take_host_calls();
        stage.on_log(&mut Request::planned(&mut host, Some(log_plan)));
        phases = [request, response, host.take_host_calls()];
    }
    phases.map(|calls| calls.into_iter().map(|(k, n)| (k.to_owned(), n)).collect())
}

/// Per phase (request, response, log): host calls of each kind.
type Counts = [BTreeMap<String, usize>; 3];

/// What tools/bench-configs/host-calls.json says a bench row's request
/// makes (the bench's `floor-` rows make the same calls).
fn expected(row: &str) -> Counts {
    let all: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/bench-configs/host-calls.json"
    )))
    .unwrap();
    ["request", "response", "log"].map(|phase| {
        let counts = all.get(row).and_then(|r| r.get(phase));
        let counts = counts.unwrap_or_else(|| panic!("host-calls.json has no {row}.{phase}"));
        serde_json::from_value(counts.clone()).unwrap()
    })
}

#[test]
fn auth_api_key() {
    assert_eq!(
        calls::<Auth>(config("auth-api-key")),
        expected("auth-api-key")
    );
}

#[test]
fn rate_limit() {
    assert_eq!(
        calls::<RateLimit>(config("rate-limit")),
        expected("rate-limit")
    );
}

#[test]
fn header_router() {
    assert_eq!(
        calls::<HeaderRouter>(config("header-router")),
        expected("header-router")
    );
}

/// Metrics reads the clock on the way in and, at the end, the method and
/// consumer (the header map), the response code, route and cluster.
#[test]
fn metrics() {
    assert_eq!(calls::<Metrics>(config("metrics")), expected("metrics"));
}

/// One read of the header map and one of the clock for all four stages on
/// the way in; at the end no header (the method and the consumer were known
/// on the way in: auth read the request and wrote the consumer).
#[test]
fn the_chain_reads_each_thing_once() {
    assert_eq!(
        calls::<MeshChain>(chain_config()),
        expected("chain-1-module")
    );
}

/// Natively, four headers are read alone (a single read is a lookup, the
/// map a copy of every header), and the client's copy of the identity
/// header is removed without reading it first.
#[test]
fn natively_the_chain_reads_headers_one_by_one_and_each_once() {
    assert_eq!(
        native_calls::<MeshChain>(chain_config()),
        expected("chain-dm")
    );
}
