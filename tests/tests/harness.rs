//! The harness itself, through a real Envoy with no meshwasm filter: named
//! upstreams, and the echo service's per-request and programmed answers.

use meshwasm_e2e::{Bootstrap, Echo, Envoy, Reply};
use std::time::{Duration, Instant};

#[test]
fn named_upstreams_show_which_cluster_a_request_reached() {
    let v1 = Echo::start("v1", "127.0.0.1:0").unwrap();
    let v2 = Echo::start("v2", "127.0.0.1:0").unwrap();
    let envoy = Envoy::start(&Bootstrap::new(&v1).route_on_header("x-route-version", "v2", &v2))
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(envoy.get("/a", &[]).json()["upstream"], "v1");
    assert_eq!(
        envoy.get("/b", &[("x-route-version", "v2")]).json()["upstream"],
        "v2"
    );
    let (to_v1, to_v2) = (v1.received(), v2.received());
    assert_eq!(to_v1.len(), 1);
    assert_eq!(to_v1[0].path, "/a");
    assert_eq!(to_v2.len(), 1);
    assert_eq!(to_v2[0].header("x-route-version"), Some("v2"));
}

#[test]
fn the_echo_answers_as_a_request_asks() {
    let echo = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = Envoy::start(&Bootstrap::new(&echo)).unwrap_or_else(|e| panic!("{e}"));

    let answer = envoy.get(
        "/fail",
        &[
            ("x-echo-status", "503"),
            ("x-echo-header", "retry-after: 7"),
            ("x-echo-body", "down"),
        ],
    );
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("7"));
    assert_eq!(answer.body, "down");

    let started = Instant::now();
    let answer = envoy.get("/slow", &[("x-echo-delay-ms", "300")]);
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_programmed_reply_answers_its_path() {
    let echo = Echo::start("jwks", "127.0.0.1:0").unwrap();
    echo.reply(
        "/.well-known/jwks.json",
        Reply::json(&serde_json::json!({ "keys": [] })).header("cache-control", "max-age=60"),
    );
    let envoy = Envoy::start(&Bootstrap::new(&echo)).unwrap_or_else(|e| panic!("{e}"));

    let answer = envoy.get("/.well-known/jwks.json?x=1", &[]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("cache-control"), Some("max-age=60"));
    assert_eq!(answer.json(), serde_json::json!({ "keys": [] }));
    // Other paths still echo.
    assert_eq!(envoy.get("/other", &[]).json()["path"], "/other");
    assert_eq!(echo.received().len(), 2);
}

#[test]
fn many_concurrent_connections_are_all_answered() {
    let echo = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = Envoy::start(&Bootstrap::new(&echo)).unwrap_or_else(|e| panic!("{e}"));
    let url = envoy.url().to_owned();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| meshwasm_e2e::send("GET", &format!("{url}/x"), &[], b"").status)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let started = Instant::now();
    let statuses: Vec<u16> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{statuses:?} after {:?}",
        started.elapsed()
    );
}
