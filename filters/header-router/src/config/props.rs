//! Property tests: arbitrary bytes, structured garbage and mutated valid
//! configurations into [`HeaderRouterConfig`](super::HeaderRouterConfig)
//! and [`HeaderRouter::new`](crate::HeaderRouter). `make fuzz` runs them
//! long.

use crate::HeaderRouter;
use meshwasm_core::testing::json::Schema;
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

meshwasm_core::config_properties!(HeaderRouter, bases, SCHEMA);
