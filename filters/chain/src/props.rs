//! Property tests: arbitrary bytes, structured garbage and mutated valid
//! configurations into [`ChainConfig`] and [`MeshChain::new`]: every part's
//! errors are named under the part. `make fuzz` runs them long.

use super::*;
use meshwasm_core::testing::json::Schema;
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

meshwasm_core::config_properties!(MeshChain, bases, SCHEMA);
