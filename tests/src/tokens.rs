//! Test tokens, minted with a well-known JWT library (`jsonwebtoken`) from
//! the throwaway keys in `tests/fixtures/keys/`.

use jsonwebtoken::{crypto, encode, Algorithm, EncodingKey, Header};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The signing key of a fixture (`rsa-a`, `rsa-b`, `ec256`, `ec384`,
/// `ed25519`) for `alg`.
pub fn signing_key(name: &str, alg: Algorithm) -> EncodingKey {
    let pem = fixture(&format!("{name}.pem"));
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => EncodingKey::from_rsa_pem(&pem),
    };
    key.unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A token signed by fixture key `name` with `alg`, its `kid` the key's
/// name.
pub fn mint(name: &str, alg: Algorithm, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(name.to_owned());
    encode(&header, claims, &signing_key(name, alg)).unwrap_or_else(|e| panic!("{e}"))
}

/// A token with a header given as JSON (to add what `jsonwebtoken` has no
/// field for, such as `crit`), still signed by the library.
pub fn mint_with_header(
    header: &Value,
    claims: &Value,
    key: &EncodingKey,
    alg: Algorithm,
) -> String {
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = crypto::sign(input.as_bytes(), key, alg).unwrap_or_else(|e| panic!("{e}"));
    format!("{input}.{signature}")
}

/// The public JWKS of these fixture keys.
pub fn jwks(names: &[&str]) -> Value {
    let keys: Vec<Value> = names
        .iter()
        .map(|n| serde_json::from_slice(&fixture(&format!("{n}.jwk.json"))).unwrap_or_default())
        .collect();
    serde_json::json!({ "keys": keys })
}

/// The PEM text of `rsa-a`'s public key: what an attacker would use as an
/// HMAC secret.
pub fn rsa_public_pem() -> Vec<u8> {
    fixture("rsa-a.pub.pem")
}

/// The current time in seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
