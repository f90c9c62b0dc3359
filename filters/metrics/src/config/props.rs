//! Property tests: arbitrary bytes, structured garbage and mutated valid
//! configurations into [`MetricsConfig`](super::MetricsConfig) and
//! [`Metrics::new`](crate::Metrics). `make fuzz` runs them long.

use crate::Metrics;
use meshwasm_core::testing::json::Schema;
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

meshwasm_core::config_properties!(Metrics, bases, SCHEMA);
