//! What global rules send, and how the service's answers read.

use super::*;
use crate::rls::{DescriptorStatus, ProtoDuration, RateLimit};
use meshwasm_core::testing::FakeHost;
use serde_json::json;

fn descriptor(entries: serde_json::Value) -> Descriptor {
    let global: GlobalLimit = serde_json::from_value(json!({ "descriptor": entries })).unwrap();
    Descriptor::new(&global)
}

fn entries(d: &rls::RateLimitDescriptor) -> Vec<(&str, &str)> {
    d.entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect()
}

#[test]
fn entries_take_request_parts_and_constants() {
    let d = descriptor(json!([
        {"key": "service", "value": "orders"},
        {"key": "tenant", "from": {"header": "x-tenant"}},
        {"key": "path", "from": "path"},
        {"key": "method", "from": "method"},
        {"key": "client", "from": "client_address"}
    ]));
    let mut host = FakeHost::with_request(&[
        (":method", "POST"),
        (":path", "/orders?id=7"),
        ("x-tenant", "acme"),
    ]);
    host.properties
        .insert("source.address".to_owned(), b"10.1.2.3:5555".to_vec());
    let built = d.build(&host.view(), 0).unwrap();
    assert_eq!(
        entries(&built),
        [
            ("service", "orders"),
            ("tenant", "acme"),
            ("path", "/orders"),
            ("method", "POST"),
            ("client", "10.1.2.3"),
        ]
    );
}

#[test]
fn absent_and_unreadable_values_are_still_sent() {
    let d = descriptor(json!([
        {"key": "tenant", "from": {"header": "x-tenant"}},
        {"key": "team", "from": {"header": "x-team"}}
    ]));
    let mut host =
        FakeHost::with_raw_request(&[(":method", b"GET"), (":path", b"/"), ("x-team", b"caf\xe9")]);
    let built = d.build(&host.view(), 0).unwrap();
    assert_eq!(
        entries(&built),
        [("tenant", ABSENT), ("team", "caf\u{fffd}")]
    );
}

fn ok(message: &RateLimitResponse) -> GrpcResponse {
    GrpcResponse {
        status: 0,
        message: message.encode_to_vec(),
        truncated: false,
    }
}

fn status(code: Code, per_minute: u32, remaining: u32, reset: i64) -> DescriptorStatus {
    DescriptorStatus {
        code: code as i32,
        current_limit: Some(RateLimit {
            requests_per_unit: per_minute,
            unit: Unit::Minute as i32,
            name: String::new(),
        }),
        limit_remaining: remaining,
        duration_until_reset: Some(ProtoDuration {
            seconds: reset,
            nanos: 500,
        }),
    }
}

#[test]
fn each_descriptor_reads_with_its_limit_and_reset() {
    let answer = RateLimitResponse {
        overall_code: Code::OverLimit as i32,
        statuses: vec![
            status(Code::Ok, 50, 7, 20),
            status(Code::OverLimit, 10, 0, 41),
        ],
    };
    let read = read(&ok(&answer), &["a", "b"]).unwrap();
    assert!(!read[0].over && read[1].over);
    let quota = read[1].quota.as_ref().unwrap();
    assert_eq!(
        (
            quota.rule.as_str(),
            quota.requests,
            quota.window,
            quota.remaining
        ),
        ("b", 10, 60, 0)
    );
    // 41.0000005 s: whole seconds, rounded up.
    assert_eq!((read[1].reset, quota.reset, quota.next), (Some(42), 42, 42));
}

#[test]
fn the_overall_code_stands_in_for_missing_statuses() {
    for (code, over) in [(Code::Ok, false), (Code::OverLimit, true)] {
        let answer = RateLimitResponse {
            overall_code: code as i32,
            statuses: Vec::new(),
        };
        let read = read(&ok(&answer), &["a", "b"]).unwrap();
        assert!(read.iter().all(|s| s.over == over && s.quota.is_none()));
    }
    // Over as a whole, though no descriptor says which: all of them.
    let answer = RateLimitResponse {
        overall_code: Code::OverLimit as i32,
        statuses: vec![status(Code::Ok, 5, 1, 3)],
    };
    assert!(read(&ok(&answer), &["a"]).unwrap()[0].over);
}

#[test]
fn answers_without_a_verdict_are_failures() {
    let failures = [
        (
            GrpcResponse {
                status: 4,
                ..Default::default()
            },
            Outcome::Timeout,
        ),
        (
            GrpcResponse {
                status: 14,
                ..Default::default()
            },
            Outcome::Unavailable,
        ),
        (
            GrpcResponse {
                status: 13,
                ..Default::default()
            },
            Outcome::Error,
        ),
        (
            GrpcResponse {
                status: 0,
                message: vec![0x0a],
                truncated: false,
            },
            Outcome::Invalid,
        ),
        (
            ok(&RateLimitResponse {
                overall_code: 0,
                statuses: Vec::new(),
            }),
            Outcome::Invalid,
        ),
        (
            GrpcResponse {
                truncated: true,
                ..ok(&RateLimitResponse {
                    overall_code: 1,
                    statuses: Vec::new(),
                })
            },
            Outcome::Invalid,
        ),
    ];
    for (response, outcome) in failures {
        assert_eq!(read(&response, &["a"]), Err(outcome), "{response:?}");
    }
}
