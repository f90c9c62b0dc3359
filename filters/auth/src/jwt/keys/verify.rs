//! Verifying JWS signatures with keys already read: the hashing and the
//! checks, and nothing else.

use hmac::{Hmac, Mac};
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::digest::const_oid::AssociatedOid;
use sha2::digest::DynDigest;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::*;

/// An RSA public key, with its modulus as big-endian bytes for the size checks.
#[derive(Clone)]
pub(super) struct RsaKey {
    key: RsaPublicKey,
    modulus: Box<[u8]>,
}

impl RsaKey {
    /// A key checked for size, ready to verify.
    pub(super) fn new(key: RsaPublicKey) -> Self {
        let modulus = key.n().to_bytes_be().into_boxed_slice();
        Self { key, modulus }
    }
}

/// Keyed HMAC states, one per algorithm the secret may verify.
#[derive(Clone)]
pub(super) struct HmacKeys {
    hs256: Option<Hmac<Sha256>>,
    hs384: Option<Hmac<Sha384>>,
    hs512: Option<Hmac<Sha512>>,
}

/// A ready-to-use verifying key.
#[derive(Clone)]
pub(super) enum Verifier {
    Hmac(Box<HmacKeys>),
    Rsa(RsaKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl Verifier {
    /// The key's type as JOSE names it, e.g. "kty EC (crv P-256)".
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Verifier::Hmac(_) => "kty oct",
            Verifier::Rsa(_) => "kty RSA",
            Verifier::P256(_) => "kty EC (crv P-256)",
            Verifier::P384(_) => "kty EC (crv P-384)",
            Verifier::Ed25519(_) => "kty OKP (crv Ed25519)",
        }
    }
}

impl Verifier {
    /// Verifies `signature` over `signing_input` with `alg`, which the key
    /// allows (the caller checked).
    pub(super) fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        match (self, alg) {
            (Verifier::Hmac(keys), Algorithm::HS256) => {
                verify_mac(keys.hs256.as_ref(), signing_input, signature)
            }
            (Verifier::Hmac(keys), Algorithm::HS384) => {
                verify_mac(keys.hs384.as_ref(), signing_input, signature)
            }
            (Verifier::Hmac(keys), Algorithm::HS512) => {
                verify_mac(keys.hs512.as_ref(), signing_input, signature)
            }
            (Verifier::Rsa(key), alg) => verify_rsa(key, alg, signing_input, signature),
            (Verifier::P256(key), Algorithm::ES256) => {
                use p256::ecdsa::signature::Verifier as _;
                let signature = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| VerifyError::Malformed)?;
                key.verify(signing_input, &signature)
                    .map_err(|_| VerifyError::BadSignature)
            }
            (Verifier::P384(key), Algorithm::ES384) => {
                use p384::ecdsa::signature::Verifier as _;
                let signature = p384::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| VerifyError::Malformed)?;
                key.verify(signing_input, &signature)
                    .map_err(|_| VerifyError::BadSignature)
            }
            (Verifier::Ed25519(key), Algorithm::EdDSA) => {
                let bytes = <[u8; ed25519_dalek::SIGNATURE_LENGTH]>::try_from(signature)
                    .map_err(|_| VerifyError::Malformed)?;
                key.verify_strict(signing_input, &ed25519_dalek::Signature::from_bytes(&bytes))
                    .map_err(|_| VerifyError::BadSignature)
            }
            _ => Err(VerifyError::AlgorithmNotAllowed),
        }
    }
}

/// Keyed HMAC states for `secret`: for `alg` only, or without one for every
/// HS algorithm whose minimum secret size it meets.
pub(super) fn hmac_keys(
    secret: &[u8],
    alg: Option<Algorithm>,
) -> Result<(Verifier, AlgSet), KeyError> {
    if let Some(alg) = alg {
        match alg.hmac_min_len() {
            None => {
                return Err(KeyError::AlgorithmMismatch {
                    alg,
                    key: "kty oct",
                })
            }
            Some(min) if secret.len() < min => return Err(KeyError::HmacKeyTooShort(alg)),
            Some(_) => {}
        }
    }
    let wants = |candidate: Algorithm| {
        alg.is_none_or(|alg| alg == candidate)
            && candidate
                .hmac_min_len()
                .is_some_and(|min| secret.len() >= min)
    };
    let keys = HmacKeys {
        hs256: keyed_mac(secret, wants(Algorithm::HS256)),
        hs384: keyed_mac(secret, wants(Algorithm::HS384)),
        hs512: keyed_mac(secret, wants(Algorithm::HS512)),
    };
    let mut allowed = AlgSet::default();
    for (present, alg) in [
        (keys.hs256.is_some(), Algorithm::HS256),
        (keys.hs384.is_some(), Algorithm::HS384),
        (keys.hs512.is_some(), Algorithm::HS512),
    ] {
        if present {
            allowed.insert(alg);
        }
    }
    if allowed == AlgSet::default() {
        return Err(KeyError::HmacKeyTooShort(alg.unwrap_or(Algorithm::HS256)));
    }
    Ok((Verifier::Hmac(Box::new(keys)), allowed))
}

/// A keyed HMAC state, if wanted.
fn keyed_mac<M: Mac + hmac::digest::KeyInit>(secret: &[u8], wanted: bool) -> Option<M> {
    if wanted {
        <M as hmac::digest::KeyInit>::new_from_slice(secret).ok()
    } else {
        None
    }
}

/// Verifies an HMAC tag in constant time.
fn verify_mac<M: Mac + Clone>(
    keyed: Option<&M>,
    signing_input: &[u8],
    tag: &[u8],
) -> Result<(), VerifyError> {
    let mut mac = keyed.ok_or(VerifyError::AlgorithmNotAllowed)?.clone();
    if tag.len() != <M as hmac::digest::OutputSizeUser>::output_size() {
        return Err(VerifyError::Malformed);
    }
    mac.update(signing_input);
    mac.verify_slice(tag).map_err(|_| VerifyError::BadSignature)
}

/// An RSA signature check of one padding and hash: key, signing input,
/// signature.
type RsaCheck = fn(&RsaPublicKey, &[u8], &[u8]) -> rsa::Result<()>;

/// RSASSA-PKCS1-v1_5 with hash `D`.
fn pkcs1v15<D: Digest + AssociatedOid>(
    key: &RsaPublicKey,
    input: &[u8],
    signature: &[u8],
) -> rsa::Result<()> {
    key.verify(Pkcs1v15Sign::new::<D>(), &D::digest(input), signature)
}

/// RSASSA-PSS with hash `D`, MGF1 with the same hash and a salt as long as
/// the hash (what `Pss::new` sets, and RFC 7518 asks for).
fn pss<D: Digest + DynDigest + Send + Sync + 'static>(
    key: &RsaPublicKey,
    input: &[u8],
    signature: &[u8],
) -> rsa::Result<()> {
    key.verify(Pss::new::<D>(), &D::digest(input), signature)
}

/// Verifies an RSASSA-PKCS1-v1_5 or RSASSA-PSS signature.
fn verify_rsa(
    key: &RsaKey,
    alg: Algorithm,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    // The signature must be exactly the modulus size and less than it
    // (RFC 8017 §8.1.2 and §8.2.2).
    if signature.len() != key.modulus.len() || signature >= &*key.modulus {
        return Err(VerifyError::Malformed);
    }
    // One row per algorithm: its padding and its hash.
    let check: RsaCheck = match alg {
        Algorithm::RS256 => pkcs1v15::<Sha256>,
        Algorithm::RS384 => pkcs1v15::<Sha384>,
        Algorithm::RS512 => pkcs1v15::<Sha512>,
        Algorithm::PS256 => pss::<Sha256>,
        Algorithm::PS384 => pss::<Sha384>,
        Algorithm::PS512 => pss::<Sha512>,
        _ => return Err(VerifyError::AlgorithmNotAllowed),
    };
    let verified = check(&key.key, signing_input, signature);
    verified.map_err(|_| VerifyError::BadSignature)
}
