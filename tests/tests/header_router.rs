//! The header-router filter in a real Envoy with two named upstreams: its
//! decisions change the cluster a request reaches.

use meshwasm_e2e::{Bootstrap, Echo, Envoy, WasmFilter};
use serde_json::{json, Value};

/// An Envoy whose route table sends `x-route-version: v2` to `v2`, and
/// everything else to `v1`.
fn start(rules: Value) -> (Envoy, Echo, Echo) {
    let v1 = Echo::start("v1", "127.0.0.1:0").unwrap();
    let v2 = Echo::start("v2", "127.0.0.1:0").unwrap();
    let envoy = Envoy::start(
        &Bootstrap::new(&v1)
            .route_on_header("x-route-version", "v2", &v2)
            .filter(WasmFilter::new("header-router", json!({ "rules": rules }))),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (envoy, v1, v2)
}

fn landed(envoy: &Envoy, path: &str, headers: &[(&str, &str)]) -> String {
    let answer = envoy.get(path, headers);
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()["upstream"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_header_or_cookie_match_sends_the_request_to_the_other_cluster() {
    let (envoy, _v1, v2) = start(json!([
        { "name": "beta-header", "match": { "headers": [{ "name": "x-beta", "exact": "1" }] },
          "request_headers": { "set": [{ "name": "x-route-version", "value": "v2" }] } },
        { "name": "beta-cookie", "match": { "cookies": [{ "name": "group", "exact": "beta" }] },
          "split": { "header": "x-route-version", "targets": [{ "value": "v2", "weight": 1 }] } }
    ]));
    assert_eq!(landed(&envoy, "/", &[]), "v1");
    assert_eq!(landed(&envoy, "/", &[("x-beta", "1")]), "v2");
    assert_eq!(landed(&envoy, "/", &[("cookie", "a=1; group=beta")]), "v2");
    assert_eq!(v2.received().len(), 2);
    assert_eq!(
        envoy.counter(
            "meshwasm_headerrouter_matches_total",
            &[("rule", "beta-cookie")]
        ),
        1.0
    );
}

#[test]
fn a_client_sent_route_header_is_ignored() {
    let (envoy, v1, v2) = start(json!([
        { "name": "canary", "match": { "headers": [{ "name": "x-beta", "present": true }] },
          "split": { "header": "x-route-version", "targets": [{ "value": "v2", "weight": 1 }] } }
    ]));
    assert_eq!(landed(&envoy, "/", &[("x-route-version", "v2")]), "v1");
    assert_eq!(v1.received()[0].header("x-route-version"), None);
    assert!(v2.received().is_empty());
}

#[test]
fn a_sticky_split_sends_the_expected_share_and_keeps_users_on_their_side() {
    let (envoy, v1, v2) = start(json!([
        { "name": "canary",
          "split": { "header": "x-route-version", "sticky": { "header": "x-user" },
                     "targets": [{ "value": "v1", "weight": 70 }, { "value": "v2", "weight": 30 }] } }
    ]));
    let users = 200;
    let mut on_v2 = 0;
    for user in 0..users {
        let user = format!("user-{user}");
        let first = landed(&envoy, "/", &[("x-user", &user)]);
        assert_eq!(
            landed(&envoy, "/", &[("x-user", &user)]),
            first,
            "{user} changed sides"
        );
        on_v2 += usize::from(first == "v2");
    }
    // 30% of 200 users, give or take 10 points.
    assert!((40..=80).contains(&on_v2), "{on_v2} of {users} users on v2");
    assert_eq!(v1.received().len() + v2.received().len(), 2 * users);
    let split = |target| {
        envoy.counter(
            "meshwasm_headerrouter_split_total",
            &[("rule", "canary"), ("target", target)],
        )
    };
    assert_eq!(split("v2"), (2 * on_v2) as f64);
    assert_eq!(split("v1") + split("v2"), (2 * users) as f64);
}

#[test]
fn the_upstream_sees_rewritten_headers_and_path() {
    let (envoy, v1, _v2) = start(json!([
        { "name": "api-v1", "match": { "path": { "regex": "/api/v1/users/([0-9]+)" } },
          "rewrite": { "regex": { "pattern": "/api/v1/users/([0-9]+)", "replacement": "/users/$1" } },
          "request_headers": { "set": [{ "name": "x-user-id", "value": "{path.1}" }],
                               "remove": ["x-debug"] },
          "response_headers": { "set": [{ "name": "x-rewritten-from", "value": "{path}" }] } }
    ]));
    let answer = envoy.get("/api/v1/users/42?fields=name", &[("x-debug", "1")]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-rewritten-from"), Some("/api/v1/users/42"));
    let seen = &v1.received()[0];
    assert_eq!(seen.path, "/users/42");
    assert_eq!(seen.query, "fields=name");
    assert_eq!(seen.header("x-user-id"), Some("42"));
    assert_eq!(seen.header("x-debug"), None);
}

#[test]
fn redirects_and_direct_answers_never_reach_an_upstream() {
    let (envoy, v1, v2) = start(json!([
        { "name": "moved", "match": { "path": { "regex": "/old/(.*)" } },
          "respond": { "redirect": { "location": "https://{host}/new/{path.1}", "status": 301 } } },
        { "name": "down", "match": { "path": { "prefix": "/maintenance" } },
          "respond": { "direct": { "status": 503, "body": "back soon", "content_type": "text/plain" } } }
    ]));
    let moved = envoy.get("/old/page?x=1", &[]);
    assert_eq!(moved.status, 301);
    let host = envoy.url().trim_start_matches("http://");
    assert_eq!(
        moved.header("location"),
        Some(format!("https://{host}/new/page").as_str())
    );
    let down = envoy.get("/maintenance", &[]);
    assert_eq!((down.status, down.body.as_str()), (503, "back soon"));
    assert_eq!(down.header("content-type"), Some("text/plain"));
    assert!(v1.received().is_empty() && v2.received().is_empty());
}
