//! Property tests: arbitrary bytes, structured garbage and mutated valid
//! configurations into [`HeaderRouterConfig`](super::HeaderRouterConfig)
//! and [`HeaderRouter::new`](crate::HeaderRouter). `make fuzz` runs them
//! long.

use crate::HeaderRouter;
use meshwasm_core::testing::json::{check_bytes, check_case, check_garbage, Case, Schema};
use meshwasm_core::testing::prop_cases;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Valid configurations that between them set every field.
fn bases() -> Vec<Value> {
    vec![
        json!({"rules": [{
            "name": "beta-users",
            "match": {"path": {"regex": "/api/v1/(.*)"}, "methods": ["GET"], "host": {"suffix": ".example"},
                      "headers": [{"name": "x-beta", "present": true}], "query": [{"name": "q", "exact": "1"}],
                      "cookies": [{"name": "group", "prefix": "b"}]},
            "request_headers": {"set": [{"name": "x-user", "value": "{cookie.uid}"}],
                                "append": [{"name": "x-trace", "value": "router {method} {host}"}],
                                "remove": ["x-debug"]},
            "rewrite": {"regex": {"pattern": "/api/v1/(.*)", "replacement": "/v2/$1"}},
            "split": {"header": "x-route-version", "sticky": {"cookie": "uid"}, "fallback": {"value": "v1"},
                      "targets": [{"value": "v1", "weight": 90}, {"value": "v2", "weight": 10}]},
            "response_headers": {"set": [{"name": "x-served-by", "value": "{path.1}"}]},
            "continue": true
        }, {
            "name": "moved",
            "match": {"path": {"prefix": "/old/"}},
            "rewrite": {"prefix": {"from": "/old/", "to": "/new/"}},
            "split": {"header": "x-side", "sticky": {"header": "x-user"}, "fallback": "random",
                      "targets": [{"value": "a", "weight": 1}]}
        }]}),
        json!({"rules": [{
            "name": "redirect",
            "match": {"path": {"exact": "/go"}},
            "respond": {"redirect": {"location": "https://{host}{path}?q={query.q}", "status": 301}}
        }, {
            "name": "direct",
            "respond": {"direct": {"status": 204, "body": "none", "content_type": "text/plain"}},
            "split": {"header": "x-side", "sticky": "client_address", "targets": [{"value": "a", "weight": 1}]}
        }]}),
    ]
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
        meshwasm_core::testing::json::build::<HeaderRouter>(base.to_string().as_bytes()).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_config_of_any_bytes_is_refused_as_a_whole(bytes in vec(any::<u8>(), 0..256)) {
        check_bytes::<HeaderRouter>(&bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_config_of_structured_garbage_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        check_garbage::<HeaderRouter>(&bases(), &bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_config_mutations_are_refused_by_field(case in case()) {
        check_case::<HeaderRouter>(&bases(), SCHEMA, &case).map_err(TestCaseError::fail)?;
    }
}
