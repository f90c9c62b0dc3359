//! The rate-limit stage against in-memory hosts that share one process,
//! as the workers of one Envoy do.

use super::*;
use meshwasm_core::testing::FakeHost;
use meshwasm_core::Filter;
use meshwasm_core::Host;
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};

fn filter(config: Value) -> Rc<RateLimit> {
    let config = meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap();
    Rc::new(RateLimit::new(config).unwrap())
}

fn per_client(requests: u32) -> Value {
    json!({"rules": [{"name": "per-client", "key": ["client_address"],
                      "limit": {"requests": requests, "per": "minute"}}]})
}

/// A proxy: every request made from it shares its shared data and stats.
struct Proxy {
    first: FakeHost,
}

impl Proxy {
    fn new() -> Self {
        let mut first = FakeHost::new();
        first.now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        Self { first }
    }

    fn request(&self, client: &str, headers: &[(&str, &str)]) -> FakeHost {
        let mut all = vec![(":method", "GET"), (":path", "/orders")];
        all.extend_from_slice(headers);
        let mut host = self.first.sharing(&all);
        host.properties.insert(
            "source.address".into(),
            format!("{client}:5555").into_bytes(),
        );
        host
    }

    fn counter(&self, rule: &str, decision: &str) -> u64 {
        self.first.counter(&format!(
            "rule=.={rule};.;decision=.={decision};.;meshwasm_ratelimit_requests_total"
        ))
    }
}

fn send(filter: &Rc<RateLimit>, host: &mut FakeHost) -> Flow {
    filter.stage().on_request_headers(&mut host.view())
}

fn statuses(filter: &Rc<RateLimit>, proxy: &Proxy, client: &str, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| match send(filter, &mut proxy.request(client, &[])) {
            Flow::Continue => 200,
            Flow::Respond(answer) => answer.status,
            Flow::Pause => 0,
        })
        .collect()
}

fn header<'a>(answer: &'a LocalResponse, name: &str) -> Option<&'a str> {
    answer
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn exactly_the_limit_passes_then_429s_say_when_to_return() {
    let filter = filter(per_client(3));
    let proxy = Proxy::new();
    assert_eq!(statuses(&filter, &proxy, "1.1.1.1", 3), [200, 200, 200]);
    let Flow::Respond(answer) = send(&filter, &mut proxy.request("1.1.1.1", &[])) else {
        panic!("the fourth request passed");
    };
    assert_eq!(answer.status, 429);
    assert_eq!(header(&answer, "retry-after"), Some("20"));
    assert_eq!(header(&answer, "x-ratelimit-limit"), Some("3"));
    assert_eq!(header(&answer, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(header(&answer, "x-ratelimit-reset"), Some("60"));
    assert_eq!(
        header(&answer, "ratelimit-policy"),
        Some("\"per-client\";q=3;w=60")
    );
    assert_eq!(
        header(&answer, "ratelimit"),
        Some("\"per-client\";r=0;t=20")
    );
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(proxy.counter("per-client", "allowed"), 3);
    assert_eq!(proxy.counter("per-client", "limited"), 1);
}

#[test]
fn clients_do_not_share_a_bucket_and_buckets_refill() {
    let filter = filter(per_client(2));
    let mut proxy = Proxy::new();
    assert_eq!(statuses(&filter, &proxy, "1.1.1.1", 3), [200, 200, 429]);
    assert_eq!(statuses(&filter, &proxy, "2.2.2.2", 3), [200, 200, 429]);
    proxy.first.now += Duration::from_secs(30);
    assert_eq!(statuses(&filter, &proxy, "1.1.1.1", 2), [200, 429]);
}

#[test]
fn keys_can_be_a_header_such_as_the_consumer() {
    let filter = filter(
        json!({"rules": [{"name": "per-consumer", "key": [{"header": "x-meshwasm-consumer"}],
                                          "limit": {"requests": 1, "per": "hour"}}]}),
    );
    let proxy = Proxy::new();
    let send_as = |who: &str, client: &str| {
        matches!(
            send(
                &filter,
                &mut proxy.request(client, &[("x-meshwasm-consumer", who)])
            ),
            Flow::Continue
        )
    };
    assert!(send_as("alice", "1.1.1.1"));
    assert!(!send_as("alice", "2.2.2.2"), "alice's quota follows her");
    assert!(send_as("bob", "1.1.1.1"));
}

#[test]
fn only_matching_requests_count() {
    let filter = filter(
        json!({"rules": [{"name": "writes", "match": {"methods": ["POST"]},
                                          "limit": {"requests": 1, "per": "minute"}}]}),
    );
    let proxy = Proxy::new();
    assert_eq!(statuses(&filter, &proxy, "1.1.1.1", 3), [200, 200, 200]);
    let mut post = proxy.request("1.1.1.1", &[]);
    post.set_header(HeaderMap::Request, ":method", "POST")
        .unwrap();
    assert_eq!(send(&filter, &mut post.clone()), Flow::Continue);
    assert!(matches!(send(&filter, &mut post), Flow::Respond(_)));
}

#[test]
fn shadow_rules_count_but_never_block() {
    let filter = filter(json!({"rules": [{"name": "trial", "shadow": true,
                                          "limit": {"requests": 1, "per": "minute"}}]}));
    let proxy = Proxy::new();
    assert_eq!(statuses(&filter, &proxy, "1.1.1.1", 3), [200, 200, 200]);
    assert_eq!(proxy.counter("trial", "allowed"), 1);
    assert_eq!(proxy.counter("trial", "shadow_limited"), 2);
}

#[test]
fn every_matching_rule_must_allow() {
    let filter = filter(json!({"rules": [
        {"name": "global", "limit": {"requests": 100, "per": "second"}},
        {"name": "per-client", "key": ["client_address"], "limit": {"requests": 1, "per": "minute"}}
    ]}));
    let proxy = Proxy::new();
    assert_eq!(statuses(&filter, &proxy, "1.1.1.1", 2), [200, 429]);
    assert_eq!(proxy.counter("global", "allowed"), 2);
}

#[test]
fn allowed_responses_carry_headers_when_asked() {
    let mut config = per_client(5);
    config["response_headers"] = json!(true);
    let filter = filter(config);
    let proxy = Proxy::new();
    let mut host = proxy.request("1.1.1.1", &[]);
    let mut stage = filter.stage();
    assert_eq!(stage.on_request_headers(&mut host.view()), Flow::Continue);
    stage.on_response_headers(&mut host.view());
    assert_eq!(
        host.values(HeaderMap::Response, "x-ratelimit-remaining"),
        ["4"]
    );
    assert_eq!(
        host.values(HeaderMap::Response, "ratelimit"),
        ["\"per-client\";r=4;t=12"]
    );

    let quiet = self::filter(per_client(5));
    let mut host = proxy.request("2.2.2.2", &[]);
    let mut stage = quiet.stage();
    stage.on_request_headers(&mut host.view());
    stage.on_response_headers(&mut host.view());
    assert!(host
        .values(HeaderMap::Response, "x-ratelimit-remaining")
        .is_empty());
}

#[test]
fn a_spoofed_forwarded_for_does_not_change_the_key() {
    let mut config = per_client(1);
    config["client_address"] = json!({"xff_trusted_hops": 1});
    let filter = filter(config);
    let proxy = Proxy::new();
    let via_proxy = |xff: &str| {
        let mut host = proxy.request("10.0.0.9", &[("x-forwarded-for", xff)]);
        matches!(send(&filter, &mut host), Flow::Continue)
    };
    assert!(via_proxy("1.2.3.4"));
    assert!(
        !via_proxy("6.6.6.6, 1.2.3.4"),
        "a forged entry made a new client"
    );
    assert!(via_proxy("1.2.3.5"));
}

#[test]
fn a_failing_store_allows_or_refuses_as_configured() {
    let proxy = Proxy::new();
    proxy.first.process.borrow_mut().fail_shared_data = true;
    let open = filter(per_client(1));
    assert_eq!(statuses(&open, &proxy, "1.1.1.1", 2), [200, 200]);
    assert_eq!(proxy.counter("per-client", "error"), 2);

    let mut config = per_client(1);
    config["failure_mode"] = json!("deny");
    assert_eq!(statuses(&filter(config), &proxy, "1.1.1.1", 1), [429]);
}

#[test]
fn a_full_table_lets_new_keys_through_and_counts_them() {
    let mut config = per_client(1);
    config["max_keys"] = json!(1);
    let filter = filter(config);
    let proxy = Proxy::new();
    assert_eq!(statuses(&filter, &proxy, "1.1.1.1", 2), [200, 429]);
    assert_eq!(statuses(&filter, &proxy, "2.2.2.2", 2), [200, 200]);
    assert_eq!(proxy.counter("per-client", "overflow"), 2);
    assert_eq!(proxy.first.process.borrow().keys(), 1);
}

#[test]
fn the_timer_sweeps_idle_buckets() {
    let mut config = per_client(1);
    config["max_keys"] = json!(100);
    let filter = filter(config);
    let mut proxy = Proxy::new();
    statuses(&filter, &proxy, "1.1.1.1", 1);
    assert_eq!(filter.tick_period(), Some(Duration::from_secs(1)));
    proxy.first.now += Duration::from_secs(120);
    filter.on_tick(&mut proxy.first);
    let process = proxy.first.process.borrow();
    let values: Vec<usize> = (0..100)
        .filter_map(|s| process.get(&format!("meshwasm.rl.per-client.{s}")))
        .map(|v| v.value.len())
        .collect();
    assert_eq!(values, [0], "the one bucket used is blank");
}

#[test]
fn paths_it_cannot_decode_or_that_are_long_are_still_limited() {
    let filter = filter(
        json!({"rules": [{"name": "api", "match": {"path": {"prefix": "/api/"}},
                          "limit": {"requests": 1, "per": "minute"}}]}),
    );
    let proxy = Proxy::new();
    let long = format!("/api/{}", "a".repeat(20 * 1024));
    let mut first = proxy.request("1.1.1.1", &[(":path", long.as_str())]);
    first
        .set_header(HeaderMap::Request, ":path", &long)
        .unwrap();
    assert_eq!(send(&filter, &mut first), Flow::Continue);
    let mut raw_path = FakeHost::with_raw_request(&[(":method", b"GET"), (":path", b"/api/\xff")]);
    raw_path.process = Rc::clone(&proxy.first.process);
    raw_path.now = proxy.first.now;
    assert!(
        matches!(send(&filter, &mut raw_path), Flow::Respond(a) if a.status == 429),
        "a path that is not UTF-8 escaped the limit"
    );
}

#[test]
fn forwarded_for_headers_it_cannot_decode_or_that_are_long_keep_the_client_apart() {
    let filter = filter(json!({"client_address": {"xff_trusted_hops": 1},
               "rules": [{"name": "per-client", "key": ["client_address"],
                          "limit": {"requests": 1, "per": "minute"}}]}));
    let proxy = Proxy::new();
    let long = format!("{}9.9.9.9", "1.2.3.4, ".repeat(3_000));
    let sent = |xff: &[u8]| {
        let mut host = FakeHost::with_raw_request(&[
            (":method", b"GET"),
            (":path", b"/"),
            ("x-forwarded-for", xff),
        ]);
        host.process = Rc::clone(&proxy.first.process);
        host.now = proxy.first.now;
        host.properties
            .insert("source.address".into(), b"10.0.0.1:5555".to_vec());
        matches!(send(&filter, &mut host), Flow::Continue)
    };
    assert!(sent(long.as_bytes()), "9.9.9.9's first request");
    assert!(!sent(b"9.9.9.9"), "the long header was 9.9.9.9's");
    assert!(
        sent(b"8.8.8.8, \xff\xfe"),
        "an unreadable entry is its own client"
    );
    assert!(sent(b"10.0.0.1"), "the proxy's own bucket is untouched");
    assert!(!sent(b"7.7.7.7, \xff\xfe"), "and it stays that client's");
}

mod global;
