//! Property tests: arbitrary bytes, structured garbage and mutated valid
//! configurations into [`ChainConfig`] and [`MeshChain::new`]: every part's
//! errors are named under the part. `make fuzz` runs them long.

use super::*;
use meshwasm_core::testing::json::{check_bytes, check_case, check_garbage, Case, Schema};
use meshwasm_core::testing::prop_cases;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};

/// A valid configuration with all four parts.
fn bases() -> Vec<Value> {
    vec![json!({
        "metrics": {"prefix": "mesh", "consumer_header": "x-meshwasm-consumer",
                    "extra_labels": [{"name": "tier", "header": "x-tier", "values": ["gold"]}]},
        "auth": {"api_key": {"consumers": [{"name": "alice", "key": "k"}]},
                 "jwt": {"providers": [{"name": "idp", "jwks": {"keys": [
                     {"kty": "oct", "kid": "k1", "alg": "HS256",
                      "k": "YS10ZXN0LXNlY3JldC1vZi1hdC1sZWFzdC0zMi1ieXRlcyEh"}]}}]},
                 "rules": [{"match": {"path": {"prefix": "/public/"}}, "anonymous": true},
                           {"accept": ["jwt"], "claims": {"scope": "admin"},
                            "match": {"methods": ["POST"]}}]},
        "rate_limit": {"rules": [{"name": "per-consumer", "key": [{"header": "x-meshwasm-consumer"}],
                                  "limit": {"requests": 1, "per": "minute"}}]},
        "header_router": {"rules": [{"name": "tag", "request_headers":
            {"set": [{"name": "x-routed", "value": "{header.x-meshwasm-consumer}"}]}}]}
    })]
}

const SCHEMA: Schema<'static> = Schema {
    any: &["auth.jwt.providers[].jwks"],
    maps: &["auth.rules[].claims"],
};

fn case() -> impl Strategy<Value = Case> {
    (
        any::<usize>(),
        any::<usize>(),
        any::<u8>(),
        any::<usize>(),
        vec(any::<u8>(), 0..64),
    )
        .prop_map(|(base, at, kind, choice, bytes)| Case {
            base,
            at,
            kind,
            choice,
            bytes,
        })
}

#[test]
fn the_bases_are_valid() {
    for base in bases() {
        meshwasm_core::testing::json::build::<MeshChain>(base.to_string().as_bytes()).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_config_of_any_bytes_is_refused_as_a_whole(bytes in vec(any::<u8>(), 0..256)) {
        check_bytes::<MeshChain>(&bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_config_of_structured_garbage_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        check_garbage::<MeshChain>(&bases(), &bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_config_mutations_are_refused_by_field(case in case()) {
        check_case::<MeshChain>(&bases(), SCHEMA, &case).map_err(TestCaseError::fail)?;
    }
}
