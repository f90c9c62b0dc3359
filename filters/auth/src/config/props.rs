//! Property tests: arbitrary bytes, structured garbage and mutated valid
//! configurations into [`AuthConfig`] and [`Auth::new`](crate::Auth).
//! `make fuzz` runs them long.

use crate::Auth;
use meshwasm_core::testing::json::Schema;
use serde_json::{json, Value};

/// An inline JWKS holding one HMAC key.
fn jwks() -> Value {
    json!({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256",
                     "k": "YS10ZXN0LXNlY3JldC1vZi1hdC1sZWFzdC0zMi1ieXRlcyEh"}]})
}

/// Valid configurations that between them set every field.
fn bases() -> Vec<Value> {
    vec![
        json!({
            "identity_header": "x-consumer",
            "api_key": {"header": "x-key", "query": "api_key", "forward": false,
                        "consumers": [{"name": "alice", "key": "alice-key"},
                                      {"name": "bob", "key_sha256": "a".repeat(64)}]},
            "basic": {"realm": "shop", "forward": true,
                      "users": [{"name": "carol", "password_hash": "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="}],
                      "htpasswd": "dave:{SHA256}".to_owned() + &"b".repeat(64)},
            "rules": [
                {"match": {"path": {"prefix": "/public/"}}, "anonymous": true},
                {"match": {"path": {"regex": "/admin/(.*)"}, "methods": ["GET", "POST"],
                           "host": {"suffix": ".example"},
                           "headers": [{"name": "x-tier", "exact": "gold"}],
                           "query": [{"name": "v", "present": true}],
                           "cookies": [{"name": "s", "prefix": "x"}]},
                 "accept": ["api_key"], "consumers": ["alice"]}
            ]
        }),
        json!({
            "jwt": {"cache_entries": 16, "providers": [{
                "name": "idp", "issuer": "https://idp", "audiences": ["api"], "jwks": jwks(),
                "from": [{"header": {"name": "authorization", "prefix": "Bearer "}},
                         {"query": "access_token"}, {"cookie": "token"}],
                "require_expiration": true, "clock_skew_seconds": 30,
                "required_claims": ["sub"], "consumer_claim": "sub",
                "claim_to_headers": [{"claim": "scope", "header": "x-scope"}],
                "forward": false, "max_token_bytes": 4096
            }]},
            "rules": [{"match": {"path": {"exact": "/admin"}}, "accept": ["jwt"],
                       "claims": {"scope": "admin"}}]
        }),
        json!({
            "jwt": {"providers": [{
                "name": "remote",
                "remote_jwks": {"cluster": "idp", "path": "/jwks.json", "authority": "idp.example",
                                "refresh_seconds": 60, "unknown_kid_refresh_seconds": 5,
                                "timeout_ms": 500, "max_bytes": 4096, "allow_symmetric_keys": false}
            }]},
            "ext_authz": {"cluster": "authz", "authority": "authz.example", "path_prefix": "/check",
                          "timeout_ms": 100, "allowed_request_headers": ["authorization"],
                          "allowed_upstream_headers": ["x-user"],
                          "allowed_client_headers": ["www-authenticate"],
                          "consumer_header": "x-user", "failure_mode_allow": false, "forward": false}
        }),
    ]
}

/// An inline JWKS takes any JSON as far as types go; claims are a map.
const SCHEMA: Schema<'static> = Schema {
    any: &["jwt.providers[].jwks"],
    maps: &["rules[].claims"],
};

meshwasm_core::config_properties!(Auth, bases, SCHEMA);
