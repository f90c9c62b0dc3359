//! The secure sidecar settings (docs/hardening.md, "Secure sidecar settings") close
//! what Envoy's defaults leave open in front of the filters: a path the
//! filters read one way and the upstream another, a client address taken
//! from a header the client wrote, a header name with `_` that upstreams
//! may read as `-`. Each test sends the same requests to an Envoy with the
//! settings (the harness default) and to one with Envoy's defaults, where
//! the bypass is shown to exist.

use meshwasm_e2e::{Answer, Bootstrap, Echo, Envoy, WasmFilter};
use serde_json::json;

const KEY: &str = "alice-key-1";

/// Everything under `/admin/` needs an API key; the rest is anonymous.
fn admin_needs_a_key() -> WasmFilter {
    WasmFilter::new(
        "auth",
        json!({
            "api_key": { "consumers": [{ "name": "alice", "key": KEY }] },
            "rules": [
                { "match": { "path": { "prefix": "/admin/" } }, "accept": ["api_key"] },
                { "match": { "path": { "prefix": "/" } }, "anonymous": true }
            ]
        }),
    )
}

fn start(bootstrap: Bootstrap) -> Envoy {
    Envoy::start(&bootstrap).unwrap_or_else(|e| panic!("{e}"))
}

/// Paths under `/admin/` for an upstream that resolves dot segments, merges
/// slashes and decodes percent-encoding, as most do; not for a filter that
/// reads them as sent.
const DISGUISED_ADMIN: [&str; 4] = ["/x/../admin/", "//admin/", "/admin%2Fx", "/%61dmin/"];

#[test]
fn a_disguised_admin_path_does_not_reach_the_upstream_without_a_key() {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = start(Bootstrap::new(&backend).filter(admin_needs_a_key()));
    for path in DISGUISED_ADMIN {
        let answer = envoy.get(path, &[]);
        if path.contains("%2F") {
            // Unescaped and sent back: the filters see the real path on the
            // client's next request.
            assert_eq!(answer.status, 307, "{path}: {answer:?}");
            assert!(
                answer
                    .header("location")
                    .is_some_and(|l| l.ends_with("/admin/x")),
                "{path}: {answer:?}"
            );
            assert_eq!(envoy.get("/admin/x", &[]).status, 401);
        } else {
            assert_eq!(answer.status, 401, "{path}: {answer:?}");
        }
    }
    assert!(
        backend.received().is_empty(),
        "reached the upstream without a key: {:?}",
        backend.received()
    );
    // With the key, the upstream gets the path the filters checked.
    let ok = envoy.get("/x/../admin/", &[("x-api-key", KEY)]);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(backend.received()[0].path, "/admin/");

    // Envoy's defaults: the auth filter sees a path not under `/admin/`,
    // and the upstream gets it as sent.
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = start(
        Bootstrap::new(&backend)
            .envoy_defaults()
            .filter(admin_needs_a_key()),
    );
    for path in DISGUISED_ADMIN {
        assert_eq!(envoy.get(path, &[]).status, 200, "{path}");
    }
    let reached: Vec<String> = backend.received().into_iter().map(|r| r.path).collect();
    assert_eq!(reached, DISGUISED_ADMIN);
}

fn per_client_limit() -> WasmFilter {
    WasmFilter::new(
        "rate-limit",
        json!({
            "rules": [{ "name": "per-client", "key": ["client_address"],
                        "limit": { "requests": 2, "per": "minute" } }],
            "client_address": { "xff_trusted_hops": 0 }
        }),
    )
}

/// One request per forged `x-forwarded-for`, all from 127.0.0.1.
fn forging(envoy: &Envoy, addresses: &[&str]) -> Vec<u16> {
    addresses
        .iter()
        .map(|xff| envoy.get("/", &[("x-forwarded-for", xff)]).status)
        .collect()
}

#[test]
fn a_forged_x_forwarded_for_does_not_escape_a_per_client_limit() {
    let forged = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = start(Bootstrap::new(&backend).filter(per_client_limit()));
    assert_eq!(forging(&envoy, &forged), [200, 200, 429, 429]);
    // The forged entry is passed on as the client's word, with the address
    // Envoy saw appended after it.
    let seen = backend.received();
    let xff = seen[0].header("x-forwarded-for").unwrap_or_default();
    assert!(xff.starts_with("10.0.0.1,"), "{xff}");
    assert_eq!(seen.len(), 2);

    // Envoy's defaults: the last x-forwarded-for entry becomes the source
    // address, so each forged value gets a bucket of its own.
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = start(
        Bootstrap::new(&backend)
            .envoy_defaults()
            .filter(per_client_limit()),
    );
    assert_eq!(forging(&envoy, &forged), [200, 200, 200, 200]);
}

/// A request with alice's key and a forged consumer header spelled with
/// underscores.
fn forged_consumer(envoy: &Envoy) -> Answer {
    envoy.get(
        "/admin/",
        &[("x-api-key", KEY), ("x_meshwasm_consumer", "forged")],
    )
}

#[test]
fn a_consumer_header_spelled_with_underscores_is_refused() {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = start(Bootstrap::new(&backend).filter(admin_needs_a_key()));
    let answer = forged_consumer(&envoy);
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(backend.received().is_empty(), "{:?}", backend.received());

    // Envoy's defaults: the upstream gets both the consumer the auth filter
    // set and the forged one, which a server that reads `_` as `-` (CGI,
    // WSGI, many frameworks) may take for the first.
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let envoy = start(
        Bootstrap::new(&backend)
            .envoy_defaults()
            .filter(admin_needs_a_key()),
    );
    assert_eq!(forged_consumer(&envoy).status, 200);
    let seen = &backend.received()[0];
    assert_eq!(seen.header("x-meshwasm-consumer"), Some("alice"));
    assert_eq!(seen.header("x_meshwasm_consumer"), Some("forged"));
}
