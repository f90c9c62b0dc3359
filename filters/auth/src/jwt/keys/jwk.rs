//! Reading JSON Web Keys (RFC 7517): a JWK's members checked and decoded,
//! once, into a key pinned to the algorithms it may verify.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};

use super::verify::{hmac_keys, RsaKey, Verifier};
use super::*;

impl Key {
    /// From one JWK (RFC 7517) as a JSON value.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Key, KeyError> {
        let jwk = jwk.as_object().ok_or(KeyError::NotAnObject)?;
        let kty = required_str(jwk, "kty")?;
        // Checked first, so that an unknown kty is what a skip reason names.
        if !matches!(kty, "RSA" | "EC" | "OKP" | "oct") {
            return Err(KeyError::UnsupportedKeyType(quote(kty)));
        }
        if let Some(usage) = optional_str(jwk, "use")? {
            if usage != "sig" {
                return Err(KeyError::NotForSignatures(quote(usage)));
            }
        }
        check_key_ops(jwk)?;
        let kid = optional_str(jwk, "kid")?.map(str::to_owned);
        let alg = optional_str(jwk, "alg")?
            .map(|name| {
                Algorithm::from_name(name)
                    .ok_or_else(|| KeyError::UnsupportedAlgorithm(quote(name)))
            })
            .transpose()?;

        let (verifier, family): (Verifier, &[Algorithm]) = match kty {
            "oct" => {
                let secret = base64url(jwk, "k")?;
                let (verifier, allowed) = hmac_keys(&secret, alg)?;
                return Ok(Key {
                    kid,
                    allowed,
                    verifier,
                });
            }
            "RSA" => (rsa_key(jwk)?, &Algorithm::RSA),
            "EC" => ec_key(jwk)?,
            "OKP" => (ed25519_key(jwk)?, &[Algorithm::EdDSA]),
            _ => return Err(KeyError::UnsupportedKeyType(quote(kty))),
        };
        let allowed = match alg {
            Some(alg) if family.contains(&alg) => [alg].into_iter().collect(),
            Some(alg) => {
                return Err(KeyError::AlgorithmMismatch {
                    alg,
                    key: verifier.describe(),
                })
            }
            None => family.iter().copied().collect(),
        };
        Ok(Key {
            kid,
            allowed,
            verifier,
        })
    }
}

/// A string member, if present.
fn optional_str<'a>(
    jwk: &'a Map<String, Value>,
    member: &'static str,
) -> Result<Option<&'a str>, KeyError> {
    jwk.get(member)
        .map(|value| value.as_str().ok_or(KeyError::NotAString(member)))
        .transpose()
}

/// A string member that must be present.
fn required_str<'a>(
    jwk: &'a Map<String, Value>,
    member: &'static str,
) -> Result<&'a str, KeyError> {
    optional_str(jwk, member)?.ok_or(KeyError::Missing(member))
}

/// A base64url member that must be present, decoded strictly: no padding,
/// no other alphabet, no stray bits.
fn base64url(jwk: &Map<String, Value>, member: &'static str) -> Result<Vec<u8>, KeyError> {
    let text = required_str(jwk, member)?;
    if text.contains('=') {
        return Err(KeyError::Base64Padding(member));
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| KeyError::NotBase64Url(member))
}

/// Checks that `key_ops`, if present, allows `verify`.
fn check_key_ops(jwk: &Map<String, Value>) -> Result<(), KeyError> {
    let Some(ops) = jwk.get("key_ops") else {
        return Ok(());
    };
    let not_strings = KeyError::Invalid {
        member: "key_ops",
        problem: "is not an array of strings",
    };
    let ops = ops.as_array().ok_or_else(|| not_strings.clone())?;
    let mut verify = false;
    for op in ops {
        verify |= op.as_str().ok_or_else(|| not_strings.clone())? == "verify";
    }
    if verify {
        Ok(())
    } else {
        Err(KeyError::NotForVerifying)
    }
}

/// Refuses a JWK that carries any of these private key members.
fn refuse_private(jwk: &Map<String, Value>, members: &[&'static str]) -> Result<(), KeyError> {
    match members.iter().find(|member| jwk.contains_key(**member)) {
        Some(member) => Err(KeyError::PrivateKey(member)),
        None => Ok(()),
    }
}

/// An RSA public key from `n` and `e`.
fn rsa_key(jwk: &Map<String, Value>) -> Result<Verifier, KeyError> {
    refuse_private(jwk, &RSA_PRIVATE_MEMBERS)?;
    let n = BigUint::from_bytes_be(&base64url(jwk, "n")?);
    let e = BigUint::from_bytes_be(&base64url(jwk, "e")?);
    let bits = n.bits();
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(KeyError::RsaModulusSize(bits));
    }
    let key =
        RsaPublicKey::new_with_max_size(n, e, RSA_MAX_BITS).map_err(|_| KeyError::InvalidRsaKey)?;
    Ok(Verifier::Rsa(RsaKey::new(key)))
}

/// An ECDSA public key from `crv`, `x` and `y`, and the algorithm it verifies.
fn ec_key(jwk: &Map<String, Value>) -> Result<(Verifier, &'static [Algorithm]), KeyError> {
    refuse_private(jwk, &["d"])?;
    let crv = required_str(jwk, "crv")?;
    let size = match crv {
        "P-256" => 32,
        "P-384" => 48,
        _ => {
            return Err(KeyError::UnsupportedCurve {
                kty: "EC",
                crv: quote(crv),
            })
        }
    };
    let mut point = vec![0x04];
    for member in ["x", "y"] {
        let coordinate = base64url(jwk, member)?;
        if coordinate.len() != size {
            return Err(KeyError::WrongLength {
                member,
                expected: size,
            });
        }
        point.extend_from_slice(&coordinate);
    }
    if size == 32 {
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
            .map_err(|_| KeyError::NotOnCurve("P-256"))?;
        Ok((Verifier::P256(key), &[Algorithm::ES256]))
    } else {
        let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
            .map_err(|_| KeyError::NotOnCurve("P-384"))?;
        Ok((Verifier::P384(key), &[Algorithm::ES384]))
    }
}

/// An Ed25519 public key from `crv` and `x` (RFC 8037).
fn ed25519_key(jwk: &Map<String, Value>) -> Result<Verifier, KeyError> {
    refuse_private(jwk, &["d"])?;
    let crv = required_str(jwk, "crv")?;
    if crv != "Ed25519" {
        return Err(KeyError::UnsupportedCurve {
            kty: "OKP",
            crv: quote(crv),
        });
    }
    let x = <[u8; ed25519_dalek::PUBLIC_KEY_LENGTH]>::try_from(base64url(jwk, "x")?.as_slice())
        .map_err(|_| KeyError::WrongLength {
            member: "x",
            expected: ed25519_dalek::PUBLIC_KEY_LENGTH,
        })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| KeyError::InvalidEd25519)?;
    if key.is_weak() {
        return Err(KeyError::InvalidEd25519);
    }
    Ok(Verifier::Ed25519(key))
}
