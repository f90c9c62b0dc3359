//! JSON Web Keys (RFC 7517) and JWS signature verification (RFC 7515,
//! RFC 7518, RFC 8037), following the RFC 8725 best practices.
//!
//! Keys are parsed, decoded and checked once, when the configuration or a
//! JWKS document is loaded, into ready-to-use verifying keys; [`Key::verify`]
//! then only hashes and checks.
//!
//! A key's type pins the algorithm family it may verify (an RSA key never
//! verifies HS256, an `oct` key never verifies RS256), and a JWK's `alg`
//! pins it to exactly that algorithm, so algorithm confusion is impossible
//! whatever the token's header says.
//!
//! Signatures are checked as JWS defines them: RSA signatures are exactly
//! the modulus size; ECDSA signatures are the fixed-size `R || S` form (DER
//! is refused), and, as p256/p384 `VerifyingKey::verify` do, a high-S
//! signature is accepted; Ed25519 uses ed25519-dalek's `verify_strict`
//! (small-order keys and points refused); HMAC tags compare in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use serde_json::{Map, Value};
use sha2::digest::const_oid::AssociatedOid;
use sha2::digest::DynDigest;
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::fmt;

/// At most this many keys of a JWKS document are considered.
const MAX_KEYS: usize = 64;
/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3).
const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
const RSA_MAX_BITS: usize = 8192;
/// At most this many characters of a JWK's own text are quoted in errors.
const MAX_QUOTED_CHARS: usize = 32;
/// RSA JWK members that only a private key has (RFC 7518 §6.3.2).
const RSA_PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// A JWS algorithm meshwasm verifies (RFC 7518, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, 32-byte salt.
    PS256,
    /// RSASSA-PSS with SHA-384, MGF1 with SHA-384, 48-byte salt.
    PS384,
    /// RSASSA-PSS with SHA-512, MGF1 with SHA-512, 64-byte salt.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA; meshwasm supports the Ed25519 curve only.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in declaration order.
    const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    /// The algorithms an RSA key verifies unless its JWK names one.
    const RSA: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];

    /// Parses a JOSE `alg` header value; `none` and anything unknown give None.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The JOSE name, e.g. "RS256".
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// For an HMAC algorithm, the smallest secret it accepts: the hash
    /// output size (RFC 7518 §3.2).
    fn hmac_min_len(self) -> Option<usize> {
        match self {
            Algorithm::HS256 => Some(32),
            Algorithm::HS384 => Some(48),
            Algorithm::HS512 => Some(64),
            _ => None,
        }
    }

    /// This algorithm's bit in an [`AlgSet`].
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct AlgSet(u16);

impl AlgSet {
    fn insert(&mut self, alg: Algorithm) {
        self.0 |= alg.bit();
    }

    fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |alg| self.contains(*alg))
    }
}

impl FromIterator<Algorithm> for AlgSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = AlgSet::default();
        iter.into_iter().for_each(|alg| set.insert(alg));
        set
    }
}

/// Why a JWK, a JWKS document or an HMAC secret cannot be used.
///
/// Messages name the JWK member at fault and never contain key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The JWK is not a JSON object.
    NotAnObject,
    /// A required member is missing.
    Missing(&'static str),
    /// A member is not a JSON string.
    NotAString(&'static str),
    /// A member has some other wrong shape, e.g. `key_ops` not an array of strings.
    Invalid {
        /// The member.
        member: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A base64url member carries `=` padding, which JWKs must not have.
    Base64Padding(&'static str),
    /// A member is not base64url (RFC 4648 §5), e.g. uses the `+/` alphabet.
    NotBase64Url(&'static str),
    /// The `kty` is not one meshwasm verifies with (the value, shortened).
    UnsupportedKeyType(String),
    /// The `crv` is not supported for the key type.
    UnsupportedCurve {
        /// The key type.
        kty: &'static str,
        /// The curve named by the JWK (shortened).
        crv: String,
    },
    /// The `alg` is not one meshwasm verifies (the value, shortened); `none` is one of them.
    UnsupportedAlgorithm(String),
    /// The `alg` does not fit the key type (and curve).
    AlgorithmMismatch {
        /// The algorithm the JWK names.
        alg: Algorithm,
        /// The key, e.g. "kty EC (crv P-256)".
        key: &'static str,
    },
    /// `use` is present and is not `sig` (the value, shortened).
    NotForSignatures(String),
    /// `key_ops` is present and does not include `verify`.
    NotForVerifying,
    /// The JWK carries a private key member; only public keys are accepted.
    PrivateKey(&'static str),
    /// The RSA modulus has this many bits, outside 2048 to 8192.
    RsaModulusSize(usize),
    /// `n` and `e` do not form a usable RSA public key (e.g. even or oversized `e`).
    InvalidRsaKey,
    /// A fixed-size member has the wrong length.
    WrongLength {
        /// The member.
        member: &'static str,
        /// The length it must have, in bytes.
        expected: usize,
    },
    /// `x` and `y` are not a point on the curve.
    NotOnCurve(&'static str),
    /// `x` is not a valid Ed25519 public key (or is a weak, small-order one).
    InvalidEd25519,
    /// The HMAC secret is shorter than the algorithm's hash output.
    HmacKeyTooShort(Algorithm),
    /// [`Key::hmac`] was given an algorithm that is not HS256/384/512.
    NotHmac(Algorithm),
    /// The JWKS document is not JSON.
    JwksNotJson {
        /// Line of the syntax error.
        line: usize,
        /// Column of the syntax error.
        column: usize,
    },
    /// The JWKS document is not a JSON object with a `keys` array.
    NoKeysArray,
    /// The JWKS document has more keys than meshwasm considers.
    TooManyKeys(usize),
    /// A symmetric (`oct`) key where only public keys are accepted (a
    /// remote JWKS, unless `allow_symmetric_keys` is set).
    SymmetricKeyRefused,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotAnObject => f.write_str("JWK is not a JSON object"),
            KeyError::Missing(member) => write!(f, "`{member}` is missing"),
            KeyError::NotAString(member) => write!(f, "`{member}` is not a string"),
            KeyError::Invalid { member, problem } => write!(f, "`{member}` {problem}"),
            KeyError::Base64Padding(member) => write!(
                f,
                "`{member}` has base64 padding (`=`); JWK members are base64url without padding"
            ),
            KeyError::NotBase64Url(member) => write!(
                f,
                "`{member}` is not base64url (RFC 4648 §5 alphabet `A-Za-z0-9-_`, no padding)"
            ),
            KeyError::UnsupportedKeyType(kty) => write!(f, "kty `{kty}` is not supported"),
            KeyError::UnsupportedCurve { kty, crv } => {
                write!(f, "crv `{crv}` is not supported for kty {kty}")
            }
            KeyError::UnsupportedAlgorithm(alg) => write!(f, "`alg` `{alg}` is not supported"),
            KeyError::AlgorithmMismatch { alg, key } => write!(f, "`alg` {alg} does not fit {key}"),
            KeyError::NotForSignatures(usage) => {
                write!(f, "`use` is `{usage}`; only `sig` keys verify signatures")
            }
            KeyError::NotForVerifying => f.write_str("`key_ops` does not include `verify`"),
            KeyError::PrivateKey(member) => write!(
                f,
                "JWK has private key member `{member}`; publish only public keys"
            ),
            KeyError::RsaModulusSize(bits) => write!(
                f,
                "`n` is a {bits}-bit RSA modulus; {RSA_MIN_BITS} to {RSA_MAX_BITS} bits are accepted"
            ),
            KeyError::InvalidRsaKey => {
                f.write_str("`n` and `e` do not form a valid RSA public key")
            }
            KeyError::WrongLength { member, expected } => {
                write!(f, "`{member}` must be exactly {expected} bytes")
            }
            KeyError::NotOnCurve(crv) => write!(f, "`x` and `y` are not a point on {crv}"),
            KeyError::InvalidEd25519 => f.write_str("`x` is not a valid Ed25519 public key"),
            KeyError::HmacKeyTooShort(alg) => write!(
                f,
                "HMAC secret is shorter than {} bytes, the minimum for {alg}",
                alg.hmac_min_len().unwrap_or_default()
            ),
            KeyError::NotHmac(alg) => write!(f, "{alg} is not an HMAC algorithm"),
            KeyError::JwksNotJson { line, column } => {
                write!(f, "JWKS is not valid JSON (line {line}, column {column})")
            }
            KeyError::NoKeysArray => f.write_str("JWKS is not a JSON object with a `keys` array"),
            KeyError::TooManyKeys(count) => {
                write!(f, "too many keys: {count} (at most {MAX_KEYS})")
            }
            KeyError::SymmetricKeyRefused => f.write_str(
                "kty `oct` is a shared secret, refused from a remote JWKS unless `allow_symmetric_keys` is set",
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The key may not verify this algorithm.
    AlgorithmNotAllowed,
    /// The signature has the wrong size or encoding for the algorithm and key.
    Malformed,
    /// The signature does not match the signing input.
    BadSignature,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyError::AlgorithmNotAllowed => "the key does not allow this algorithm",
            VerifyError::Malformed => "the signature has the wrong size or encoding",
            VerifyError::BadSignature => "the signature does not match",
        })
    }
}

impl std::error::Error for VerifyError {}

/// An RSA public key, with its modulus as big-endian bytes for the size checks.
#[derive(Clone)]
struct RsaKey {
    key: RsaPublicKey,
    modulus: Box<[u8]>,
}

/// Keyed HMAC states, one per algorithm the secret may verify.
#[derive(Clone)]
struct HmacKeys {
    hs256: Option<Hmac<Sha256>>,
    hs384: Option<Hmac<Sha384>>,
    hs512: Option<Hmac<Sha512>>,
}

/// A ready-to-use verifying key.
#[derive(Clone)]
enum Verifier {
    Hmac(Box<HmacKeys>),
    Rsa(RsaKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl Verifier {
    /// The key's type as JOSE names it, e.g. "kty EC (crv P-256)".
    fn describe(&self) -> &'static str {
        match self {
            Verifier::Hmac(_) => "kty oct",
            Verifier::Rsa(_) => "kty RSA",
            Verifier::P256(_) => "kty EC (crv P-256)",
            Verifier::P384(_) => "kty EC (crv P-384)",
            Verifier::Ed25519(_) => "kty OKP (crv Ed25519)",
        }
    }
}

/// A verification key, pinned to the algorithm(s) it may verify.
#[derive(Clone)]
pub struct Key {
    kid: Option<String>,
    allowed: AlgSet,
    verifier: Verifier,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("type", &self.verifier.describe())
            .field("allows", &self.allowed.iter().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

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

    /// An HMAC key from a raw secret, for HS256/384/512 only (else error).
    pub fn hmac(secret: &[u8], alg: Algorithm) -> Result<Key, KeyError> {
        if alg.hmac_min_len().is_none() {
            return Err(KeyError::NotHmac(alg));
        }
        let (verifier, allowed) = hmac_keys(secret, Some(alg))?;
        Ok(Key {
            kid: None,
            allowed,
            verifier,
        })
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether this key may verify tokens signed with `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.allowed.contains(alg)
    }

    /// The algorithms this key may verify.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> {
        self.allowed.iter()
    }

    /// Verifies `signature` (already base64url-decoded) over `signing_input` (the ASCII bytes `header.payload` of a compact JWS).
    pub fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        if !self.allows(alg) {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        match (&self.verifier, alg) {
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

/// The usable keys of a JWKS document.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<String>,
}

impl KeySet {
    /// Parses `{"keys": [...]}`, symmetric (`oct`) keys included.
    ///
    /// Unusable keys are skipped, each with a reason in [`KeySet::skipped`];
    /// the set may end up empty.
    pub fn parse(document: &[u8]) -> Result<KeySet, KeyError> {
        Self::parse_with(document, true)
    }

    /// As [`KeySet::parse`]; unless `allow_symmetric`, every `oct` key is
    /// skipped too ([`KeyError::SymmetricKeyRefused`]), before its secret
    /// is even decoded.
    pub fn parse_with(document: &[u8], allow_symmetric: bool) -> Result<KeySet, KeyError> {
        let document: Value =
            serde_json::from_slice(document).map_err(|err| KeyError::JwksNotJson {
                line: err.line(),
                column: err.column(),
            })?;
        let entries = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::NoKeysArray)?;
        if entries.len() > MAX_KEYS {
            return Err(KeyError::TooManyKeys(entries.len()));
        }
        let mut set = KeySet::default();
        for (index, entry) in entries.iter().enumerate() {
            let symmetric = entry.get("kty").and_then(Value::as_str) == Some("oct");
            let key = if symmetric && !allow_symmetric {
                Err(KeyError::SymmetricKeyRefused)
            } else {
                Key::from_jwk(entry)
            };
            match key {
                Ok(key) => set.keys.push(key),
                Err(err) => {
                    let kid = entry.get("kid").and_then(Value::as_str);
                    set.skipped.push(match kid {
                        Some(kid) => format!("keys[{index}] (kid `{}`): {err}", quote(kid)),
                        None => format!("keys[{index}]: {err}"),
                    });
                }
            }
        }
        Ok(set)
    }

    /// A key set from keys already built (inline config).
    pub fn from_keys(keys: Vec<Key>) -> KeySet {
        KeySet {
            keys,
            skipped: Vec::new(),
        }
    }

    /// Keys that may verify a token with this `kid` (None: the token has no kid, so every key) and `alg`, in document order.
    ///
    /// As in Envoy's `jwt_authn`, a key without a kid is a candidate for
    /// every token, with or without a kid.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a Key> + 'a {
        self.keys.iter().filter(move |key| {
            key.allows(alg)
                && match (kid, key.kid()) {
                    (Some(wanted), Some(have)) => wanted == have,
                    _ => true,
                }
        })
    }

    /// Whether any key has this kid.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid() == Some(kid))
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Why keys were skipped, one line each (e.g. "keys[2]: kty `foo` is not supported"); never contains key material.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

/// A JWK's own text, shortened and escaped, for error messages.
fn quote(text: &str) -> String {
    let mut quoted: String = text
        .chars()
        .take(MAX_QUOTED_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(MAX_QUOTED_CHARS).is_some() {
        quoted.push('…');
    }
    quoted
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

/// Keyed HMAC states for `secret`: for `alg` only, or without one for every
/// HS algorithm whose minimum secret size it meets.
fn hmac_keys(secret: &[u8], alg: Option<Algorithm>) -> Result<(Verifier, AlgSet), KeyError> {
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
    let modulus = key.n().to_bytes_be().into_boxed_slice();
    Ok(Verifier::Rsa(RsaKey { key, modulus }))
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

#[cfg(test)]
mod tests;
