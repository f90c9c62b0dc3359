//! The auth stage against an in-memory host: set up a request, run the
//! stage, look at what it answered and what it left for the upstream.

use super::*;
use crate::Auth;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use meshwasm_core::testing::FakeHost;
use meshwasm_core::Filter;
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};

const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";
const NOW: u64 = 1_700_000_000;

fn auth(config: Value) -> Rc<Auth> {
    let config = meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap();
    Rc::new(Auth::new(config).unwrap())
}

fn oct_jwks(kid: &str) -> Value {
    json!({"keys": [{"kty": "oct", "kid": kid, "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(SECRET)}]})
}

fn token(kid: &str, claims: Value) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

fn claims(sub: &str) -> Value {
    json!({"iss": "https://idp", "aud": "api", "sub": sub, "exp": NOW + 600, "scope": "read"})
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> FakeHost {
    let mut all = vec![(":method", method), (":path", path)];
    all.extend_from_slice(headers);
    let mut host = FakeHost::with_request(&all);
    host.now = UNIX_EPOCH + Duration::from_secs(NOW);
    host
}

fn run(filter: &Rc<Auth>, host: &mut FakeHost) -> Flow {
    filter.stage().on_request_headers(&mut host.view())
}

fn denial(flow: Flow) -> LocalResponse {
    match flow {
        Flow::Respond(answer) => answer,
        other => panic!("expected a local answer, got {other:?}"),
    }
}

fn header<'a>(answer: &'a LocalResponse, name: &str) -> Vec<&'a str> {
    answer
        .headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn body(answer: &LocalResponse) -> Value {
    serde_json::from_slice(&answer.body).unwrap()
}

fn consumer(host: &FakeHost) -> Vec<std::borrow::Cow<'_, str>> {
    host.values(HeaderMap::Request, "x-meshwasm-consumer")
}

fn api_keys() -> Value {
    json!({
        "api_key": {"query": "api_key", "consumers": [{"name": "alice", "key": "alice-key"}]},
        "rules": [{"match": {"path": {"prefix": "/public/"}}, "anonymous": true}]
    })
}

#[test]
fn an_api_key_names_the_consumer_and_spoofed_identities_go() {
    let filter = auth(api_keys());
    let mut host = request(
        "GET",
        "/a",
        &[("x-api-key", "alice-key"), ("x-meshwasm-consumer", "root")],
    );
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(consumer(&host), ["alice"]);

    let mut host = request("GET", "/a?api_key=alice-key", &[]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(consumer(&host), ["alice"]);
}

#[test]
fn a_wrong_or_missing_key_is_a_401_with_a_challenge() {
    let filter = auth(api_keys());
    let answer = denial(run(
        &filter,
        &mut request("GET", "/a", &[("x-api-key", "nope")]),
    ));
    assert_eq!(answer.status, 401);
    assert_eq!(
        header(&answer, "www-authenticate"),
        ["ApiKey realm=\"meshwasm\", header=\"x-api-key\""]
    );
    assert_eq!(
        body(&answer),
        json!({"error": "unauthorized", "message": "the API key is not valid"})
    );
    let answer = denial(run(&filter, &mut request("GET", "/a", &[])));
    assert_eq!(body(&answer)["message"], "credentials are required");
}

#[test]
fn anonymous_paths_pass_without_credentials_but_not_as_anyone() {
    let filter = auth(api_keys());
    let mut host = request("GET", "/public/x", &[("x-meshwasm-consumer", "root")]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert!(consumer(&host).is_empty());
}

#[test]
fn basic_users_authenticate() {
    let filter = auth(json!({
        "basic": {"realm": "shop", "htpasswd": "carol:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="}
    }));
    let good = format!("Basic {}", STANDARD.encode("carol:secret"));
    let mut host = request("GET", "/", &[("authorization", &good)]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(consumer(&host), ["carol"]);

    let bad = format!("Basic {}", STANDARD.encode("carol:guess"));
    let answer = denial(run(
        &filter,
        &mut request("GET", "/", &[("authorization", &bad)]),
    ));
    assert_eq!(answer.status, 401);
    assert_eq!(
        header(&answer, "www-authenticate"),
        ["Basic realm=\"shop\", charset=\"UTF-8\""]
    );
}

fn inline_jwt(extra: Value) -> Value {
    let mut provider = json!({
        "name": "idp", "issuer": "https://idp", "audiences": ["api"], "jwks": oct_jwks("k1"),
        "claim_to_headers": [{"claim": "scope", "header": "x-scope"}]
    });
    if let (Some(p), Some(e)) = (provider.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"jwt": {"providers": [provider]}})
}

#[test]
fn a_valid_token_names_the_consumer_and_copies_claims() {
    let filter = auth(inline_jwt(json!({})));
    let bearer = format!("Bearer {}", token("k1", claims("dave")));
    let mut host = request(
        "GET",
        "/",
        &[("authorization", &bearer), ("x-scope", "admin")],
    );
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(consumer(&host), ["dave"]);
    assert_eq!(host.values(HeaderMap::Request, "x-scope"), ["read"]);
    assert!(
        host.values(HeaderMap::Request, "authorization").is_empty(),
        "token forwarded"
    );
}

#[test]
fn tokens_reach_the_upstream_only_when_asked() {
    let filter = auth(inline_jwt(json!({"from": [{"query": "access_token"}]})));
    let path = format!("/x?a=1&access_token={}", token("k1", claims("dave")));
    let mut host = request("GET", &path, &[]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(host.values(HeaderMap::Request, ":path"), ["/x?a=1"]);

    let filter = auth(inline_jwt(json!({"forward": true})));
    let bearer = format!("Bearer {}", token("k1", claims("dave")));
    let mut host = request("GET", "/", &[("authorization", &bearer)]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(
        host.values(HeaderMap::Request, "authorization"),
        [bearer.as_str()]
    );
}

#[test]
fn keys_and_passwords_reach_the_upstream_only_when_asked() {
    let filter = auth(api_keys());
    let mut host = request("GET", "/a?api_key=alice-key&b=2", &[]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(host.values(HeaderMap::Request, ":path"), ["/a?b=2"]);
    let mut host = request("GET", "/a", &[("x-api-key", "alice-key")]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert!(host.values(HeaderMap::Request, "x-api-key").is_empty());

    let mut config = api_keys();
    config["api_key"]["forward"] = json!(true);
    let mut host = request("GET", "/a", &[("x-api-key", "alice-key")]);
    assert_eq!(run(&auth(config), &mut host), Flow::Continue);
    assert_eq!(host.values(HeaderMap::Request, "x-api-key"), ["alice-key"]);

    let filter = auth(json!({"basic": {"htpasswd": "carol:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="}}));
    let good = format!("Basic {}", STANDARD.encode("carol:secret"));
    let mut host = request("GET", "/", &[("authorization", &good)]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert!(host.values(HeaderMap::Request, "authorization").is_empty());
}

#[test]
fn a_token_fails_closed_when_the_clock_cannot_be_read() {
    let filter = auth(inline_jwt(json!({})));
    let bearer = format!("Bearer {}", token("k1", claims("d")));
    let fresh = || request("GET", "/", &[("authorization", &bearer)]);
    assert_eq!(run(&filter, &mut fresh()), Flow::Continue);
    // The same token again (now from the cache), with a clock before the
    // epoch, which cannot be read as seconds since it.
    let mut host = fresh();
    host.now = UNIX_EPOCH - Duration::from_secs(1);
    let answer = denial(run(&filter, &mut host));
    assert_eq!(answer.status, 401);
    assert_eq!(header(&answer, "www-authenticate").len(), 1);
}

#[test]
fn a_refused_token_gets_an_rfc_6750_challenge() {
    let filter = auth(inline_jwt(json!({})));
    let expired = json!({"iss": "https://idp", "aud": "api", "sub": "d", "exp": NOW - 3600});
    let cases = [
        (token("k1", expired), "token has expired"),
        (
            token(
                "k1",
                json!({"iss": "https://evil", "aud": "api", "exp": NOW + 60}),
            ),
            "token issuer is not accepted",
        ),
        (
            token(
                "k1",
                json!({"iss": "https://idp", "aud": "web", "exp": NOW + 60}),
            ),
            "token audience is not accepted",
        ),
        (token("k2", claims("d")), "token key id is not known"),
        (
            format!("{}x", token("k1", claims("d"))),
            "token signature is invalid",
        ),
    ];
    for (jwt, reason) in cases {
        let bearer = format!("Bearer {jwt}");
        let answer = denial(run(
            &filter,
            &mut request("GET", "/", &[("authorization", &bearer)]),
        ));
        assert_eq!(answer.status, 401);
        assert_eq!(
            header(&answer, "www-authenticate"),
            [format!("Bearer realm=\"meshwasm\", error=\"invalid_token\", error_description=\"{reason}\"")]
        );
        assert_eq!(body(&answer)["message"], reason);
    }
}

#[test]
fn one_accepting_method_is_enough() {
    let mut config = inline_jwt(json!({}));
    config["api_key"] = json!({"consumers": [{"name": "alice", "key": "alice-key"}]});
    let filter = auth(config);
    let bearer = format!("Bearer {}", token("k1", claims("dave")));
    let mut host = request(
        "GET",
        "/",
        &[("x-api-key", "wrong"), ("authorization", &bearer)],
    );
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(consumer(&host), ["dave"]);
    // With neither, every configured scheme is offered.
    let answer = denial(run(&filter, &mut request("GET", "/", &[])));
    assert_eq!(header(&answer, "www-authenticate").len(), 2);
}

#[test]
fn rules_forbid_other_consumers_and_missing_claims() {
    let mut config = inline_jwt(json!({}));
    config["rules"] = json!([
        {"match": {"path": {"prefix": "/admin"}}, "claims": {"scope": "admin"}},
        {"match": {"path": {"prefix": "/erin"}}, "consumers": ["erin"]}
    ]);
    let filter = auth(config);
    let bearer = format!("Bearer {}", token("k1", claims("dave")));
    for path in ["/admin", "/erin"] {
        let answer = denial(run(
            &filter,
            &mut request("GET", path, &[("authorization", &bearer)]),
        ));
        assert_eq!(answer.status, 403, "{path}");
        assert_eq!(body(&answer)["error"], "forbidden");
    }
}

fn remote_jwt() -> Rc<Auth> {
    auth(json!({"jwt": {"providers": [{
        "name": "idp", "issuer": "https://idp",
        "remote_jwks": {"cluster": "idp", "path": "/jwks", "unknown_kid_refresh_seconds": 30,
                        "allow_symmetric_keys": true}
    }]}}))
}

fn jwks_answer(jwks: &Value) -> CallResponse {
    meshwasm_core::testing::answer(200, &[], jwks.to_string().as_bytes())
}

#[test]
fn remote_keys_are_fetched_when_first_needed_then_reused() {
    let filter = remote_jwt();
    let bearer = format!("Bearer {}", token("k1", claims("dave")));
    let mut host = request("GET", "/", &[("authorization", &bearer)]);
    let mut stage = filter.stage();
    assert_eq!(stage.on_request_headers(&mut host.view()), Flow::Pause);
    assert_eq!(host.calls.len(), 1);
    assert_eq!(host.calls[0].cluster, "idp");
    assert_eq!(host.calls[0].header(":path"), Some("/jwks"));
    let flow = stage.on_call_response(&mut host.view(), 1, &jwks_answer(&oct_jwks("k1")));
    assert_eq!(flow, Flow::Continue);
    assert_eq!(consumer(&host), ["dave"]);

    // The next request finds the keys there.
    let mut host = request("GET", "/", &[("authorization", &bearer)]);
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert!(host.calls.is_empty());
}

#[test]
fn an_unknown_kid_refetches_at_most_so_often() {
    let filter = remote_jwt();
    let old = format!("Bearer {}", token("k1", claims("dave")));
    let mut host = request("GET", "/", &[("authorization", &old)]);
    let mut stage = filter.stage();
    stage.on_request_headers(&mut host.view());
    stage.on_call_response(&mut host.view(), 1, &jwks_answer(&oct_jwks("k1")));

    // A token from a rotated key, 40 s later: one fetch, which finds it.
    let new = format!("Bearer {}", token("k2", claims("erin")));
    let mut host = request("GET", "/", &[("authorization", &new)]);
    host.now += Duration::from_secs(40);
    let mut stage = filter.stage();
    assert_eq!(stage.on_request_headers(&mut host.view()), Flow::Pause);
    let flow = stage.on_call_response(&mut host.view(), 1, &jwks_answer(&oct_jwks("k2")));
    assert_eq!(flow, Flow::Continue);
    assert_eq!(consumer(&host), ["erin"]);

    // Another unknown kid right after: no fetch, refused.
    let bogus = format!("Bearer {}", token("k3", claims("mallory")));
    let mut host = request("GET", "/", &[("authorization", &bogus)]);
    host.now += Duration::from_secs(41);
    let answer = denial(run(&filter, &mut host));
    assert_eq!(answer.status, 401);
    assert!(host.calls.is_empty());
}

#[test]
fn without_keys_tokens_are_refused() {
    let filter = remote_jwt();
    let bearer = format!("Bearer {}", token("k1", claims("dave")));
    let mut host = request("GET", "/", &[("authorization", &bearer)]);
    let mut stage = filter.stage();
    assert_eq!(stage.on_request_headers(&mut host.view()), Flow::Pause);
    let down = CallResponse {
        status: Some(503),
        ..CallResponse::default()
    };
    let answer = denial(stage.on_call_response(&mut host.view(), 1, &down));
    assert_eq!(answer.status, 401);
    assert_eq!(body(&answer)["message"], "signing keys are not available");
}

#[test]
fn the_timer_fetches_and_refreshes_keys() {
    let filter = remote_jwt();
    assert_eq!(filter.tick_period(), Some(Duration::from_secs(1)));
    let mut host = request("GET", "/", &[]);
    filter.on_tick(&mut host);
    assert_eq!(host.calls.len(), 1);
    filter.on_call_response(&mut host.view(), 1, &jwks_answer(&oct_jwks("k1")));
    filter.on_tick(&mut host);
    assert_eq!(host.calls.len(), 1, "fresh keys are not fetched again");
    host.now += Duration::from_secs(301);
    filter.on_tick(&mut host);
    assert_eq!(host.calls.len(), 2);
}

fn authz(extra: Value) -> Rc<Auth> {
    let mut config = json!({
        "cluster": "authz", "path_prefix": "/check",
        "allowed_upstream_headers": ["x-user"], "consumer_header": "x-user"
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    auth(json!({"ext_authz": config}))
}

fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> CallResponse {
    meshwasm_core::testing::answer(status, headers, body.as_bytes())
}

#[test]
fn the_authorization_service_allows() {
    let filter = authz(json!({}));
    let mut host = request(
        "POST",
        "/orders",
        &[("authorization", "opaque"), ("x-user", "root")],
    );
    let mut stage = filter.stage();
    assert_eq!(stage.on_request_headers(&mut host.view()), Flow::Pause);
    assert!(
        host.values(HeaderMap::Request, "x-user").is_empty(),
        "spoofed header kept"
    );
    let call = &host.calls[0];
    assert_eq!(call.header(":path"), Some("/check/orders"));
    assert_eq!(call.header(":method"), Some("POST"));
    assert_eq!(call.header("authorization"), Some("opaque"));
    let flow = stage.on_call_response(
        &mut host.view(),
        1,
        &answer(200, &[("x-user", "carol")], ""),
    );
    assert_eq!(flow, Flow::Continue);
    assert_eq!(host.values(HeaderMap::Request, "x-user"), ["carol"]);
    assert_eq!(consumer(&host), ["carol"]);
}

#[test]
fn the_authorization_service_denies_or_is_down() {
    let filter = authz(json!({}));
    let mut host = request("GET", "/", &[]);
    let mut stage = filter.stage();
    stage.on_request_headers(&mut host.view());
    let deny = stage.on_call_response(
        &mut host.view(),
        1,
        &answer(401, &[("www-authenticate", "Custom")], "no"),
    );
    let deny = denial(deny);
    assert_eq!((deny.status, deny.body.as_slice()), (401, b"no".as_slice()));
    assert_eq!(header(&deny, "www-authenticate"), ["Custom"]);

    let mut stage = filter.stage();
    stage.on_request_headers(&mut host.view());
    let down = denial(stage.on_call_response(&mut host.view(), 2, &CallResponse::default()));
    assert_eq!(down.status, 403);

    let open = authz(json!({"failure_mode_allow": true}));
    let mut stage = open.stage();
    stage.on_request_headers(&mut host.view());
    assert_eq!(
        stage.on_call_response(&mut host.view(), 3, &CallResponse::default()),
        Flow::Continue
    );
}

#[test]
fn an_unexpected_call_answer_keeps_the_request_waiting() {
    let filter = authz(json!({}));
    let mut host = request("GET", "/", &[]);
    let mut stage = filter.stage();
    stage.on_request_headers(&mut host.view());
    assert_eq!(
        stage.on_call_response(&mut host.view(), 99, &answer(200, &[], "")),
        Flow::Pause
    );
    assert_eq!(
        stage.on_call_response(&mut host.view(), 1, &answer(200, &[], "")),
        Flow::Continue
    );
}

#[test]
fn decisions_are_counted_by_reason() {
    let filter = auth(api_keys());
    let mut host = request("GET", "/a", &[("x-api-key", "alice-key")]);
    run(&filter, &mut host);
    let mut next = host.sharing(&[(":method", "GET"), (":path", "/a"), ("x-api-key", "nope")]);
    run(&filter, &mut next);
    let mut public = host.sharing(&[(":method", "GET"), (":path", "/public/x")]);
    run(&filter, &mut public);
    let count = |decision: &str, reason: &str| {
        host.counter(&format!(
            "decision=.={decision};.;reason=.={reason};.;meshwasm_auth_requests_total"
        ))
    };
    assert_eq!(count("allowed", "api_key"), 1);
    assert_eq!(count("unauthorized", "invalid_api_key"), 1);
    assert_eq!(count("allowed", "anonymous"), 1);
}

#[test]
fn paths_it_cannot_decode_or_that_are_long_still_meet_their_rule() {
    let filter = auth(json!({
        "api_key": {"consumers": [{"name": "alice", "key": "alice-key"}]},
        "rules": [{"match": {"path": {"prefix": "/public/"}}, "anonymous": true}]
    }));
    let long = format!("/public/{}", "a".repeat(20 * 1024));
    assert_eq!(
        run(&filter, &mut request("GET", &long, &[])),
        Flow::Continue
    );
    let mut raw = FakeHost::with_raw_request(&[(":method", b"GET"), (":path", b"/public/\xff")]);
    assert_eq!(run(&filter, &mut raw), Flow::Continue);
    let mut raw = FakeHost::with_raw_request(&[(":method", b"GET"), (":path", b"/admin/\xff")]);
    assert_eq!(denial(run(&filter, &mut raw)).status, 401);
    let mut raw = FakeHost::with_raw_request(&[
        (":method", b"GET"),
        (":path", b"/admin/\xff"),
        ("x-api-key", b"alice-key\xff"),
    ]);
    assert_eq!(denial(run(&filter, &mut raw)).status, 401);
}

#[test]
fn every_credential_the_filter_reads_stays_off_the_upstream() {
    let mut config = inline_jwt(json!({"from": [
        {"header": {"name": "authorization", "prefix": "Bearer "}},
        {"query": "access_token"}, {"cookie": "session"}
    ]}));
    config["api_key"] = json!({"consumers": [{"name": "alice", "key": "alice-key"}]});
    config["rules"] = json!([{"match": {}, "accept": ["api_key", "jwt"]}]);
    let filter = auth(config);
    let jwt = token("k1", claims("dave"));

    // An unused bearer token beside an accepted API key.
    let mut host = request(
        "GET",
        &format!("/a?access_token={jwt}&x=1"),
        &[
            ("x-api-key", "alice-key"),
            ("authorization", "Bearer unused"),
            ("cookie", "theme=dark; session=also-unused"),
        ],
    );
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(consumer(&host), ["alice"]);
    assert!(host.values(HeaderMap::Request, "authorization").is_empty());
    assert!(host.values(HeaderMap::Request, "x-api-key").is_empty());
    assert_eq!(host.values(HeaderMap::Request, ":path"), ["/a?x=1"]);
    assert_eq!(host.values(HeaderMap::Request, "cookie"), ["theme=dark"]);

    // A refused API key beside an accepted token.
    let bearer = format!("Bearer {jwt}");
    let mut host = request(
        "GET",
        "/a",
        &[("x-api-key", "wrong"), ("authorization", &bearer)],
    );
    assert_eq!(run(&filter, &mut host), Flow::Continue);
    assert_eq!(consumer(&host), ["dave"]);
    assert!(host.values(HeaderMap::Request, "x-api-key").is_empty());
    assert!(host.values(HeaderMap::Request, "authorization").is_empty());
}

#[test]
fn an_authorization_service_allow_forwards_credentials_only_when_asked() {
    let sent = [("authorization", "opaque"), ("cookie", "sid=1")];
    for (forward, kept) in [(false, 0), (true, 1)] {
        let filter = authz(json!({"forward": forward}));
        let mut host = request("GET", "/", &sent);
        let mut stage = filter.stage();
        assert_eq!(stage.on_request_headers(&mut host.view()), Flow::Pause);
        let flow = stage.on_call_response(&mut host.view(), 1, &answer(200, &[], ""));
        assert_eq!(flow, Flow::Continue);
        for (name, _) in sent {
            assert_eq!(
                host.values(HeaderMap::Request, name).len(),
                kept,
                "{name} with forward: {forward}"
            );
        }
    }
}

#[test]
fn an_authorization_service_that_cannot_be_called_is_unavailable() {
    let filter = authz(json!({}));
    let mut host = request("GET", "/", &[("authorization", "opaque")]);
    host.refuse_calls = true;
    let answer = denial(run(&filter, &mut host));
    assert_eq!(answer.status, 403);
    assert_eq!(
        body(&answer)["message"],
        "the authorization service is unavailable"
    );
    let open = authz(json!({"failure_mode_allow": true}));
    assert_eq!(run(&open, &mut host), Flow::Continue);
}
