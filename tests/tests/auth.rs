//! The auth filter in a real Envoy: every method accepts and refuses,
//! remote JWKS with rotation and outage, external authorization, rules,
//! and the attack tokens of RFC 8725.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use meshwasm_e2e::tokens::{jwks, mint, mint_with_header, now, rsa_public_pem, signing_key};
use meshwasm_e2e::{Answer, Bootstrap, Echo, Envoy, Reply, WasmFilter};
use serde_json::{json, Value};
use std::time::Duration;

/// An Envoy with the auth filter in front of `backend`, with an `idp`
/// cluster serving the JWKS of `keys` and an `authz` service.
struct Setup {
    envoy: Envoy,
    backend: Echo,
    idp: Echo,
    authz: Echo,
}

fn setup(config: Value, keys: &[&str]) -> Setup {
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    let idp = Echo::start("idp", "127.0.0.1:0").unwrap();
    let authz = Echo::start("authz", "127.0.0.1:0").unwrap();
    idp.reply("/jwks", Reply::json(&jwks(keys)));
    let envoy = Envoy::start(
        &Bootstrap::new(&backend)
            .cluster(&idp)
            .cluster(&authz)
            .filter(WasmFilter::new("auth", config)),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Setup {
        envoy,
        backend,
        idp,
        authz,
    }
}

/// The consumer the upstream was told about in the last request.
fn consumer_seen(backend: &Echo) -> Option<String> {
    backend
        .received()
        .last()
        .and_then(|r| r.header("x-meshwasm-consumer").map(str::to_owned))
}

fn assert_401(answer: &Answer, challenge: &str) {
    assert_eq!(answer.status, 401, "{answer:?}");
    let www = answer.header("www-authenticate").unwrap_or_default();
    assert!(
        www.contains(challenge),
        "challenge {www:?} lacks {challenge:?}"
    );
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json()["error"], "unauthorized");
}

fn claims(sub: &str) -> Value {
    json!({ "iss": "https://idp.test", "aud": "orders", "sub": sub, "exp": now() + 600, "scope": "read" })
}

fn jwt_config(extra: Value) -> Value {
    let mut provider = json!({
        "name": "idp",
        "issuer": "https://idp.test",
        "audiences": ["orders"],
        "remote_jwks": { "cluster": "idp", "path": "/jwks", "unknown_kid_refresh_seconds": 1 },
        "claim_to_headers": [{ "claim": "scope", "header": "x-scope" }],
    });
    if let (Some(p), Some(e)) = (provider.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({ "jwt": { "providers": [provider] } })
}

#[test]
fn api_keys_accept_reject_and_identity_cannot_be_spoofed() {
    let s = setup(
        json!({
            "api_key": { "query": "api_key", "consumers": [
                { "name": "alice", "key": "alice-key-1" },
                { "name": "bob", "key_sha256": "8f1fc2c8a7ed3e8b69b3b2b1bb39b8c5c1b8d0a6f2a7c2b7a8c1f3e5d2b4a6c8" }
            ]},
            "rules": [{ "match": { "path": { "exact": "/healthz" } }, "anonymous": true }]
        }),
        &[],
    );
    let ok = s.envoy.get(
        "/orders",
        &[
            ("x-api-key", "alice-key-1"),
            ("x-meshwasm-consumer", "root"),
        ],
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(consumer_seen(&s.backend).as_deref(), Some("alice"));
    let seen = s.backend.received();
    assert_eq!(
        seen[0].header("x-api-key"),
        None,
        "the key reached the upstream"
    );

    let by_query = s.envoy.get("/orders?api_key=alice-key-1", &[]);
    assert_eq!(by_query.status, 200);

    let bad = s.envoy.get("/orders", &[("x-api-key", "alice-key-2")]);
    assert_401(&bad, "ApiKey");
    assert_eq!(bad.json()["message"], "the API key is not valid");
    let none = s.envoy.get("/orders", &[("x-meshwasm-consumer", "alice")]);
    assert_401(&none, "ApiKey");
    assert_eq!(
        s.backend.received().len(),
        2,
        "denied requests reached the upstream"
    );

    let health = s.envoy.get("/healthz", &[("x-meshwasm-consumer", "root")]);
    assert_eq!(health.status, 200);
    assert_eq!(consumer_seen(&s.backend), None);
}

#[test]
fn basic_accepts_htpasswd_and_sha256_users() {
    // `htpasswd -nbs carol secret`; `printf secret | sha256sum`.
    let s = setup(
        json!({ "basic": {
            "realm": "orders",
            "htpasswd": "carol:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
            "users": [{ "name": "dave", "password_hash": "{SHA256}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" }]
        }}),
        &[],
    );
    let basic = |user: &str, pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    };
    for user in ["carol", "dave"] {
        let ok = s
            .envoy
            .get("/", &[("authorization", &basic(user, "secret"))]);
        assert_eq!(ok.status, 200, "{user}: {ok:?}");
        assert_eq!(consumer_seen(&s.backend).as_deref(), Some(user));
    }
    let bad = s
        .envoy
        .get("/", &[("authorization", &basic("carol", "guess"))]);
    assert_401(&bad, "Basic realm=\"orders\"");
}

#[test]
fn every_algorithm_verifies_against_the_remote_jwks() {
    let s = setup(
        jwt_config(json!({})),
        &["rsa-a", "ec256", "ec384", "ed25519"],
    );
    let cases = [
        ("rsa-a", Algorithm::RS256),
        ("rsa-a", Algorithm::RS384),
        ("rsa-a", Algorithm::RS512),
        ("rsa-a", Algorithm::PS256),
        ("rsa-a", Algorithm::PS384),
        ("rsa-a", Algorithm::PS512),
        ("ec256", Algorithm::ES256),
        ("ec384", Algorithm::ES384),
        ("ed25519", Algorithm::EdDSA),
    ];
    for (key, alg) in cases {
        let sub = format!("user-{alg:?}");
        let token = mint(key, alg, &claims(&sub));
        let answer = s.envoy.get(
            "/orders",
            &[
                ("authorization", &format!("Bearer {token}")),
                ("x-scope", "admin"),
            ],
        );
        assert_eq!(answer.status, 200, "{alg:?}: {answer:?}");
        let seen = s.backend.received();
        let last = seen.last().unwrap();
        assert_eq!(last.header("x-meshwasm-consumer"), Some(sub.as_str()));
        assert_eq!(last.header("x-scope"), Some("read"), "claim_to_headers");
        assert_eq!(
            last.header("authorization"),
            None,
            "the token reached the upstream"
        );
    }
    assert!(
        s.idp.received().len() <= 3,
        "JWKS fetched once per VM, not per request"
    );
}

#[test]
fn attack_tokens_are_refused() {
    let s = setup(jwt_config(json!({ "max_token_bytes": 4096 })), &["rsa-a"]);
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let good = mint("rsa-a", Algorithm::RS256, &claims("mallory"));
    let (input, signature) = good.rsplit_once('.').unwrap();
    let mut flipped = signature.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("rsa-a".into());
    let mut expired = claims("m");
    expired["exp"] = json!(now() - 3600);
    let mut early = claims("m");
    early["nbf"] = json!(now() + 3600);
    let mut wrong_iss = claims("m");
    wrong_iss["iss"] = json!("https://evil.test");
    let mut wrong_aud = claims("m");
    wrong_aud["aud"] = json!("payments");
    let mut huge = claims("m");
    huge["pad"] = json!("x".repeat(5000));
    let rsa = signing_key("rsa-a", Algorithm::RS256);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": "rsa-a"})),
                b64(&claims("m"))
            ),
            "algorithm is not accepted",
        ),
        (
            "HS256 signed with the RSA public key",
            jsonwebtoken::encode(
                &hs_header,
                &claims("m"),
                &EncodingKey::from_secret(&rsa_public_pem()),
            )
            .unwrap(),
            "no key may verify",
        ),
        (
            "expired",
            mint("rsa-a", Algorithm::RS256, &expired),
            "expired",
        ),
        (
            "nbf in the future",
            mint("rsa-a", Algorithm::RS256, &early),
            "not valid yet",
        ),
        (
            "wrong iss",
            mint("rsa-a", Algorithm::RS256, &wrong_iss),
            "issuer is not accepted",
        ),
        (
            "wrong aud",
            mint("rsa-a", Algorithm::RS256, &wrong_aud),
            "audience is not accepted",
        ),
        (
            "bad signature",
            format!("{input}.{}", String::from_utf8(flipped).unwrap()),
            "signature is invalid",
        ),
        ("malformed base64", format!("{input}.!!!"), "malformed"),
        (
            "oversized",
            mint("rsa-a", Algorithm::RS256, &huge),
            "too large",
        ),
        (
            "unknown kid",
            mint_with_header(
                &json!({"alg": "RS256", "kid": "rsa-z"}),
                &claims("m"),
                &rsa,
                Algorithm::RS256,
            ),
            "key id is not known",
        ),
        (
            "unknown crit",
            mint_with_header(
                &json!({"alg": "RS256", "kid": "rsa-a", "crit": ["exp"], "exp": 1}),
                &claims("m"),
                &rsa,
                Algorithm::RS256,
            ),
            "critical",
        ),
    ];
    for (name, token, reason) in cases {
        let answer = s
            .envoy
            .get("/orders", &[("authorization", &format!("Bearer {token}"))]);
        assert_401(&answer, "error=\"invalid_token\"");
        let www = answer.header("www-authenticate").unwrap_or_default();
        assert!(www.contains(reason), "{name}: {www}");
    }
    let ok = s
        .envoy
        .get("/orders", &[("authorization", &format!("Bearer {good}"))]);
    assert_eq!(ok.status, 200, "the untampered token passes: {ok:?}");
    assert_eq!(
        s.backend.received().len(),
        1,
        "only the good token reached the upstream"
    );
}

#[test]
fn a_rotated_key_is_fetched_by_its_new_kid() {
    let s = setup(jwt_config(json!({})), &["rsa-a"]);
    let old = mint("rsa-a", Algorithm::RS256, &claims("alice"));
    assert_eq!(
        s.envoy
            .get("/", &[("authorization", &format!("Bearer {old}"))])
            .status,
        200
    );

    // The issuer adds rsa-b; tokens signed by it name the new kid. The
    // periodic refresh is 5 minutes away: only the unknown kid can make
    // the filter fetch again.
    s.idp
        .reply("/jwks", Reply::json(&jwks(&["rsa-a", "rsa-b"])));
    std::thread::sleep(Duration::from_millis(1100));
    let new = mint("rsa-b", Algorithm::RS256, &claims("bob"));
    // Each Envoy worker fetches for itself: ask several times.
    for _ in 0..4 {
        let answer = s
            .envoy
            .get("/", &[("authorization", &format!("Bearer {new}"))]);
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(consumer_seen(&s.backend).as_deref(), Some("bob"));
    }
}

#[test]
fn a_removed_key_stops_verifying_after_the_refresh() {
    let mut config = jwt_config(json!({}));
    config["jwt"]["providers"][0]["remote_jwks"]["refresh_seconds"] = json!(1);
    let s = setup(config, &["rsa-a"]);
    let old = format!(
        "Bearer {}",
        mint("rsa-a", Algorithm::RS256, &claims("alice"))
    );
    for _ in 0..4 {
        assert_eq!(s.envoy.get("/", &[("authorization", &old)]).status, 200);
    }
    // rsa-a is withdrawn. Within a refresh period (and a tick) every worker
    // has the new set, and tokens it verified before are forgotten.
    s.idp.reply("/jwks", Reply::json(&jwks(&["rsa-b"])));
    std::thread::sleep(Duration::from_millis(2600));
    for _ in 0..4 {
        assert_401(
            &s.envoy.get("/", &[("authorization", &old)]),
            "invalid_token",
        );
    }
}

#[test]
fn with_the_jwks_service_down_tokens_are_refused() {
    let s = setup(jwt_config(json!({})), &["rsa-a"]);
    s.idp.reply("/jwks", Reply::status(503).body("down"));
    let token = mint("rsa-a", Algorithm::RS256, &claims("alice"));
    for _ in 0..3 {
        let answer = s
            .envoy
            .get("/", &[("authorization", &format!("Bearer {token}"))]);
        assert_401(&answer, "signing keys are not available");
    }
    assert!(s.backend.received().is_empty());
    assert!(
        !s.idp.received().is_empty(),
        "the filter did try the JWKS endpoint"
    );
}

fn authz_config(extra: Value) -> Value {
    let mut authz = json!({
        "cluster": "authz",
        "path_prefix": "/check",
        "timeout_ms": 300,
        "allowed_upstream_headers": ["x-user-id"],
        "consumer_header": "x-user-id",
    });
    if let (Some(a), Some(e)) = (authz.as_object_mut(), extra.as_object()) {
        a.extend(e.clone());
    }
    json!({ "ext_authz": authz })
}

#[test]
fn external_authorization_allows_denies_and_times_out() {
    let s = setup(authz_config(json!({})), &[]);
    s.authz.reply(
        "/check/allowed",
        Reply::status(200).header("x-user-id", "carol"),
    );
    s.authz.reply(
        "/check/denied",
        Reply::status(403)
            .header("content-type", "text/plain")
            .header("x-internal", "1")
            .body("nope"),
    );
    s.authz.reply(
        "/check/slow",
        Reply::status(200).delay(Duration::from_secs(2)),
    );

    let ok = s.envoy.get(
        "/allowed",
        &[("authorization", "opaque-token"), ("x-user-id", "root")],
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    let upstream = s.backend.received();
    assert_eq!(upstream.last().unwrap().header("x-user-id"), Some("carol"));
    assert_eq!(consumer_seen(&s.backend).as_deref(), Some("carol"));
    let check = s.authz.received();
    assert_eq!(check[0].header("authorization"), Some("opaque-token"));

    let denied = s.envoy.get("/denied", &[]);
    assert_eq!((denied.status, denied.body.as_str()), (403, "nope"));
    assert_eq!(denied.header("content-type"), Some("text/plain"));
    assert_eq!(
        denied.header("x-internal"),
        None,
        "only allowed headers reach the client"
    );

    let slow = s.envoy.get("/slow", &[]);
    assert_eq!(slow.status, 403, "{slow:?}");
    assert_eq!(
        slow.json()["message"],
        "the authorization service is unavailable"
    );
    assert_eq!(s.backend.received().len(), 1);
}

#[test]
fn external_authorization_can_fail_open() {
    let s = setup(authz_config(json!({ "failure_mode_allow": true })), &[]);
    s.authz.reply(
        "/check/slow",
        Reply::status(200).delay(Duration::from_secs(2)),
    );
    assert_eq!(s.envoy.get("/slow", &[]).status, 200);
}

#[test]
fn rules_pick_methods_and_forbid_callers() {
    let mut config = jwt_config(json!({}));
    config["api_key"] = json!({ "consumers": [{ "name": "alice", "key": "alice-key-1" }] });
    config["rules"] = json!([
        { "match": { "path": { "prefix": "/public/" }, "methods": ["GET"] }, "anonymous": true },
        { "match": { "path": { "prefix": "/admin/" } }, "accept": ["jwt"], "claims": { "scope": "admin" } },
        { "match": { "path": { "prefix": "/reports/" } }, "consumers": ["alice"] }
    ]);
    let s = setup(config, &["rsa-a"]);
    let reader = format!(
        "Bearer {}",
        mint("rsa-a", Algorithm::RS256, &claims("reader"))
    );
    let mut admin_claims = claims("root");
    admin_claims["scope"] = json!("read admin");
    let admin = format!("Bearer {}", mint("rsa-a", Algorithm::RS256, &admin_claims));

    assert_eq!(s.envoy.get("/public/x", &[]).status, 200);
    assert_401(&s.envoy.request("POST", "/public/x", &[], b""), "Bearer");
    assert_401(
        &s.envoy.get("/admin/x", &[("x-api-key", "alice-key-1")]),
        "Bearer",
    );
    assert_eq!(
        s.envoy
            .get("/admin/x", &[("authorization", &reader)])
            .status,
        403
    );
    assert_eq!(
        s.envoy.get("/admin/x", &[("authorization", &admin)]).status,
        200
    );
    let forbidden = s.envoy.get("/reports/1", &[("authorization", &reader)]);
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.json()["error"], "forbidden");
    assert_eq!(
        s.envoy
            .get("/reports/1", &[("x-api-key", "alice-key-1")])
            .status,
        200
    );
}
