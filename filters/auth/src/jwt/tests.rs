//! [`Jwt::authenticate`] with the verified-token cache: a remembered token
//! stands only where verifying it afresh would accept it.

use super::*;
use crate::config::JwtConfig;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";
const OTHER_SECRET: &[u8] = b"another-secret-of-at-least-32-bytes!";
const NOW: u64 = 1_700_000_000;

fn jwks(secret: &[u8]) -> Value {
    json!({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(secret)}]})
}

fn token(claims: &Value) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    encode(&header, claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

fn claims(iss: &str, aud: &str) -> Value {
    json!({"iss": iss, "aud": aud, "sub": "dave", "exp": NOW + 600})
}

/// A provider reading the `Authorization` header, with `extra` members.
fn provider(name: &str, extra: Value) -> Value {
    let mut p = json!({"name": name, "issuer": "https://idp", "jwks": jwks(SECRET)});
    if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    p
}

fn jwt(providers: Vec<Value>) -> Jwt {
    let config: JwtConfig = serde_json::from_value(json!({ "providers": providers })).unwrap();
    Jwt::new(&config).unwrap()
}

fn bearer() -> TokenSource {
    TokenSource::Header {
        name: meshwasm_core::HeaderName::from_static("authorization"),
        prefix: Some("Bearer ".to_owned()),
    }
}

fn query() -> TokenSource {
    TokenSource::Query("access_token".to_owned())
}

fn cookie() -> TokenSource {
    TokenSource::Cookie("session".to_owned())
}

/// What verifying `token` at `source` gives with nothing remembered.
fn afresh(
    providers: &[Value],
    token: &str,
    source: &TokenSource,
    now: u64,
) -> Result<usize, Refusal> {
    jwt(providers.to_vec())
        .authenticate(token, source, now)
        .map(|v| v.provider)
}

#[test]
fn a_token_verified_from_the_header_is_refused_where_its_provider_does_not_read() {
    // `idp` reads only the header; `partner` reads `?access_token=` but
    // takes another issuer. So the query has a reader, just not for this
    // token.
    let providers = vec![
        provider("idp", json!({})),
        provider(
            "partner",
            json!({"issuer": "https://partner", "from": [{"query": "access_token"}]}),
        ),
    ];
    let jwt = jwt(providers.clone());
    let t = token(&claims("https://idp", "api"));
    assert_eq!(jwt.authenticate(&t, &bearer(), NOW).unwrap().provider, 0);

    let cached = jwt.authenticate(&t, &query(), NOW).map(|v| v.provider);
    let miss = afresh(&providers, &t, &query(), NOW);
    assert_eq!(
        miss,
        Err(Refusal {
            error: JwtError::UnknownIssuer,
            provider: None
        })
    );
    assert_eq!(cached, miss);
    // Nor from a place no provider reads at all.
    let cached = jwt.authenticate(&t, &cookie(), NOW).map(|v| v.provider);
    assert_eq!(cached, afresh(&providers, &t, &cookie(), NOW));
    assert!(cached.is_err());
}

#[test]
fn a_token_cached_through_one_provider_is_refused_by_another_with_its_issuer() {
    // Same issuer: `web` reads the cookie and wants another audience.
    let providers = vec![
        provider("api", json!({"audiences": ["api"]})),
        provider(
            "web",
            json!({"audiences": ["web"], "from": [{"cookie": "session"}]}),
        ),
    ];
    let jwt = jwt(providers.clone());
    let t = token(&claims("https://idp", "api"));
    let first = jwt.authenticate(&t, &bearer(), NOW).unwrap();
    assert_eq!(first.provider, 0);

    let cached = jwt.authenticate(&t, &cookie(), NOW).map(|v| v.provider);
    let miss = afresh(&providers, &t, &cookie(), NOW);
    assert_eq!(
        miss,
        Err(Refusal {
            error: JwtError::WrongAudience,
            provider: Some(1)
        })
    );
    assert_eq!(cached, miss);
    // The refusal does not spoil the token where it is good.
    let again = jwt.authenticate(&t, &bearer(), NOW).unwrap();
    assert!(Rc::ptr_eq(&first, &again), "verified again");
}

#[test]
fn each_providers_own_checks_and_keys_apply_to_a_remembered_token() {
    let cases = [
        (
            json!({"required_claims": ["tenant"]}),
            JwtError::BadClaim("tenant".into()),
        ),
        (json!({"jwks": jwks(OTHER_SECRET)}), JwtError::BadSignature),
        (
            json!({"require_expiration": false, "clock_skew_seconds": 0}),
            JwtError::Expired,
        ),
    ];
    for (extra, error) in cases {
        let mut other = provider("cookie", json!({"from": [{"cookie": "session"}]}));
        if let (Some(p), Some(e)) = (other.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let providers = vec![provider("header", json!({})), other];
        let jwt = jwt(providers.clone());
        // Expires in 30 s: good for `header` (60 s of skew), not for a
        // provider without skew 40 s later.
        let t = token(&json!({"iss": "https://idp", "sub": "dave", "exp": NOW + 30}));
        let now = NOW + 40;
        assert_eq!(jwt.authenticate(&t, &bearer(), now).unwrap().provider, 0);
        let cached = jwt.authenticate(&t, &cookie(), now).map(|v| v.provider);
        let miss = afresh(&providers, &t, &cookie(), now);
        assert_eq!(
            miss,
            Err(Refusal {
                error: error.clone(),
                provider: Some(1)
            })
        );
        assert_eq!(cached, miss, "{error}");
    }
}

#[test]
fn a_token_two_providers_accept_is_verified_by_the_one_reading_its_place() {
    let providers = vec![
        provider("api", json!({})),
        provider("web", json!({"from": [{"cookie": "session"}]})),
    ];
    let jwt = jwt(providers);
    let t = token(&claims("https://idp", "api"));
    assert_eq!(jwt.authenticate(&t, &bearer(), NOW).unwrap().provider, 0);
    // `web`'s consumer claim, headers and `forward` apply, not `api`'s.
    assert_eq!(jwt.authenticate(&t, &cookie(), NOW).unwrap().provider, 1);
    assert_eq!(jwt.authenticate(&t, &bearer(), NOW).unwrap().provider, 0);
}

#[test]
fn a_remembered_token_serves_every_place_of_its_provider() {
    let jwt = jwt(vec![provider(
        "idp",
        json!({"from": [{"header": {"name": "authorization", "prefix": "Bearer "}}, {"query": "access_token"}]}),
    )]);
    let t = token(&claims("https://idp", "api"));
    let first = jwt.authenticate(&t, &bearer(), NOW).unwrap();
    let second = jwt.authenticate(&t, &query(), NOW).unwrap();
    assert!(Rc::ptr_eq(&first, &second), "verified again");
}

#[test]
fn a_remembered_token_expires_as_a_fresh_one_would() {
    let providers = vec![provider("idp", json!({}))];
    let jwt = jwt(providers.clone());
    let t = token(&claims("https://idp", "api"));
    assert!(jwt.authenticate(&t, &bearer(), NOW).is_ok());
    let later = NOW + 600 + 60;
    let cached = jwt.authenticate(&t, &bearer(), later).map(|v| v.provider);
    assert_eq!(cached, afresh(&providers, &t, &bearer(), later));
    assert_eq!(
        cached,
        Err(Refusal {
            error: JwtError::Expired,
            provider: Some(0)
        })
    );
}

/// The whole filter: a token accepted in the `Authorization` header, then
/// sent as `?access_token=`, which only a provider of another issuer reads.
#[test]
fn the_filter_refuses_a_remembered_token_in_a_place_its_provider_does_not_read() {
    use crate::Auth;
    use meshwasm_core::testing::FakeHost;
    use meshwasm_core::{Filter, Flow, HeaderMap, Stage};
    use std::time::{Duration, UNIX_EPOCH};

    let config = json!({"jwt": {"providers": [
        provider("idp", json!({})),
        provider(
            "partner",
            json!({"issuer": "https://partner", "from": [{"query": "access_token"}]}),
        ),
    ]}});
    let config = meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap();
    let filter = Rc::new(Auth::new(config).unwrap());
    let t = token(&claims("https://idp", "api"));
    let request = |path: &str, headers: &[(&str, &str)]| {
        let mut all = vec![(":method", "GET"), (":path", path)];
        all.extend_from_slice(headers);
        let mut host = FakeHost::with_request(&all);
        host.now = UNIX_EPOCH + Duration::from_secs(NOW);
        host
    };

    let mut host = request("/", &[("authorization", &format!("Bearer {t}"))]);
    assert_eq!(
        filter.stage().on_request_headers(&mut host.view()),
        Flow::Continue
    );
    assert_eq!(
        host.values(HeaderMap::Request, "x-meshwasm-consumer"),
        ["dave"]
    );

    let mut host = request(&format!("/?access_token={t}"), &[]);
    match filter.stage().on_request_headers(&mut host.view()) {
        Flow::Respond(answer) => assert_eq!(answer.status, 401),
        other => panic!("a remembered token passed from the query: {other:?}"),
    }
    assert!(host
        .values(HeaderMap::Request, "x-meshwasm-consumer")
        .is_empty());
}
