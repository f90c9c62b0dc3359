//! Property tests: the whole auth stage on requests carrying garbage
//! credentials (`Bearer`, `Basic`, API keys, tokens in the query and in
//! cookies, bytes that are not UTF-8). `make fuzz` runs them long.

use super::*;
use crate::Auth;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use meshwasm_core::names::is_field_value;
use meshwasm_core::testing::json::value_from_bytes;
use meshwasm_core::testing::{prop_cases, FakeHost};
use meshwasm_core::{Filter, Host};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};

/// Every method but the authorization service, and one public prefix;
/// every other path is protected.
fn filter() -> Rc<Auth> {
    let config = json!({
        "api_key": {"query": "api_key",
                    "consumers": [{"name": "alice", "key": "alice-key-7f3a9c2e5d1b8a40"}]},
        "basic": {"realm": "shop", "htpasswd": "carol:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="},
        "jwt": {"providers": [{
            "name": "idp", "issuer": "https://idp", "audiences": ["api"],
            "jwks": {"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256",
                               "k": "YS10ZXN0LXNlY3JldC1vZi1hdC1sZWFzdC0zMi1ieXRlcyEh"}]},
            "from": [{"header": {"name": "authorization", "prefix": "Bearer "}},
                     {"query": "access_token"}, {"cookie": "token"}],
            "claim_to_headers": [{"claim": "scope", "header": "x-scope"}]
        }]},
        "rules": [{"match": {"path": {"prefix": "/public/"}}, "anonymous": true}]
    });
    let config = meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap();
    Rc::new(Auth::new(config).unwrap())
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token that looks the part: a header naming a real algorithm (or
/// not), the right key id (or not), claims of any shape, any signature.
fn token_like() -> impl Strategy<Value = String> {
    let alg = prop_oneof![
        proptest::sample::select(&["HS256", "RS256", "ES256", "EdDSA", "none", "HS512"][..])
            .prop_map(str::to_owned),
        any::<String>(),
    ];
    (
        alg,
        proptest::option::of(prop_oneof![Just("k1".to_owned()), any::<String>()]),
        vec(any::<u8>(), 0..48),
        vec(any::<u8>(), 0..64),
    )
        .prop_map(|(alg, kid, claims, signature)| {
            let mut header = json!({"alg": alg});
            if let Some(kid) = kid {
                header["kid"] = Value::from(kid);
            }
            let words: Vec<String> = [
                "iss",
                "aud",
                "sub",
                "exp",
                "nbf",
                "scope",
                "https://idp",
                "api",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect();
            let claims = value_from_bytes(&[&[7u8][..], &claims].concat(), &words);
            format!(
                "{}.{}.{}",
                b64url(header.to_string().as_bytes()),
                b64url(claims.to_string().as_bytes()),
                b64url(&signature)
            )
        })
}

/// Garbage where a credential goes: random bytes, random text, or
/// something shaped like a token.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..48),
        any::<String>().prop_map(String::into_bytes),
        token_like().prop_map(String::into_bytes),
        (vec(any::<u8>(), 1..4), 0..20_000usize).prop_map(|(unit, len)| unit
            .into_iter()
            .cycle()
            .take(len)
            .collect()),
    ]
}

/// An `Authorization` value: `Bearer`/`Basic` (any case) and garbage, a
/// `Basic` of base64 garbage (a user and password that are wrong), or
/// garbage alone.
fn authorization() -> impl Strategy<Value = Vec<u8>> {
    let scheme = proptest::sample::select(&["Bearer ", "bearer ", "Basic ", "BASIC ", ""][..]);
    prop_oneof![
        3 => (scheme, garbage()).prop_map(|(s, g)| [s.as_bytes(), &g].concat()),
        1 => vec(any::<u8>(), 0..40)
            .prop_map(|creds| format!("Basic {}", STANDARD.encode(creds)).into_bytes()),
        1 => "[a-z]{0,6}:[ -~]{0,10}"
            .prop_map(|creds| format!("Basic {}", STANDARD.encode(creds)).into_bytes()),
    ]
}

/// Bytes percent-encoded for a query string.
fn query_value(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// A request with garbage credentials in any of the places the filter
/// reads them from, and a spoofed identity.
#[derive(Debug, Clone)]
struct Garbage {
    path: Vec<u8>,
    headers: Vec<(&'static str, Vec<u8>)>,
}

fn request() -> impl Strategy<Value = Garbage> {
    let path = prop_oneof![
        3 => "/(api|public|admin)/[a-z]{0,4}".prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..24),
    ];
    let in_query = proptest::option::of((
        proptest::sample::select(&["api_key", "access_token"][..]),
        garbage(),
    ));
    (
        path,
        in_query,
        proptest::option::of(authorization()),
        proptest::option::of(garbage()),
        proptest::option::of(garbage()),
        proptest::option::of(garbage()),
    )
        .prop_map(
            |(mut path, in_query, authorization, key, token_cookie, spoof)| {
                if let Some((name, value)) = in_query {
                    path.extend(format!("?{name}={}", query_value(&value)).into_bytes());
                }
                let mut headers = Vec::new();
                headers.extend(authorization.map(|v| ("authorization", v)));
                headers.extend(key.map(|v| ("x-api-key", v)));
                headers
                    .extend(token_cookie.map(|v| ("cookie", [&b"a=1; token="[..], &v].concat())));
                headers.extend(spoof.map(|v| ("x-meshwasm-consumer", v)));
                Garbage { path, headers }
            },
        )
}

fn host_for(request: &Garbage) -> FakeHost {
    let mut all: Vec<(&str, &[u8])> = vec![(":method", b"GET"), (":path", &request.path)];
    all.extend(request.headers.iter().map(|(n, v)| (*n, v.as_slice())));
    let mut host = FakeHost::with_raw_request(&all);
    host.now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    host
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_garbage_credentials_get_a_401_on_a_protected_path(request in request()) {
        let filter = filter();
        let mut host = host_for(&request);
        let flow = filter.stage().on_request_headers(&mut host.view());
        let bare = String::from_utf8_lossy(&request.path).split('?').next().unwrap_or_default().to_owned();
        let public = bare.starts_with("/public/");
        match &flow {
            Flow::Continue => prop_assert!(public, "garbage passed a protected path"),
            Flow::Respond(answer) => {
                prop_assert!(!public, "an anonymous path was refused: {:?}", answer);
                prop_assert_eq!(answer.status, 401, "{:?}", answer);
                let body: Value = serde_json::from_slice(&answer.body).unwrap();
                prop_assert_eq!(&body["error"], "unauthorized");
                for (name, value) in &answer.headers {
                    prop_assert!(is_field_value(value), "{}: {:?}", name, value);
                }
                prop_assert!(answer.headers.iter().any(|(n, _)| n == "www-authenticate"));
            }
            Flow::Pause => prop_assert!(false, "nothing to wait for"),
        }
        // Nobody is named to the upstream, whatever the client claimed.
        let request_headers = host.headers(HeaderMap::Request).unwrap();
        prop_assert!(!request_headers.iter().any(|(n, _)| n == "x-meshwasm-consumer" || n == "x-scope"));
    }

    #[test]
    fn prop_garbage_tokens_are_refused_by_the_verifier(token in token_like(), bytes in garbage()) {
        let filter = filter();
        let jwt = filter.jwt.as_ref().unwrap();
        let header = TokenSource::Header {
            name: meshwasm_core::HeaderName::from_static("authorization"),
            prefix: Some("Bearer ".to_owned()),
        };
        prop_assert!(jwt.authenticate(&token, &header, 1_700_000_000).is_err());
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(jwt.authenticate(&text, &header, 1_700_000_000).is_err());
    }
}
