//! Hostile requests through all four filters in a real Envoy, over HTTP/1
//! and HTTP/2: oversized and non-UTF-8 paths and headers, control
//! characters, duplicate credentials. Whatever a client sends, a rule is
//! never skipped, nothing answers 5xx for it, credentials stay off the
//! upstream, and the Wasm VMs never trap (later requests still pass).
//!
//! The listener keeps Envoy's defaults here, so paths reach the filters as
//! clients sent them (with the secure settings Envoy normalises them
//! first, see secure_sidecar.rs).

use meshwasm_e2e::{Answer, Bootstrap, Echo, Envoy, WasmFilter};
use serde_json::json;

/// Envoy with auth (an API key; `/public/` anonymous), rate-limit (one
/// request a minute under `/limited/`), header-router (`/public/admin/`
/// answered 404 directly; `x-lang` from the query) and metrics.
fn start() -> (Envoy, Echo) {
    let upstream = Echo::start("upstream", "127.0.0.1:0").unwrap();
    let envoy = Envoy::start(
        &Bootstrap::new(&upstream)
            .envoy_defaults()
            .filter(WasmFilter::new(
                "auth",
                json!({
                    "api_key": {"consumers": [{"name": "alice", "key": "alice-key"}]},
                    "jwt": {"providers": [{"name": "idp", "jwks": {"keys": [{
                        "kty": "oct", "kid": "k1", "alg": "HS256",
                        "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}}]},
                    "rules": [
                        {"match": {"path": {"prefix": "/public/"}}, "anonymous": true},
                        {"match": {}, "accept": ["api_key", "jwt"]}
                    ]
                }),
            ))
            .filter(WasmFilter::new(
                "rate-limit",
                json!({"rules": [{"name": "limited", "match": {"path": {"prefix": "/public/limited/"}},
                                  "limit": {"requests": 1, "per": "minute"}}]}),
            ))
            .filter(WasmFilter::new(
                "header-router",
                json!({"rules": [
                    {"name": "admin", "match": {"path": {"prefix": "/public/admin/"}},
                     "respond": {"direct": {"status": 404, "body": "no"}}},
                    {"name": "lang", "match": {"path": {"prefix": "/public/"}},
                     "request_headers": {"set": [{"name": "x-lang", "value": "{query.lang}"},
                                                 {"name": "x-ua", "value": "{header.x-agent}"}]}}
                ]}),
            ))
            .filter(WasmFilter::new("metrics", json!({}))),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (envoy, upstream)
}

/// A GET over HTTP/1.1 with the path and extra header lines as raw bytes.
fn http1(envoy: &Envoy, path: &[u8], headers: &[&[u8]]) -> Answer {
    let mut request = [
        b"GET ",
        path,
        b" HTTP/1.1\r\nhost: shop\r\nconnection: close\r\n",
    ]
    .concat();
    for header in headers {
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    envoy.send_raw(&request)
}

/// A GET over HTTP/2 with the path and extra headers as raw bytes.
fn http2(envoy: &Envoy, path: &[u8], headers: &[(&[u8], &[u8])]) -> Answer {
    let mut all: Vec<(&[u8], &[u8])> = vec![
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"shop"),
        (b":path", path),
    ];
    all.extend_from_slice(headers);
    envoy.send_h2(&all)
}

/// The request is answered, and not by a 5xx.
fn no_5xx(answer: &Answer, what: &str) {
    assert!(
        (200..500).contains(&answer.status),
        "{what}: {} {:?}",
        answer.status,
        answer.body
    );
}

/// The VMs are alive: ordinary requests still pass on every worker, and
/// Envoy's log shows no trap.
fn still_alive(envoy: &Envoy) {
    for _ in 0..8 {
        assert_eq!(envoy.get("/", &[("x-api-key", "alice-key")]).status, 200);
    }
    let log = envoy.log();
    for sign in [
        "panicked",
        "wasm trap",
        "Function: proxy_on",
        "Plugin configured to fail closed failed to load",
    ] {
        assert!(!log.contains(sign), "Envoy logged `{sign}`:\n{log}");
    }
}

#[test]
fn long_paths_meet_their_rules_over_both_protocols() {
    let (envoy, upstream) = start();
    let long = format!("/public/{}", "a".repeat(40 * 1024));
    let admin = format!("/public/admin/{}", "a".repeat(40 * 1024));
    let secret = format!("/secret/{}", "a".repeat(40 * 1024));
    for (via, send) in [
        (
            "http1",
            &(|p: &str| http1(&envoy, p.as_bytes(), &[])) as &dyn Fn(&str) -> Answer,
        ),
        ("http2", &|p: &str| http2(&envoy, p.as_bytes(), &[])),
    ] {
        assert_eq!(send(&long).status, 200, "{via}: anonymous long path");
        assert_eq!(
            send(&admin).status,
            404,
            "{via}: the admin rule was skipped"
        );
        assert_eq!(
            send(&secret).status,
            401,
            "{via}: the auth rule was skipped"
        );
    }
    assert_eq!(upstream.received().len(), 2);
    assert!(upstream.received().iter().all(|r| r.path == long));
    let limited = format!("/public/limited/{}", "b".repeat(40 * 1024));
    assert_eq!(http1(&envoy, limited.as_bytes(), &[]).status, 200);
    assert_eq!(http2(&envoy, limited.as_bytes(), &[]).status, 429);
    still_alive(&envoy);
}

#[test]
fn paths_that_are_not_utf8_meet_their_rules() {
    let (envoy, upstream) = start();
    // Envoy's HTTP/2 codec passes these bytes on; its HTTP/1 codec may
    // refuse them itself (a 400 from Envoy, before any filter).
    let sent = [
        (&b"/public/admin/\xff\xfe"[..], 404),
        (&b"/secret/\xff"[..], 401),
        (&b"/public/\xc3\x28"[..], 200),
    ];
    for (path, status) in sent {
        let answer = http2(&envoy, path, &[]);
        assert_eq!(answer.status, status, "http2 {}", path.escape_ascii());
        let answer = http1(&envoy, path, &[]);
        assert!(
            answer.status == status || answer.status == 400,
            "http1 {}: {answer:?}",
            path.escape_ascii()
        );
    }
    assert!(upstream
        .received()
        .iter()
        .all(|r| r.path.starts_with("/public/") && !r.path.starts_with("/public/admin/")));
    still_alive(&envoy);
}

#[test]
fn credentials_it_cannot_read_are_refused_not_errors() {
    let (envoy, upstream) = start();
    let cases: [(&[u8], &[u8]); 4] = [
        (b"x-api-key", b"alice-key\xff"),
        (b"x-api-key", &[b'k'; 20_000]),
        (b"authorization", b"Bearer \xff\xfe.\x80.x"),
        (
            b"authorization",
            &[b"Bearer ".as_slice(), &[b'a'; 30_000]].concat(),
        ),
    ];
    for (name, value) in cases {
        let answer = http2(&envoy, b"/secret", &[(name, value)]);
        assert_eq!(
            answer.status,
            401,
            "{}: {answer:?}",
            String::from_utf8_lossy(name)
        );
        assert_eq!(answer.json()["error"], "unauthorized");
    }
    assert!(upstream.received().is_empty());
    still_alive(&envoy);
}

#[test]
fn duplicate_credentials_never_reach_the_upstream() {
    let (envoy, upstream) = start();
    let answer = envoy.get(
        "/orders",
        &[
            ("x-api-key", "alice-key"),
            ("authorization", "Bearer not-checked"),
        ],
    );
    assert_eq!(answer.status, 200);
    let answer = envoy.get(
        "/public/x",
        &[("x-api-key", "wrong"), ("authorization", "Bearer x")],
    );
    assert_eq!(answer.status, 200);
    for received in upstream.received() {
        assert_eq!(received.header("x-api-key"), None, "{received:?}");
        assert_eq!(received.header("authorization"), None, "{received:?}");
    }
    assert_eq!(
        upstream.received()[0].header("x-meshwasm-consumer"),
        Some("alice")
    );
    still_alive(&envoy);
}

#[test]
fn control_characters_never_reach_a_header() {
    let (envoy, upstream) = start();
    for query in ["%01", "%1b%5b31m", "%7f", "a%0d%0ab:%201", "%00"] {
        let answer = envoy.get(&format!("/public/x?lang={query}"), &[]);
        assert_eq!(answer.status, 200, "{query}: {answer:?}");
    }
    // Envoy's HTTP/2 codec passes ESC and DEL in a header value on.
    for agent in [&b"\x1b[31m"[..], b"a\x7fb"] {
        let answer = http2(&envoy, b"/public/y", &[(b"x-agent", agent)]);
        assert!(
            answer.status == 200 || answer.status == 0,
            "{}: {answer:?}",
            agent.escape_ascii()
        );
    }
    for received in upstream.received() {
        for name in ["x-lang", "x-ua"] {
            if let Some(value) = received.header(name) {
                assert!(
                    meshwasm_core::names::is_field_value(value),
                    "{name}: {value:?}"
                );
            }
        }
    }
    assert!(
        envoy.counter(
            "meshwasm_headerrouter_dropped_values_total",
            &[("rule", "lang")]
        ) >= 5.0
    );
    still_alive(&envoy);
}

#[test]
fn oversized_forwarded_for_and_headers_are_no_5xx() {
    let (envoy, _upstream) = start();
    let xff = format!("{}1.2.3.4", "9.9.9.9, ".repeat(2_500));
    no_5xx(
        &envoy.get("/public/x", &[("x-forwarded-for", &xff)]),
        "a 22 KiB x-forwarded-for",
    );
    no_5xx(
        &http2(
            &envoy,
            b"/public/x",
            &[(b"x-forwarded-for", b"\xff\xfe, 1.2.3.4")],
        ),
        "a non-UTF-8 x-forwarded-for",
    );
    let big = "c".repeat(70 * 1024);
    let answer = envoy.get("/public/x", &[("x-big", &big)]);
    assert_eq!(answer.status, 431, "Envoy's own header limit answers first");
    still_alive(&envoy);
}
