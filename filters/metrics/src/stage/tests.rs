//! The metrics stage against an in-memory host.

use super::*;
use meshwasm_core::testing::FakeHost;
use meshwasm_core::{Filter, HeaderMap, MetricKind};
use serde_json::{json, Value};
use std::time::Duration;

fn metrics(config: Value) -> Rc<Metrics> {
    Rc::new(
        Metrics::new(meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap()).unwrap(),
    )
}

/// One exchange: request headers, then the log with these properties.
fn exchange(
    filter: &Rc<Metrics>,
    proxy: &FakeHost,
    method: &str,
    headers: &[(&str, &str)],
    code: i64,
    route: &str,
) {
    let mut all = vec![(":method", method), (":path", "/")];
    all.extend_from_slice(headers);
    let mut host = proxy.sharing(&all);
    let mut stage = filter.stage();
    stage.on_request_headers(&mut host.view());
    host.now += Duration::from_millis(42);
    host.properties
        .insert("response.code".into(), code.to_le_bytes().to_vec());
    host.properties
        .insert("xds.route_name".into(), route.as_bytes().to_vec());
    host.properties
        .insert("xds.cluster_name".into(), b"backend".to_vec());
    host.properties
        .insert("request.total_size".into(), 120i64.to_le_bytes().to_vec());
    host.properties
        .insert("response.total_size".into(), 2048i64.to_le_bytes().to_vec());
    stage.on_log(&mut host.view());
}

fn series(
    method: &str,
    code: &str,
    class: &str,
    route: &str,
    consumer: &str,
    base: &str,
) -> String {
    format!(
        "method=.={method};.;code=.={code};.;code_class=.={class};.;route=.={route};.;cluster=.=backend;.;consumer=.={consumer};.;meshwasm_{base}"
    )
}

#[test]
fn a_request_is_counted_timed_and_sized() {
    let filter = metrics(
        json!({"consumer_header": "x-meshwasm-consumer", "sizes": true, "in_flight": true}),
    );
    let proxy = FakeHost::new();
    exchange(
        &filter,
        &proxy,
        "GET",
        &[("x-meshwasm-consumer", "alice")],
        200,
        "orders",
    );
    exchange(
        &filter,
        &proxy,
        "GET",
        &[("x-meshwasm-consumer", "alice")],
        200,
        "orders",
    );
    exchange(&filter, &proxy, "BREW", &[], 503, "orders");
    assert_eq!(
        proxy.counter(&series(
            "GET",
            "200",
            "2xx",
            "orders",
            "alice",
            "requests_total"
        )),
        2
    );
    assert_eq!(
        proxy.counter(&series(
            "OTHER",
            "503",
            "5xx",
            "orders",
            "none",
            "requests_total"
        )),
        1
    );
    let duration = proxy
        .metric(&series(
            "GET",
            "200",
            "2xx",
            "orders",
            "alice",
            "request_duration_milliseconds",
        ))
        .unwrap();
    assert_eq!(
        (duration.kind, duration.samples),
        (MetricKind::Histogram, vec![42, 42])
    );
    let sizes = proxy
        .metric(&series(
            "GET",
            "200",
            "2xx",
            "orders",
            "alice",
            "response_bytes",
        ))
        .unwrap();
    assert_eq!(sizes.samples, [2048, 2048]);
    let in_flight = proxy
        .metric("method=.=GET;.;meshwasm_requests_in_flight")
        .unwrap();
    assert_eq!((in_flight.kind, in_flight.value), (MetricKind::Gauge, 0));
}

#[test]
fn extra_labels_keep_allowed_values_only() {
    let filter = metrics(json!({"prefix": "mw", "extra_labels": [
        {"name": "tenant", "header": "x-tenant", "values": ["acme"]}]}));
    let proxy = FakeHost::new();
    for tenant in ["acme", "evil", "evil-2"] {
        exchange(&filter, &proxy, "GET", &[("x-tenant", tenant)], 200, "r");
    }
    exchange(&filter, &proxy, "GET", &[], 200, "r");
    let name = |tenant: &str| {
        format!("method=.=GET;.;code=.=200;.;code_class=.=2xx;.;route=.=r;.;cluster=.=backend;.;consumer=.=none;.;tenant=.={tenant};.;mw_requests_total")
    };
    assert_eq!(proxy.counter(&name("acme")), 1);
    assert_eq!(proxy.counter(&name("other")), 2);
    assert_eq!(proxy.counter(&name("none")), 1);
}

#[test]
fn hostile_values_stop_at_the_cap_and_the_overflow_is_counted() {
    let filter = metrics(json!({"consumer_header": "x-user", "max_label_values": 3}));
    let proxy = FakeHost::new();
    for i in 0..50 {
        let user = format!("attacker-{i}");
        exchange(&filter, &proxy, "GET", &[("x-user", &user)], 200, "r");
    }
    let requests: Vec<_> = proxy
        .metrics()
        .into_iter()
        .filter(|m| m.name.ends_with("meshwasm_requests_total"))
        .collect();
    assert_eq!(requests.len(), 4, "three consumers and `other`");
    assert_eq!(
        proxy.counter(&series("GET", "200", "2xx", "r", "other", "requests_total")),
        47
    );
    assert_eq!(
        proxy.counter("label_name=.=consumer;.;meshwasm_label_overflow_total"),
        47
    );
}

#[test]
fn series_over_the_cap_share_one_overflow_series() {
    let filter = metrics(json!({"max_series": 2}));
    let proxy = FakeHost::new();
    for route in ["a", "b", "c", "d"] {
        exchange(&filter, &proxy, "GET", &[], 200, route);
    }
    let overflow = "method=.=OTHER;.;code=.=200;.;code_class=.=2xx;.;route=.=other;.;cluster=.=other;.;consumer=.=other;.;meshwasm_requests_total";
    assert_eq!(proxy.counter(overflow), 2);
    assert_eq!(
        proxy.counter("label_name=.=series;.;meshwasm_label_overflow_total"),
        2
    );
}

#[test]
fn no_response_is_code_zero() {
    let filter = metrics(json!({}));
    let proxy = FakeHost::new();
    let mut host = proxy.sharing(&[(":method", "GET")]);
    let mut stage = filter.stage();
    stage.on_request_headers(&mut host.view());
    stage.on_log(&mut host.view());
    let name = "method=.=GET;.;code=.=0;.;code_class=.=none;.;route=.=none;.;cluster=.=none;.;consumer=.=none;.;meshwasm_requests_total";
    assert_eq!(proxy.counter(name), 1);
}

#[test]
fn sizes_and_the_in_flight_gauge_are_opt_in() {
    let filter = metrics(json!({}));
    let proxy = FakeHost::new();
    let mut host = proxy.sharing(&[(":method", "GET"), (":path", "/")]);
    let mut stage = filter.stage();
    stage.on_request_headers(&mut host.view());
    stage.on_log(&mut host.view());
    let names: Vec<String> = proxy.metrics().into_iter().map(|m| m.name).collect();
    assert!(names.iter().any(|n| n.ends_with("meshwasm_requests_total")));
    assert!(names
        .iter()
        .any(|n| n.ends_with("meshwasm_request_duration_milliseconds")));
    assert!(
        !names
            .iter()
            .any(|n| n.contains("bytes") || n.contains("in_flight")),
        "{names:?}"
    );
}

#[test]
fn what_the_request_phase_knew_is_kept_and_the_end_reads_no_header() {
    let filter = metrics(json!({"consumer_header": "x-meshwasm-consumer"}));
    let proxy = FakeHost::new();
    let mut host = proxy.sharing(&[(":method", "POST"), (":path", "/")]);
    let mut stage = filter.stage();
    {
        // Another stage of a chain read the method and wrote the consumer
        // into the same view.
        let mut request = host.view();
        meshwasm_core::stage::request_phase(&mut stage, &mut request, |s, r| {
            s.on_request_headers(r)
        });
        request.method().unwrap();
        request
            .set_header(HeaderMap::Request, "x-meshwasm-consumer", "carol")
            .unwrap();
        stage.on_request_seen(&request);
    }
    host.properties
        .insert("response.code".into(), 201i64.to_le_bytes().to_vec());
    host.properties
        .insert("xds.route_name".into(), b"orders".to_vec());
    host.properties
        .insert("xds.cluster_name".into(), b"backend".to_vec());
    host.take_host_calls();
    stage.on_log(&mut host.view());
    let calls = host.take_host_calls();
    assert_eq!(calls.get("header"), None, "{calls:?}");
    assert_eq!(calls.get("headers"), None, "{calls:?}");
    assert_eq!(
        proxy.counter(&series(
            "POST",
            "201",
            "2xx",
            "orders",
            "carol",
            "requests_total"
        )),
        1
    );
}
