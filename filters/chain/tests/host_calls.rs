//! How many host calls of each kind one benchmark request makes, per
//! benchmark configuration (tools/bench-configs): each host call costs
//! 0.06 to 0.9 µs in Envoy's V8, so a change that adds one shows up here,
//! in `make test`, and not only in the next `make bench`.

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
fn calls<F: Filter>(config: serde_json::Value) -> [BTreeMap<&'static str, usize>; 3] {
    calls_with::<F>(config, Default::default())
}

/// [`calls`] with the native adapter's read plans (headers one by one).
fn native_calls<F: Filter>(config: serde_json::Value) -> [BTreeMap<&'static str, usize>; 3] {
    calls_with::<F>(config, [(); 3].map(|()| ReadPlan::one_by_one()))
}

fn calls_with<F: Filter>(
    config: serde_json::Value,
    plans: [ReadPlan; 3],
) -> [BTreeMap<&'static str, usize>; 3] {
    let parsed = meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap();
    let filter = Rc::new(F::new(parsed).unwrap());
    let proxy = FakeHost::new();
    let [request_plan, response_plan, log_plan] = &plans;
    let mut phases = Default::default();
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
    phases
}

/// `[(kind, count)]` as a map.
fn map(calls: &[(&'static str, usize)]) -> BTreeMap<&'static str, usize> {
    calls.iter().copied().collect()
}

#[test]
fn auth_api_key() {
    let [request, response, log] = calls::<Auth>(config("auth-api-key"));
    assert_eq!(
        request,
        map(&[
            ("headers", 1),
            ("increment_metric", 1),
            ("remove_header", 1),
            ("set_header", 1)
        ])
    );
    assert_eq!((response, log), Default::default());
}

#[test]
fn rate_limit() {
    let [request, response, log] = calls::<RateLimit>(config("rate-limit"));
    assert_eq!(
        request,
        map(&[
            ("header", 1),
            ("increment_metric", 1),
            ("now", 1),
            ("shared_get", 1),
            ("shared_set", 1)
        ])
    );
    assert_eq!((response, log), Default::default());
}

#[test]
fn header_router() {
    let [request, response, log] = calls::<HeaderRouter>(config("header-router"));
    assert_eq!(
        request,
        map(&[
            ("clear_route_cache", 1),
            ("header", 1),
            ("increment_metric", 1),
            ("set_header", 1)
        ])
    );
    assert_eq!((response, log), Default::default());
}

#[test]
fn metrics() {
    let [request, response, log] = calls::<Metrics>(config("metrics"));
    assert_eq!(request, map(&[("now", 1)]));
    assert_eq!(response, Default::default());
    assert_eq!(
        log,
        map(&[
            ("headers", 1),
            ("increment_metric", 1),
            ("now", 1),
            ("property", 3),
            ("record_metric", 1)
        ])
    );
}

/// The chain's end of a request, with either build's plans: the method and
/// the consumer were known on the way in (auth read the request and wrote
/// the consumer), so the end reads no header.
fn chain_log() -> BTreeMap<&'static str, usize> {
    map(&[
        ("increment_metric", 1),
        ("now", 1),
        ("property", 3),
        ("record_metric", 1),
    ])
}

#[test]
fn the_chain_reads_each_thing_once() {
    let [request, response, log] = calls::<MeshChain>(chain_config());
    assert_eq!(
        request,
        map(&[
            ("clear_route_cache", 1),
            ("headers", 1),
            ("increment_metric", 3),
            ("now", 1),
            ("remove_header", 1),
            ("set_header", 2),
            ("shared_get", 1),
            ("shared_set", 1)
        ])
    );
    assert_eq!((response, log), (Default::default(), chain_log()));
}

#[test]
fn natively_the_chain_reads_headers_one_by_one_and_each_once() {
    let [request, response, log] = native_calls::<MeshChain>(chain_config());
    // Four headers read alone (a single read is a lookup natively, the map a
    // copy of every header); the client's copy of the identity header is
    // removed without reading it first.
    assert_eq!(
        request,
        map(&[
            ("clear_route_cache", 1),
            ("header", 4),
            ("increment_metric", 3),
            ("now", 1),
            ("remove_header", 2),
            ("set_header", 2),
            ("shared_get", 1),
            ("shared_set", 1)
        ])
    );
    assert_eq!((response, log), (Default::default(), chain_log()));
}
