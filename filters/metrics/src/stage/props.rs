//! Property tests: the metrics stage on requests and properties of
//! arbitrary bytes. `make fuzz` runs them long.

use super::*;
use meshwasm_core::testing::{prop_cases, FakeHost};
use meshwasm_core::Filter;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::json;
use std::time::Duration;

fn metrics() -> Rc<Metrics> {
    let config = json!({
        "consumer_header": "x-meshwasm-consumer",
        "extra_labels": [{"name": "tenant", "header": "x-tenant", "values": ["acme", "a/b:c"]}],
        "max_label_values": 4,
        "max_series": 20
    });
    Rc::new(
        Metrics::new(meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap()).unwrap(),
    )
}

fn bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(prop_oneof![
        3 => vec(any::<u8>(), 0..16),
        1 => proptest::sample::select(&["GET", "acme", "a/b:c", "x;.;y=.=z"][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => (vec(any::<u8>(), 1..3), 0..65_536usize)
            .prop_map(|(unit, len)| unit.into_iter().cycle().take(len).collect()),
    ])
}

/// An exchange: request headers, then what Envoy reports at the end.
#[derive(Debug, Clone)]
struct Exchange {
    headers: Vec<Option<Vec<u8>>>,
    properties: Vec<Option<Vec<u8>>>,
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (vec(bytes(), 3), vec(bytes(), 5)).prop_map(|(headers, properties)| Exchange {
        headers,
        properties,
    })
}

/// Whether a metric's name is `label=.=value;.;` segments and a base
/// name, every value made of `[A-Za-z0-9_.:/-]`, at most 64 of them.
fn well_formed(name: &str) -> bool {
    let mut segments: Vec<&str> = name.split(";.;").collect();
    let base = segments.pop().unwrap_or_default();
    !base.is_empty()
        && segments.iter().all(|s| {
            s.split_once("=.=").is_some_and(|(label, value)| {
                !label.is_empty()
                    && value.len() <= 64
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.:/-".contains(c))
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_any_exchange_is_recorded_under_well_formed_names(exchanges in vec(exchange(), 1..6)) {
        let filter = metrics();
        let proxy = FakeHost::new();
        for ex in &exchanges {
            let names = [":method", "x-meshwasm-consumer", "x-tenant"];
            let headers: Vec<(&str, &[u8])> = names
                .iter()
                .zip(&ex.headers)
                .filter_map(|(n, v)| Some((*n, v.as_deref()?)))
                .collect();
            let mut host = FakeHost::with_raw_request(&headers);
            host.process = Rc::clone(&proxy.process);
            let mut stage = filter.stage();
            prop_assert_eq!(stage.on_request_headers(&mut host.view()), Flow::Continue);
            host.now += Duration::from_millis(5);
            let paths = ["response.code", "xds.route_name", "xds.cluster_name", "request.total_size", "response.total_size"];
            for (path, value) in paths.iter().zip(&ex.properties) {
                if let Some(value) = value {
                    host.properties.insert((*path).to_owned(), value.clone());
                }
            }
            stage.on_log(&mut host.view());
        }
        let all = proxy.metrics();
        for metric in &all {
            prop_assert!(well_formed(&metric.name), "{:?}", metric.name);
        }
        let requests: i64 = all
            .iter()
            .filter(|m| m.name.ends_with(";.;meshwasm_requests_total"))
            .map(|m| m.value)
            .sum();
        prop_assert_eq!(requests, i64::try_from(exchanges.len()).unwrap(), "every exchange is counted once");
        let in_flight: i64 = all
            .iter()
            .filter(|m| m.name.ends_with("meshwasm_requests_in_flight"))
            .map(|m| m.value)
            .sum();
        prop_assert_eq!(in_flight, 0);
    }
}
