//! The header-router stage against an in-memory host.

use super::*;
use meshwasm_core::testing::FakeHost;
use meshwasm_core::Filter;
use meshwasm_core::Host;
use serde_json::{json, Value};

fn router(rules: Value) -> Rc<HeaderRouter> {
    let config = json!({ "rules": rules }).to_string();
    Rc::new(HeaderRouter::new(meshwasm_core::config::parse(config.as_bytes()).unwrap()).unwrap())
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> FakeHost {
    let mut all = vec![
        (":method", method),
        (":path", path),
        (":authority", "shop.example"),
    ];
    all.extend_from_slice(headers);
    FakeHost::with_request(&all)
}

fn run(filter: &Rc<HeaderRouter>, host: &mut FakeHost) -> Flow {
    filter.stage().on_request_headers(&mut host.view())
}

fn one(host: &FakeHost, name: &str) -> Option<String> {
    host.values(HeaderMap::Request, name)
        .first()
        .map(|v| v.clone().into_owned())
}

fn canary() -> Value {
    json!([{
        "name": "beta-testers",
        "match": {"headers": [{"name": "x-beta", "exact": "1"}]},
        "request_headers": {"set": [{"name": "x-route-version", "value": "v2"}]}
    }, {
        "name": "beta-cookie",
        "match": {"cookies": [{"name": "group", "exact": "beta"}]},
        "split": {"header": "x-route-version", "targets": [{"value": "v2", "weight": 1}]}
    }])
}

#[test]
fn a_matching_header_or_cookie_routes_and_clears_the_route_cache() {
    let filter = router(canary());
    let mut host = request("GET", "/", &[("x-beta", "1")]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(one(&host, "x-route-version").as_deref(), Some("v2"));
    assert_eq!(host.route_cache_cleared, 1);

    let mut host = request("GET", "/", &[("cookie", "a=1; group=beta")]);
    run(&filter, &mut host);
    assert_eq!(one(&host, "x-route-version").as_deref(), Some("v2"));
}

#[test]
fn a_client_cannot_pick_its_route() {
    let filter = router(canary());
    let mut host = request("GET", "/", &[("x-route-version", "v2")]);
    run(&filter, &mut host);
    assert_eq!(one(&host, "x-route-version"), None);
    assert_eq!(
        host.route_cache_cleared, 0,
        "nothing changed, nothing to re-route"
    );
}

#[test]
fn templates_fill_values_and_invalid_results_are_dropped() {
    let filter = router(json!([{
        "name": "copy",
        "match": {"path": {"regex": "/users/([0-9]+)"}},
        "request_headers": {
            "set": [{"name": "x-user-id", "value": "{path.1}"},
                    {"name": "x-lang", "value": "{query.lang}"},
                    {"name": "x-where", "value": "{method} {host}{path} g={cookie.group}"}],
            "append": [{"name": "x-trace", "value": "router"}],
            "remove": ["x-debug"]
        }
    }]));
    let mut host = request(
        "GET",
        "/users/42?lang=de%0d%0aevil:%201",
        &[("cookie", "group=b"), ("x-debug", "1"), ("x-trace", "edge")],
    );
    run(&filter, &mut host);
    assert_eq!(one(&host, "x-user-id").as_deref(), Some("42"));
    assert_eq!(one(&host, "x-lang"), None, "a CR LF value was sent");
    assert_eq!(
        one(&host, "x-where").as_deref(),
        Some("GET shop.example/users/42 g=b")
    );
    assert_eq!(
        host.values(HeaderMap::Request, "x-trace"),
        ["edge", "router"]
    );
    assert_eq!(one(&host, "x-debug"), None);
    assert_eq!(
        host.counter("rule=.=copy;.;meshwasm_headerrouter_dropped_values_total"),
        1
    );
    assert_eq!(
        host.counter("rule=.=copy;.;meshwasm_headerrouter_matches_total"),
        1
    );
}

#[test]
fn paths_are_rewritten_keeping_the_query() {
    let filter = router(json!([
        {"name": "prefix", "match": {"path": {"prefix": "/api/v1/"}},
         "rewrite": {"prefix": {"from": "/api/v1/", "to": "/v1/"}}},
        {"name": "regex", "match": {"path": {"prefix": "/users/"}},
         "rewrite": {"regex": {"pattern": "/users/([0-9]+)/orders", "replacement": "/orders?user=$1"}}}
    ]));
    let mut host = request("GET", "/api/v1/items?page=2", &[]);
    run(&filter, &mut host);
    assert_eq!(one(&host, ":path").as_deref(), Some("/v1/items?page=2"));
    let mut host = request("GET", "/users/7/orders", &[]);
    run(&filter, &mut host);
    assert_eq!(one(&host, ":path").as_deref(), Some("/orders?user=7"));
    let mut host = request("GET", "/users/x/orders", &[]);
    run(&filter, &mut host);
    assert_eq!(
        one(&host, ":path").as_deref(),
        Some("/users/x/orders"),
        "no match, no rewrite"
    );
}

fn split_rule(fallback: Value) -> Rc<HeaderRouter> {
    router(json!([{
        "name": "canary",
        "split": {"header": "x-route-version", "sticky": {"header": "x-user"}, "fallback": fallback,
                  "targets": [{"value": "v1", "weight": 90}, {"value": "v2", "weight": 10}]}
    }]))
}

#[test]
fn a_sticky_split_keeps_each_user_on_one_side() {
    let filter = split_rule(json!("random"));
    let mut v2 = 0;
    for user in 0..2000 {
        let user = format!("user-{user}");
        let side = |filter: &Rc<HeaderRouter>| {
            let mut host = request("GET", "/", &[("x-user", &user)]);
            run(filter, &mut host);
            one(&host, "x-route-version").unwrap()
        };
        let first = side(&filter);
        assert_eq!(side(&filter), first);
        v2 += usize::from(first == "v2");
    }
    assert!((140..=260).contains(&v2), "{v2} of 2000 went to v2");
}

#[test]
fn requests_without_the_key_fall_back() {
    let filter = split_rule(json!({"value": "v1"}));
    for _ in 0..20 {
        let mut host = request("GET", "/", &[]);
        run(&filter, &mut host);
        assert_eq!(one(&host, "x-route-version").as_deref(), Some("v1"));
    }
    let random = split_rule(json!("random"));
    let sides: Vec<String> = (0..200)
        .map(|i| {
            let id = format!("req-{i}");
            let mut host = request("GET", "/", &[("x-request-id", &id)]);
            run(&random, &mut host);
            one(&host, "x-route-version").unwrap()
        })
        .collect();
    assert!(sides.iter().any(|s| s == "v2") && sides.iter().any(|s| s == "v1"));
}

#[test]
fn response_headers_are_set_on_the_way_back() {
    let filter = router(json!([{
        "name": "tag",
        "match": {"path": {"regex": "/p/(.*)"}},
        "response_headers": {"set": [{"name": "x-page", "value": "{path.1}"}], "remove": ["server"]}
    }]));
    let mut host = request("GET", "/p/home", &[]);
    let mut stage = filter.stage();
    stage.on_request_headers(&mut host.view());
    host.set_header(HeaderMap::Response, "server", "upstream")
        .unwrap();
    stage.on_response_headers(&mut host.view());
    assert_eq!(host.values(HeaderMap::Response, "x-page"), ["home"]);
    assert!(host.values(HeaderMap::Response, "server").is_empty());
}

#[test]
fn redirects_and_direct_answers() {
    let filter = router(json!([
        {"name": "old-docs", "match": {"path": {"regex": "/docs/(.*)"}},
         "respond": {"redirect": {"location": "https://{host}/manual/{path.1}", "status": 308}}},
        {"name": "maintenance", "match": {"path": {"prefix": "/admin"}},
         "respond": {"direct": {"status": 503, "body": "back soon"}}}
    ]));
    let Flow::Respond(answer) = run(&filter, &mut request("GET", "/docs/intro", &[])) else {
        panic!("no redirect");
    };
    assert_eq!(answer.status, 308);
    assert_eq!(
        answer.headers,
        [(
            "location".to_owned(),
            "https://shop.example/manual/intro".to_owned()
        )]
    );
    let Flow::Respond(answer) = run(&filter, &mut request("GET", "/admin/x", &[])) else {
        panic!("no direct answer");
    };
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (503, b"back soon".as_slice())
    );
}

#[test]
fn the_first_match_wins_unless_it_continues() {
    let rules = |continues: bool| {
        router(json!([
            {"name": "a", "continue": continues, "request_headers": {"append": [{"name": "x-hit", "value": "a"}]}},
            {"name": "b", "request_headers": {"append": [{"name": "x-hit", "value": "b"}]}}
        ]))
    };
    let mut host = request("GET", "/", &[]);
    run(&rules(false), &mut host);
    assert_eq!(host.values(HeaderMap::Request, "x-hit"), ["a"]);
    let mut host = request("GET", "/", &[]);
    run(&rules(true), &mut host);
    assert_eq!(host.values(HeaderMap::Request, "x-hit"), ["a", "b"]);
}

#[test]
fn later_rules_see_the_rewritten_path() {
    let filter = router(json!([
        {"name": "rewrite", "continue": true, "rewrite": {"prefix": {"from": "/old/", "to": "/new/"}}},
        {"name": "tag", "match": {"path": {"prefix": "/new/"}},
         "request_headers": {"set": [{"name": "x-seen", "value": "{path}"}]}}
    ]));
    let mut host = request("GET", "/old/x", &[]);
    run(&filter, &mut host);
    assert_eq!(one(&host, "x-seen").as_deref(), Some("/new/x"));
}

#[test]
fn paths_it_cannot_decode_or_that_are_long_still_meet_their_rule() {
    let filter = router(json!([{
        "name": "admin", "match": {"path": {"prefix": "/admin/"}},
        "respond": {"direct": {"status": 404, "body": "no"}}
    }]));
    let long = format!("/admin/{}", "a".repeat(20 * 1024));
    let answered = |flow| matches!(flow, Flow::Respond(a) if a.status == 404);
    assert!(answered(run(&filter, &mut request("GET", &long, &[]))));
    let mut raw = FakeHost::with_raw_request(&[(":method", b"GET"), (":path", b"/admin/\xff")]);
    assert!(answered(run(&filter, &mut raw)));
}

#[test]
fn control_characters_never_reach_a_header() {
    let filter = router(json!([{
        "name": "copy", "match": {"path": {"prefix": "/"}},
        "request_headers": {"set": [{"name": "x-lang", "value": "{query.lang}"},
                                    {"name": "x-ua", "value": "{header.x-agent}"}]}
    }]));
    let proxy = FakeHost::new();
    for (dropped, (path, agent)) in (1..).zip([
        ("/?lang=%01", "ok"),
        ("/?lang=%1b%5b31m", "ok"),
        ("/?lang=%7f", "ok"),
        ("/?lang=de", "\u{1b}[31m"),
        ("/?lang=de", "a\u{7f}"),
    ]) {
        let mut host = proxy.sharing(&[(":method", "GET"), (":path", path), ("x-agent", agent)]);
        assert_eq!(run(&filter, &mut host), Flow::Continue);
        let sent = [one(&host, "x-lang"), one(&host, "x-ua")];
        assert!(
            sent.iter()
                .flatten()
                .all(|v| meshwasm_core::names::is_field_value(v)),
            "{path} {agent:?} sent {sent:?}"
        );
        assert_eq!(
            sent.iter().filter(|v| v.is_none()).count(),
            1,
            "{path} {agent:?}"
        );
        assert_eq!(
            host.counter("rule=.=copy;.;meshwasm_headerrouter_dropped_values_total"),
            dropped
        );
    }
}

#[test]
fn a_redirect_that_cannot_be_sent_is_a_400() {
    let filter = router(json!([{
        "name": "lang", "match": {"path": {"prefix": "/go"}},
        "respond": {"redirect": {"location": "https://{query.to}/"}}
    }]));
    let Flow::Respond(answer) = run(
        &filter,
        &mut request("GET", "/go?to=a%0d%0aSet-Cookie:x", &[]),
    ) else {
        panic!("the request went upstream");
    };
    assert_eq!(answer.status, 400);
    let Flow::Respond(answer) = run(&filter, &mut request("GET", "/go?to=shop.example", &[]))
    else {
        panic!("no redirect");
    };
    assert_eq!(answer.status, 302);
}
