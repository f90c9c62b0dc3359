//! Global rules: the request is held while the rate limit service is
//! asked, and its answer (or its silence) decides.

use super::*;
use crate::rls::{
    Code, DescriptorStatus, ProtoDuration, RateLimit as Limit, RateLimitRequest, RateLimitResponse,
    Unit,
};
use prost::Message;

fn global(extra: Value) -> Value {
    let mut config = json!({
        "service": {"cluster": "ratelimit", "domain": "shop", "timeout_ms": 250},
        "response_headers": true,
        "rules": [{"name": "per-tenant", "global": {"descriptor": [
            {"key": "service", "value": "orders"},
            {"key": "tenant", "from": {"header": "x-tenant"}}]}}]
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    config
}

fn answer(code: Code, remaining: u32) -> GrpcResponse {
    let status = DescriptorStatus {
        code: code as i32,
        current_limit: Some(Limit {
            requests_per_unit: 50,
            unit: Unit::Minute as i32,
            name: String::new(),
        }),
        limit_remaining: remaining,
        duration_until_reset: Some(ProtoDuration {
            seconds: 17,
            nanos: 0,
        }),
    };
    GrpcResponse {
        status: 0,
        message: RateLimitResponse {
            overall_code: code as i32,
            statuses: vec![status],
        }
        .encode_to_vec(),
        truncated: false,
    }
}

/// Sends a request from tenant `acme`; if it is held, answers its call
/// with `response`. The flow, the host, and the stage (for the response).
fn ask(
    filter: &Rc<RateLimit>,
    proxy: &Proxy,
    response: GrpcResponse,
) -> (Flow, FakeHost, RateLimitStage) {
    let mut host = proxy.request("1.1.1.1", &[("x-tenant", "acme")]);
    let mut stage = filter.stage();
    let mut flow = stage.on_request_headers(&mut host.view());
    if flow == Flow::Pause {
        let token = host.grpc_calls.last().unwrap().token;
        flow = stage.on_grpc_response(&mut host.view(), token, &response);
    }
    (flow, host, stage)
}

#[test]
fn the_service_is_asked_about_the_rules_descriptor() {
    let filter = filter(global(json!({})));
    let proxy = Proxy::new();
    let mut host = proxy.request("1.1.1.1", &[("x-tenant", "acme")]);
    assert_eq!(
        filter.stage().on_request_headers(&mut host.view()),
        Flow::Pause
    );
    let call = &host.grpc_calls[0];
    assert_eq!(
        (
            call.cluster.as_str(),
            call.service.as_str(),
            call.method.as_str()
        ),
        (
            "ratelimit",
            "envoy.service.ratelimit.v3.RateLimitService",
            "ShouldRateLimit"
        )
    );
    assert_eq!(call.timeout, Duration::from_millis(250));
    let sent = RateLimitRequest::decode(call.message.as_slice()).unwrap();
    assert_eq!(sent.domain, "shop");
    assert_eq!(sent.hits_addend, 1);
    let entries: Vec<(&str, &str)> = sent.descriptors[0]
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(entries, [("service", "orders"), ("tenant", "acme")]);
}

#[test]
fn under_the_limit_the_request_goes_on_with_the_services_quota() {
    let filter = filter(global(json!({})));
    let proxy = Proxy::new();
    let (flow, mut host, mut stage) = ask(&filter, &proxy, answer(Code::Ok, 12));
    assert_eq!(flow, Flow::Continue);
    stage.on_response_headers(&mut host.view());
    assert_eq!(
        host.values(HeaderMap::Response, "x-ratelimit-limit"),
        ["50"]
    );
    assert_eq!(
        host.values(HeaderMap::Response, "x-ratelimit-remaining"),
        ["12"]
    );
    assert_eq!(
        host.values(HeaderMap::Response, "ratelimit-policy"),
        ["\"per-tenant\";q=50;w=60"]
    );
    assert_eq!(proxy.counter("per-tenant", "allowed"), 1);
    assert_eq!(
        proxy
            .first
            .counter("outcome=.=ok;.;meshwasm_ratelimit_service_calls_total"),
        1
    );
}

#[test]
fn over_the_limit_is_the_same_429_as_a_local_limit() {
    let filter = filter(global(json!({})));
    let proxy = Proxy::new();
    let (flow, ..) = ask(&filter, &proxy, answer(Code::OverLimit, 0));
    let Flow::Respond(refusal) = flow else {
        panic!("not refused: {flow:?}");
    };
    assert_eq!(refusal.status, 429);
    assert_eq!(header(&refusal, "retry-after"), Some("17"));
    assert_eq!(header(&refusal, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        header(&refusal, "ratelimit"),
        Some("\"per-tenant\";r=0;t=17")
    );
    let body: Value = serde_json::from_slice(&refusal.body).unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(proxy.counter("per-tenant", "limited"), 1);
}

#[test]
fn a_shadow_rule_over_the_limit_only_counts() {
    let mut config = global(json!({}));
    config["rules"][0]["shadow"] = json!(true);
    let filter = filter(config);
    let proxy = Proxy::new();
    assert_eq!(
        ask(&filter, &proxy, answer(Code::OverLimit, 0)).0,
        Flow::Continue
    );
    assert_eq!(proxy.counter("per-tenant", "shadow_limited"), 1);
}

#[test]
fn a_silent_or_garbled_service_gets_the_failure_mode() {
    let failures = [
        (
            GrpcResponse {
                status: 14,
                ..Default::default()
            },
            "unavailable",
        ),
        (
            GrpcResponse {
                status: 4,
                ..Default::default()
            },
            "timeout",
        ),
        (
            GrpcResponse {
                status: 0,
                message: b"\xff\xff".to_vec(),
                truncated: false,
            },
            "invalid",
        ),
    ];
    for (mode, expected) in [("allow", 200), ("deny", 429)] {
        let filter = filter(global(json!({"failure_mode": mode})));
        let proxy = Proxy::new();
        for (response, outcome) in failures.clone() {
            let status = match ask(&filter, &proxy, response).0 {
                Flow::Continue => 200,
                Flow::Respond(answer) => answer.status,
                Flow::Pause => 0,
            };
            assert_eq!(status, expected, "{mode}, {outcome}");
            let counted = format!("outcome=.={outcome};.;meshwasm_ratelimit_service_calls_total");
            assert_eq!(proxy.first.counter(&counted), 1, "{mode}, {outcome}");
        }
        assert_eq!(proxy.counter("per-tenant", "error"), 3);
    }
}

#[test]
fn the_services_own_failure_mode_wins() {
    let mut config = global(json!({"failure_mode": "allow"}));
    config["service"]["failure_mode"] = json!("deny");
    let filter = filter(config);
    let proxy = Proxy::new();
    let (flow, ..) = ask(
        &filter,
        &proxy,
        GrpcResponse {
            status: 14,
            ..Default::default()
        },
    );
    assert!(
        matches!(flow, Flow::Respond(ref a) if a.status == 429),
        "{flow:?}"
    );
}

#[test]
fn a_call_that_cannot_be_sent_gets_the_failure_mode() {
    let filter = filter(global(json!({"failure_mode": "deny"})));
    let proxy = Proxy::new();
    let mut host = proxy.request("1.1.1.1", &[("x-tenant", "acme")]);
    host.refuse_calls = true;
    let flow = filter.stage().on_request_headers(&mut host.view());
    assert!(
        matches!(flow, Flow::Respond(ref a) if a.status == 429),
        "{flow:?}"
    );
    assert_eq!(
        proxy
            .first
            .counter("outcome=.=unavailable;.;meshwasm_ratelimit_service_calls_total"),
        1
    );
}

#[test]
fn a_local_limit_in_front_answers_before_the_service_is_asked() {
    let mut config = global(json!({}));
    config["rules"][0]["key"] = json!([{"header": "x-tenant"}]);
    config["rules"][0]["limit"] = json!({"requests": 1, "per": "minute"});
    let filter = filter(config);
    let proxy = Proxy::new();
    let (flow, host, _) = ask(&filter, &proxy, answer(Code::Ok, 49));
    assert_eq!((flow, host.grpc_calls.len()), (Flow::Continue, 1));
    let (flow, host, _) = ask(&filter, &proxy, answer(Code::Ok, 48));
    assert!(
        matches!(flow, Flow::Respond(ref a) if a.status == 429),
        "{flow:?}"
    );
    assert!(host.grpc_calls.is_empty(), "the service was asked anyway");
}

#[test]
fn another_calls_answer_keeps_the_request_held() {
    let filter = filter(global(json!({})));
    let proxy = Proxy::new();
    let mut host = proxy.request("1.1.1.1", &[("x-tenant", "acme")]);
    let mut stage = filter.stage();
    assert_eq!(stage.on_request_headers(&mut host.view()), Flow::Pause);
    let token = host.grpc_calls[0].token;
    let stray = stage.on_grpc_response(&mut host.view(), token + 1, &answer(Code::Ok, 1));
    assert_eq!(stray, Flow::Pause);
    assert_eq!(
        stage.on_grpc_response(&mut host.view(), token, &answer(Code::Ok, 1)),
        Flow::Continue
    );
}

#[test]
fn rules_without_a_match_are_not_asked_about() {
    let mut config = global(json!({}));
    config["rules"][0]["match"] = json!({"path": {"prefix": "/admin"}});
    let filter = filter(config);
    let proxy = Proxy::new();
    let (flow, host, _) = ask(&filter, &proxy, answer(Code::OverLimit, 0));
    assert_eq!((flow, host.grpc_calls.len()), (Flow::Continue, 0));
}
