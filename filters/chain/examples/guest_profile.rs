//! Where a request's time goes inside the guest: each bench configuration
//! (tools/bench-configs) runs many benchmark requests through its stage
//! against the in-memory host, and this prints the guest's own µs per
//! request and phase. Host calls here cost next to nothing, so what is
//! left is the filters' own work; what Envoy's host calls add is counted
//! by tests/host_calls.rs and priced in docs/benchmarks.md.
//!
//! Run it compiled to Wasm, under Wasmtime (Cranelift, close to V8's
//! optimising tier), with `make guest-profile`, or natively with
//! `cargo run --release -p meshwasm-chain --example guest_profile`.

// A profiling tool: a failed unwrap is a broken setup.
#![allow(clippy::unwrap_used, clippy::panic)]

use meshwasm_auth::Auth;
use meshwasm_chain::MeshChain;
use meshwasm_core::request::{ReadPlan, Request};
use meshwasm_core::testing::FakeHost;
use meshwasm_core::{stage, Filter, Stage};
use meshwasm_header_router::HeaderRouter;
use meshwasm_metrics::Metrics;
use meshwasm_rate_limit::RateLimit;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

/// Requests timed per configuration, after as many to warm up
/// (`GUEST_PROFILE_REQUESTS` overrides).
fn requests() -> u32 {
    std::env::var("GUEST_PROFILE_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

/// µs per request in each phase: request headers, then log.
fn profile<F: Filter>(config: serde_json::Value) -> [f64; 2] {
    let parsed = meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap();
    let filter = Rc::new(F::new(parsed).unwrap());
    let proxy = FakeHost::new();
    let plans: [ReadPlan; 2] = Default::default();
    let [request_plan, log_plan] = &plans;
    let mut spent = [Duration::ZERO; 2];
    for round in 0..2 {
        spent = [Duration::ZERO; 2];
        for _ in 0..requests() {
            let mut host = support::bench_request(&proxy);
            let mut stage = filter.stage();
            let start = Instant::now();
            stage::request_phase(
                &mut stage,
                &mut Request::planned(&mut host, Some(request_plan)),
                |stage, request| stage.on_request_headers(request),
            );
            let middle = Instant::now();
            stage.on_log(&mut Request::planned(&mut host, Some(log_plan)));
            let end = Instant::now();
            spent[0] += middle - start;
            spent[1] += end - middle;
        }
        let _ = round;
    }
    spent.map(|d| d.as_secs_f64() * 1e6 / f64::from(requests()))
}

fn main() {
    let rows: [(&str, [f64; 2]); 6] = [
        (
            "auth-api-key",
            profile::<Auth>(support::config("auth-api-key")),
        ),
        (
            "rate-limit",
            profile::<RateLimit>(support::config("rate-limit")),
        ),
        (
            "header-router",
            profile::<HeaderRouter>(support::config("header-router")),
        ),
        ("metrics", profile::<Metrics>(support::config("metrics"))),
        ("trivial", profile::<RateLimit>(support::config("trivial"))),
        (
            "chain-1-module",
            profile::<MeshChain>(support::chain_config()),
        ),
    ];
    println!(
        "guest µs per request (in-memory host; {} requests after as many warm-up)",
        requests()
    );
    println!(
        "{:<16} {:>16} {:>8} {:>8}",
        "configuration", "request headers", "log", "total"
    );
    for (name, [request, log]) in rows {
        println!(
            "{name:<16} {request:>16.2} {log:>8.2} {:>8.2}",
            request + log
        );
    }
}
