//! Property tests: arbitrary bytes, structured garbage and mutated valid
//! configurations into [`RateLimitConfig`](super::RateLimitConfig) and
//! [`RateLimit::new`](crate::RateLimit). `make fuzz` runs them long.

use crate::RateLimit;
use meshwasm_core::testing::json::Schema;
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

meshwasm_core::config_properties!(RateLimit, bases, SCHEMA);
