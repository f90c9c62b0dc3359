//! Property tests: [`Parsed::parse`] on arbitrary text and on tokens put
//! together from arbitrary parts. `make fuzz` runs them long.

use super::*;
use meshwasm_core::testing::json::value_from_bytes;
use meshwasm_core::testing::prop_cases;
use proptest::collection::vec;
use proptest::prelude::*;

const NAMES: [&str; 12] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Text shaped like a token, or anything.
fn token_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_=+/.-]{0,80}",
        any::<String>(),
        (
            vec(any::<u8>(), 0..40),
            vec(any::<u8>(), 0..40),
            vec(any::<u8>(), 0..40)
        )
            .prop_map(|(h, p, s)| format!("{}.{}.{}", b64(&h), b64(&p), b64(&s))),
    ]
}

/// A JSON object spelled out by bytes, with the words claims use.
fn claims(bytes: &[u8]) -> Map<String, Value> {
    let words: Vec<String> = [
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "scope",
        "https://idp",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    match value_from_bytes(&[&[7u8][..], bytes].concat(), &words) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_any_text_parses_or_is_refused(token in token_text(), max in prop_oneof![0..128usize, Just(8192)]) {
        match Parsed::parse(&token, max) {
            Ok(parsed) => {
                prop_assert!(token.len() <= max);
                prop_assert_eq!(token.matches('.').count(), 2);
                let rest = token.strip_prefix(parsed.signing_input).and_then(|r| r.strip_prefix('.'));
                prop_assert!(rest.is_some(), "the signing input is the token's first two parts");
                prop_assert_eq!(URL_SAFE_NO_PAD.decode(rest.unwrap_or_default()).ok(), Some(parsed.signature));
            }
            Err(JwtError::TooLarge) => prop_assert!(token.len() > max),
            Err(e) => {
                prop_assert!(token.len() <= max);
                prop_assert!(matches!(
                    e,
                    JwtError::Malformed(_) | JwtError::UnsupportedAlgorithm | JwtError::CriticalHeader
                ), "{:?}", e);
            }
        }
    }

    #[test]
    fn prop_a_token_of_any_claims_comes_apart(
        alg in proptest::sample::select(&NAMES[..]),
        kid in proptest::option::of(any::<String>()),
        payload in vec(any::<u8>(), 0..64),
        signature in vec(any::<u8>(), 0..80),
    ) {
        let mut header = serde_json::json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = &kid {
            header["kid"] = Value::from(kid.clone());
        }
        let claims = claims(&payload);
        let token = format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(Value::Object(claims.clone()).to_string().as_bytes()),
            b64(&signature)
        );
        let parsed = Parsed::parse(&token, token.len()).unwrap();
        prop_assert_eq!(parsed.alg.name(), alg);
        prop_assert_eq!(parsed.kid, kid);
        prop_assert_eq!(parsed.claims, claims);
        prop_assert_eq!(parsed.signature, signature);
    }

    #[test]
    fn prop_unknown_algorithms_and_critical_headers_are_refused(
        alg in any::<String>(),
        crit in vec(any::<u8>(), 0..8),
        payload in vec(any::<u8>(), 0..32),
    ) {
        let body = b64(Value::Object(claims(&payload)).to_string().as_bytes());
        let odd = serde_json::json!({"alg": alg});
        let token = format!("{}.{body}.c2ln", b64(odd.to_string().as_bytes()));
        let expected = if NAMES.contains(&alg.as_str()) { None } else { Some(JwtError::UnsupportedAlgorithm) };
        prop_assert_eq!(Parsed::parse(&token, 8192).err(), expected);
        let critical = serde_json::json!({"alg": "HS256", "crit": value_from_bytes(&crit, &[])});
        let token = format!("{}.{body}.c2ln", b64(critical.to_string().as_bytes()));
        // `crit` of null reads as absent.
        let expected = if critical["crit"].is_null() { None } else { Some(JwtError::CriticalHeader) };
        prop_assert_eq!(Parsed::parse(&token, 8192).err(), expected);
    }
}
