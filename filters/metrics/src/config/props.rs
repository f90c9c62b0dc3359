//! Property tests: arbitrary bytes, structured garbage and mutated valid
//! configurations into [`MetricsConfig`](super::MetricsConfig) and
//! [`Metrics::new`](crate::Metrics). `make fuzz` runs them long.

use crate::Metrics;
use meshwasm_core::testing::json::{check_bytes, check_case, check_garbage, Case, Schema};
use meshwasm_core::testing::prop_cases;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Valid configurations that between them set every field.
fn bases() -> Vec<Value> {
    vec![json!({
        "prefix": "mesh_1",
        "consumer_header": "x-meshwasm-consumer",
        "extra_labels": [{"name": "tenant", "header": "x-tenant", "values": ["acme", "globex"]},
                         {"name": "tier", "header": "x-tier", "values": ["gold"]}],
        "max_label_values": 10,
        "max_series": 50
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
        meshwasm_core::testing::json::build::<Metrics>(base.to_string().as_bytes()).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_config_of_any_bytes_is_refused_as_a_whole(bytes in vec(any::<u8>(), 0..256)) {
        check_bytes::<Metrics>(&bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_config_of_structured_garbage_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        check_garbage::<Metrics>(&bases(), &bytes).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_config_mutations_are_refused_by_field(case in case()) {
        check_case::<Metrics>(&bases(), SCHEMA, &case).map_err(TestCaseError::fail)?;
    }
}
