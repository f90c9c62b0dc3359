//! Property tests: arbitrary bytes, structured garbage and mutated valid
//! configurations into [`RateLimitConfig`](super::RateLimitConfig) and
//! [`RateLimit::new`](crate::RateLimit). `make fuzz` runs them long.

use crate::RateLimit;
use meshwasm_core::testing::json::{check_bytes, check_case, check_garbage, Case, Schema};
use meshwasm_core::testing::prop_cases;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Valid configurations that between them set every field.
fn bases() -> Vec<Value> {
    vec![json!({
        "rules": [{
            "name": "per-consumer",
            "match": {"path": {"prefix": "/api/"}, "methods": ["POST"],
                      "headers": [{"name": "x-tier", "suffix": "free"}]},
            "key": ["client_address", {"header": "x-meshwasm-consumer"}, "path", "method"],
            "limit": {"requests": 100, "per": "minute", "burst": 20},
            "shadow": true
        }, {
            "name": "global",
            "limit": {"requests": 1, "per": "second"}
        }],
        "failure_mode": "deny",
        "client_address": {"xff_trusted_hops": 1},
        "response_headers": true,
        "max_keys": 500
    })]
}

const SCHEMA: Schema<'static> = Schema {
    any: &[],
    maps: &[],
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
        meshwasm_core::testing::json::build::<RateLimit>(base.to_string().as_bytes()).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_config_of_any_bytes_is_refused_as_a_whole(bytes in vec(any::<u8>(), 0..256)) {
        check_bytes::<RateLimit>(&bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_config_of_structured_garbage_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        check_garbage::<RateLimit>(&bases(), &bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_config_mutations_are_refused_by_field(case in case()) {
        check_case::<RateLimit>(&bases(), SCHEMA, &case).map_err(TestCaseError::fail)?;
    }
}
