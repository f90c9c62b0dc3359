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
use sha2::{Digest as _, Sha256, Sha384, Sha512};
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
    let verified = match alg {
        Algorithm::RS256 => key.key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(signing_input),
            signature,
        ),
        Algorithm::RS384 => key.key.verify(
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(signing_input),
            signature,
        ),
        Algorithm::RS512 => key.key.verify(
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(signing_input),
            signature,
        ),
        // Pss::new uses MGF1 with the same hash and a salt as long as the hash.
        Algorithm::PS256 => key.key.verify(
            Pss::new::<Sha256>(),
            &Sha256::digest(signing_input),
            signature,
        ),
        Algorithm::PS384 => key.key.verify(
            Pss::new::<Sha384>(),
            &Sha384::digest(signing_input),
            signature,
        ),
        Algorithm::PS512 => key.key.verify(
            Pss::new::<Sha512>(),
            &Sha512::digest(signing_input),
            signature,
        ),
        _ => return Err(VerifyError::AlgorithmNotAllowed),
    };
    verified.map_err(|_| VerifyError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RSA2048: &str = include_str!("testdata/rsa2048.pub.jwk.json");
    const RSA2048_PRIVATE: &str = include_str!("testdata/rsa2048.jwk.json");
    const RSA1024: &str = include_str!("testdata/rsa1024.pub.jwk.json");
    const P256: &str = include_str!("testdata/p256.pub.jwk.json");
    const P256_PRIVATE: &str = include_str!("testdata/p256.jwk.json");
    const P384: &str = include_str!("testdata/p384.pub.jwk.json");
    const P384_PRIVATE: &str = include_str!("testdata/p384.jwk.json");
    const ED25519: &str = include_str!("testdata/ed25519.pub.jwk.json");
    const ED25519_PRIVATE: &str = include_str!("testdata/ed25519.jwk.json");
    /// A compact JWS `header.payload`; the `*.sig` fixtures sign it.
    const INPUT: &[u8] = include_bytes!("testdata/signing_input.txt");
    const PS256_SIG: &[u8] = include_bytes!("testdata/ps256.sig");
    const PS384_SIG: &[u8] = include_bytes!("testdata/ps384.sig");
    const PS512_SIG: &[u8] = include_bytes!("testdata/ps512.sig");
    const PS256_SALT20_SIG: &[u8] = include_bytes!("testdata/ps256-salt20.sig");
    const RS256_OPENSSL_SIG: &[u8] = include_bytes!("testdata/rs256-openssl.sig");
    const SECRET: &[u8; 64] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn jwk(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn with(text: &str, member: &str, value: Value) -> Value {
        let mut jwk = jwk(text);
        jwk[member] = value;
        jwk
    }

    fn load(text: &str) -> Key {
        Key::from_jwk(&jwk(text)).unwrap()
    }

    fn b64(jwk: &Value, member: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD
            .decode(jwk[member].as_str().unwrap())
            .unwrap()
    }

    fn uint(jwk: &Value, member: &str) -> BigUint {
        BigUint::from_bytes_be(&b64(jwk, member))
    }

    fn rsa_sign(alg: Algorithm, input: &[u8]) -> Vec<u8> {
        use rsa::pkcs1v15::SigningKey;
        use rsa::signature::{SignatureEncoding, Signer};
        let jwk = jwk(RSA2048_PRIVATE);
        let private = rsa::RsaPrivateKey::from_components(
            uint(&jwk, "n"),
            uint(&jwk, "e"),
            uint(&jwk, "d"),
            vec![uint(&jwk, "p"), uint(&jwk, "q")],
        )
        .unwrap();
        match alg {
            Algorithm::RS256 => SigningKey::<Sha256>::new(private).sign(input).to_vec(),
            Algorithm::RS384 => SigningKey::<Sha384>::new(private).sign(input).to_vec(),
            Algorithm::RS512 => SigningKey::<Sha512>::new(private).sign(input).to_vec(),
            _ => panic!("not RSASSA-PKCS1-v1_5: {alg}"),
        }
    }

    fn es256_sign(input: &[u8]) -> p256::ecdsa::Signature {
        use p256::ecdsa::signature::Signer;
        let d = b64(&jwk(P256_PRIVATE), "d");
        p256::ecdsa::SigningKey::from_slice(&d).unwrap().sign(input)
    }

    fn es384_sign(input: &[u8]) -> Vec<u8> {
        use p384::ecdsa::signature::Signer;
        let d = b64(&jwk(P384_PRIVATE), "d");
        let signature: p384::ecdsa::Signature =
            p384::ecdsa::SigningKey::from_slice(&d).unwrap().sign(input);
        signature.to_vec()
    }

    fn eddsa_sign(input: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer;
        let d: [u8; 32] = b64(&jwk(ED25519_PRIVATE), "d").try_into().unwrap();
        ed25519_dalek::SigningKey::from_bytes(&d)
            .sign(input)
            .to_vec()
    }

    fn hmac_sign(alg: Algorithm, secret: &[u8], input: &[u8]) -> Vec<u8> {
        fn tag<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8]) -> Vec<u8> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).unwrap();
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        match alg {
            Algorithm::HS256 => tag::<Hmac<Sha256>>(secret, input),
            Algorithm::HS384 => tag::<Hmac<Sha384>>(secret, input),
            Algorithm::HS512 => tag::<Hmac<Sha512>>(secret, input),
            _ => panic!("not HMAC: {alg}"),
        }
    }

    /// The good signature verifies; a changed input or signature does not.
    fn assert_verifies(key: &Key, alg: Algorithm, signature: &[u8]) {
        assert_eq!(key.verify(alg, INPUT, signature), Ok(()), "{alg}");
        let mut input = INPUT.to_vec();
        input[10] ^= 1;
        assert_eq!(
            key.verify(alg, &input, signature),
            Err(VerifyError::BadSignature),
            "{alg} tampered input"
        );
        let mut tampered = signature.to_vec();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            key.verify(alg, INPUT, &tampered),
            Err(VerifyError::BadSignature),
            "{alg} tampered signature"
        );
        assert_eq!(
            key.verify(alg, INPUT, &signature[1..]),
            Err(VerifyError::Malformed),
            "{alg} short signature"
        );
    }

    fn err(jwk: &Value) -> KeyError {
        Key::from_jwk(jwk).unwrap_err()
    }

    fn allowed(key: &Key) -> Vec<Algorithm> {
        key.algorithms().collect()
    }

    #[test]
    fn algorithm_names() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(alg.to_string(), alg.name());
        }
        for name in [
            "none", "None", "NONE", "", "hs256", "ES512", "EdDSA ", "RSA-OAEP",
        ] {
            assert_eq!(Algorithm::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn hmac_verifies() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let key = Key::hmac(SECRET, alg).unwrap();
            assert_eq!(allowed(&key), [alg]);
            assert_verifies(&key, alg, &hmac_sign(alg, SECRET, INPUT));
            let wrong_secret = hmac_sign(alg, &SECRET[..63], INPUT);
            assert_eq!(
                key.verify(alg, INPUT, &wrong_secret),
                Err(VerifyError::BadSignature)
            );
        }
    }

    #[test]
    fn oct_jwk_allows_the_hmac_algorithms_its_size_meets() {
        let oct = |len: usize| json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(&SECRET[..len])});
        let key = Key::from_jwk(&oct(64)).unwrap();
        assert_eq!(
            allowed(&key),
            [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
        );
        assert_verifies(
            &key,
            Algorithm::HS384,
            &hmac_sign(Algorithm::HS384, SECRET, INPUT),
        );
        let key = Key::from_jwk(&oct(48)).unwrap();
        assert_eq!(allowed(&key), [Algorithm::HS256, Algorithm::HS384]);
        assert_eq!(err(&oct(31)), KeyError::HmacKeyTooShort(Algorithm::HS256));
        let mut pinned = oct(48);
        pinned["alg"] = json!("HS512");
        assert_eq!(err(&pinned), KeyError::HmacKeyTooShort(Algorithm::HS512));
        pinned["alg"] = json!("HS256");
        assert_eq!(
            allowed(&Key::from_jwk(&pinned).unwrap()),
            [Algorithm::HS256]
        );
        pinned["alg"] = json!("RS256");
        assert_eq!(err(&pinned).to_string(), "`alg` RS256 does not fit kty oct");
    }

    #[test]
    fn short_hmac_secrets_are_refused() {
        for (alg, min) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            assert_eq!(
                Key::hmac(&SECRET[..min - 1], alg).unwrap_err(),
                KeyError::HmacKeyTooShort(alg)
            );
            assert!(Key::hmac(&SECRET[..min], alg).is_ok());
        }
        assert_eq!(
            Key::hmac(b"", Algorithm::HS256).unwrap_err().to_string(),
            "HMAC secret is shorter than 32 bytes, the minimum for HS256"
        );
        assert_eq!(
            Key::hmac(SECRET, Algorithm::RS256).unwrap_err(),
            KeyError::NotHmac(Algorithm::RS256)
        );
    }

    #[test]
    fn rsa_pkcs1v15_verifies() {
        let key = load(RSA2048);
        assert_eq!(key.kid(), Some("rsa-2048"));
        assert_eq!(allowed(&key), Algorithm::RSA);
        for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
            assert_verifies(&key, alg, &rsa_sign(alg, INPUT));
        }
        // Made by openssl, so not only our own signer agrees.
        assert_verifies(&key, Algorithm::RS256, RS256_OPENSSL_SIG);
        assert_eq!(
            key.verify(Algorithm::RS384, INPUT, RS256_OPENSSL_SIG),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn rsa_pss_verifies() {
        let key = load(RSA2048);
        assert_verifies(&key, Algorithm::PS256, PS256_SIG);
        assert_verifies(&key, Algorithm::PS384, PS384_SIG);
        assert_verifies(&key, Algorithm::PS512, PS512_SIG);
        // The salt must be as long as the hash (RFC 7518 §3.5).
        assert_eq!(
            key.verify(Algorithm::PS256, INPUT, PS256_SALT20_SIG),
            Err(VerifyError::BadSignature)
        );
        // PSS is not PKCS#1 v1.5, nor another hash.
        assert_eq!(
            key.verify(Algorithm::RS256, INPUT, PS256_SIG),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            key.verify(Algorithm::PS384, INPUT, PS256_SIG),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn rsa_signature_must_be_modulus_sized_and_below_it() {
        let key = load(RSA2048);
        let mut long = vec![0];
        long.extend_from_slice(PS256_SIG);
        assert_eq!(
            key.verify(Algorithm::PS256, INPUT, &long),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            key.verify(Algorithm::RS256, INPUT, &[0xff; 256]),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn ecdsa_verifies() {
        let p256 = load(P256);
        assert_eq!(allowed(&p256), [Algorithm::ES256]);
        assert_verifies(&p256, Algorithm::ES256, &es256_sign(INPUT).to_vec());
        let p384 = load(P384);
        assert_eq!(allowed(&p384), [Algorithm::ES384]);
        assert_verifies(&p384, Algorithm::ES384, &es384_sign(INPUT));
        assert_eq!(
            p384.verify(Algorithm::ES384, INPUT, &es256_sign(INPUT).to_vec()),
            Err(VerifyError::Malformed)
        );
    }

    /// ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }`, as OpenSSL emits.
    fn der(signature: &[u8]) -> Vec<u8> {
        let (r, s) = signature.split_at(signature.len() / 2);
        let mut body = Vec::new();
        for int in [r, s] {
            let int = &int[int.iter().take_while(|b| **b == 0).count()..];
            let pad = int[0] & 0x80 != 0;
            body.push(0x02);
            body.push((int.len() + usize::from(pad)) as u8);
            if pad {
                body.push(0);
            }
            body.extend_from_slice(int);
        }
        let mut der = vec![0x30, body.len() as u8];
        der.extend(body);
        der
    }

    #[test]
    fn ecdsa_der_signature_is_refused() {
        let key = load(P256);
        let signature = es256_sign(INPUT).to_vec();
        assert_eq!(
            key.verify(Algorithm::ES256, INPUT, &der(&signature)),
            Err(VerifyError::Malformed)
        );
        let signature = es384_sign(INPUT);
        assert_eq!(
            load(P384).verify(Algorithm::ES384, INPUT, &der(&signature)),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn ecdsa_high_s_is_accepted_as_p256_does() {
        // p256/p384 `VerifyingKey::verify` accepts both (r, s) and (r, n - s);
        // JWS does not require low-S.
        let signature = es256_sign(INPUT);
        let (r, s) = signature.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        assert_ne!(high, signature);
        assert_eq!(
            load(P256).verify(Algorithm::ES256, INPUT, &high.to_vec()),
            Ok(())
        );
    }

    #[test]
    fn eddsa_verifies() {
        let key = load(ED25519);
        assert_eq!(allowed(&key), [Algorithm::EdDSA]);
        assert_verifies(&key, Algorithm::EdDSA, &eddsa_sign(INPUT));
    }

    #[test]
    fn hs_rs_confusion_is_impossible() {
        // The classic attack: HMAC the token with the RSA public key as secret.
        let rsa = load(RSA2048);
        for secret in [RSA2048.as_bytes(), &b64(&jwk(RSA2048), "n")] {
            let forged = hmac_sign(Algorithm::HS256, secret, INPUT);
            assert_eq!(
                rsa.verify(Algorithm::HS256, INPUT, &forged),
                Err(VerifyError::AlgorithmNotAllowed)
            );
        }
        // And the other way round: an HMAC key never verifies RSA or ECDSA.
        let hmac = Key::hmac(SECRET, Algorithm::HS256).unwrap();
        assert_eq!(
            hmac.verify(Algorithm::RS256, INPUT, RS256_OPENSSL_SIG),
            Err(VerifyError::AlgorithmNotAllowed)
        );
        for key in [rsa, load(P256), load(P384), load(ED25519)] {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                assert!(!key.allows(alg), "{key:?} allows {alg}");
            }
        }
        assert!(!load(P256).allows(Algorithm::ES384));
        assert!(!load(P384).allows(Algorithm::ES256));
        assert!(!load(ED25519).allows(Algorithm::ES256));
    }

    #[test]
    fn alg_that_does_not_fit_the_key_is_refused() {
        let cases = [
            (RSA2048, "ES256", "`alg` ES256 does not fit kty RSA"),
            (RSA2048, "HS256", "`alg` HS256 does not fit kty RSA"),
            (P256, "RS256", "`alg` RS256 does not fit kty EC (crv P-256)"),
            (P256, "ES384", "`alg` ES384 does not fit kty EC (crv P-256)"),
            (P384, "ES256", "`alg` ES256 does not fit kty EC (crv P-384)"),
            (
                ED25519,
                "ES256",
                "`alg` ES256 does not fit kty OKP (crv Ed25519)",
            ),
        ];
        for (text, alg, message) in cases {
            assert_eq!(err(&with(text, "alg", json!(alg))).to_string(), message);
        }
        for alg in ["none", "RSA-OAEP", "ES512"] {
            assert_eq!(
                err(&with(RSA2048, "alg", json!(alg))),
                KeyError::UnsupportedAlgorithm(alg.to_owned())
            );
        }
        assert_eq!(
            err(&with(P256, "alg", json!(256))),
            KeyError::NotAString("alg")
        );
    }

    #[test]
    fn rsa_jwk_pinned_to_rs256_refuses_ps256() {
        let key = Key::from_jwk(&with(RSA2048, "alg", json!("RS256"))).unwrap();
        assert_eq!(allowed(&key), [Algorithm::RS256]);
        assert_eq!(
            key.verify(Algorithm::PS256, INPUT, PS256_SIG),
            Err(VerifyError::AlgorithmNotAllowed)
        );
        assert_eq!(
            key.verify(Algorithm::RS384, INPUT, &rsa_sign(Algorithm::RS384, INPUT)),
            Err(VerifyError::AlgorithmNotAllowed)
        );
        assert_eq!(
            key.verify(Algorithm::RS256, INPUT, RS256_OPENSSL_SIG),
            Ok(())
        );
    }

    #[test]
    fn rsa_modulus_size_is_bounded() {
        assert_eq!(err(&jwk(RSA1024)), KeyError::RsaModulusSize(1024));
        assert_eq!(
            err(&jwk(RSA1024)).to_string(),
            "`n` is a 1024-bit RSA modulus; 2048 to 8192 bits are accepted"
        );
        // Too big: 8200 bits (checked before any arithmetic, so need not be a real key).
        let mut n = vec![0xff; 1025];
        n[0] = 0x01;
        let big = with(RSA2048, "n", json!(URL_SAFE_NO_PAD.encode(&n)));
        assert_eq!(err(&big), KeyError::RsaModulusSize(8193));
        // A leading zero octet does not count towards the size.
        let mut n = vec![0];
        n.extend(b64(&jwk(RSA2048), "n"));
        let padded = with(RSA2048, "n", json!(URL_SAFE_NO_PAD.encode(&n)));
        assert!(Key::from_jwk(&padded).is_ok());
    }

    #[test]
    fn rsa_exponent_is_checked() {
        for e in [&[][..], &[1], &[2], &[1, 0, 0]] {
            let bad = with(RSA2048, "e", json!(URL_SAFE_NO_PAD.encode(e)));
            assert_eq!(err(&bad), KeyError::InvalidRsaKey, "{e:?}");
        }
    }

    #[test]
    fn private_keys_are_refused() {
        assert_eq!(err(&jwk(RSA2048_PRIVATE)), KeyError::PrivateKey("d"));
        assert_eq!(err(&jwk(P256_PRIVATE)), KeyError::PrivateKey("d"));
        assert_eq!(err(&jwk(ED25519_PRIVATE)), KeyError::PrivateKey("d"));
        assert_eq!(
            err(&with(RSA2048, "qi", json!("AQAB"))),
            KeyError::PrivateKey("qi")
        );
    }

    #[test]
    fn ec_point_must_be_on_the_curve() {
        let jwk = jwk(P256);
        let mut y = b64(&jwk, "y");
        y[31] ^= 1;
        let off_curve = with(P256, "y", json!(URL_SAFE_NO_PAD.encode(&y)));
        assert_eq!(err(&off_curve), KeyError::NotOnCurve("P-256"));
        let mut y = b64(&self::jwk(P384), "y");
        y[0] ^= 1;
        let off_curve = with(P384, "y", json!(URL_SAFE_NO_PAD.encode(&y)));
        assert_eq!(err(&off_curve), KeyError::NotOnCurve("P-384"));
        // Coordinates are full length, not minimal integers (RFC 7518 §6.2.1.2).
        let short = with(
            P256,
            "x",
            json!(URL_SAFE_NO_PAD.encode(&b64(&jwk, "x")[1..])),
        );
        assert_eq!(err(&short).to_string(), "`x` must be exactly 32 bytes");
        assert_eq!(
            err(&with(P256, "crv", json!("P-521"))).to_string(),
            "crv `P-521` is not supported for kty EC"
        );
        let mut no_y = jwk.clone();
        no_y.as_object_mut().unwrap().remove("y");
        assert_eq!(err(&no_y), KeyError::Missing("y"));
    }

    #[test]
    fn ed25519_key_is_checked() {
        // The identity point: small order, so weak.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = with(ED25519, "x", json!(URL_SAFE_NO_PAD.encode(identity)));
        assert_eq!(err(&weak), KeyError::InvalidEd25519);
        let short = with(ED25519, "x", json!(URL_SAFE_NO_PAD.encode([7u8; 31])));
        assert_eq!(
            err(&short),
            KeyError::WrongLength {
                member: "x",
                expected: 32
            }
        );
        assert_eq!(
            err(&with(ED25519, "crv", json!("X25519"))),
            KeyError::UnsupportedCurve {
                kty: "OKP",
                crv: "X25519".to_owned()
            }
        );
    }

    #[test]
    fn base64url_is_strict() {
        let n = jwk(RSA2048)["n"].as_str().unwrap().to_owned();
        // 256 bytes encode to 342 characters plus `==` when padded.
        let padded = with(RSA2048, "n", json!(format!("{n}==")));
        assert_eq!(err(&padded), KeyError::Base64Padding("n"));
        assert_eq!(
            err(&padded).to_string(),
            "`n` has base64 padding (`=`); JWK members are base64url without padding"
        );
        let x = jwk(P256)["x"].as_str().unwrap().to_owned();
        let standard = with(P256, "x", json!(format!("+{}", &x[1..])));
        assert_eq!(err(&standard), KeyError::NotBase64Url("x"));
        let spaced = with(P256, "x", json!(format!(" {}", &x[1..])));
        assert_eq!(err(&spaced), KeyError::NotBase64Url("x"));
        // Stray bits in the last character make a non-canonical encoding.
        let e = with(RSA2048, "e", json!("Aw"));
        assert!(Key::from_jwk(&e).is_ok());
        let e = with(RSA2048, "e", json!("Ax"));
        assert_eq!(err(&e), KeyError::NotBase64Url("e"));
        assert_eq!(
            err(&with(RSA2048, "n", json!(17))),
            KeyError::NotAString("n")
        );
    }

    #[test]
    fn use_and_key_ops() {
        assert!(Key::from_jwk(&with(P256, "use", json!("sig"))).is_ok());
        assert_eq!(
            err(&with(P256, "use", json!("enc"))).to_string(),
            "`use` is `enc`; only `sig` keys verify signatures"
        );
        assert!(Key::from_jwk(&with(P256, "key_ops", json!(["sign", "verify"]))).is_ok());
        assert_eq!(
            err(&with(P256, "key_ops", json!(["encrypt"]))),
            KeyError::NotForVerifying
        );
        assert_eq!(
            err(&with(P256, "key_ops", json!("verify"))).to_string(),
            "`key_ops` is not an array of strings"
        );
    }

    #[test]
    fn jwk_shape() {
        assert_eq!(err(&json!([])), KeyError::NotAnObject);
        assert_eq!(err(&json!({})), KeyError::Missing("kty"));
        assert_eq!(
            err(&json!({"kty": "foo"})).to_string(),
            "kty `foo` is not supported"
        );
        let long = "x".repeat(100);
        assert_eq!(
            err(&json!({"kty": format!("{long}\n")})),
            KeyError::UnsupportedKeyType(format!("{}…", "x".repeat(32)))
        );
        assert_eq!(
            err(&json!({"kty": "a\nb"})),
            KeyError::UnsupportedKeyType("a\\nb".to_owned())
        );
        assert_eq!(
            err(&with(P256, "kid", json!(1))),
            KeyError::NotAString("kid")
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = Key::hmac(SECRET, Algorithm::HS256).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("HS256"), "{debug}");
        assert!(!debug.contains("0123"), "{debug}");
        let rsa = format!("{:?}", key_set().candidates(None, Algorithm::RS256).next());
        assert!(rsa.contains("rsa-2048"), "{rsa}");
        assert!(
            !rsa.contains(&jwk(RSA2048)["n"].as_str().unwrap()[..16]),
            "{rsa}"
        );
    }

    fn key_set() -> KeySet {
        let pinned = with(P256, "alg", json!("ES256"));
        let document = json!({"keys": [
            jwk(RSA2048),
            jwk(P256),
            json!({"kty": "foo", "kid": "new"}),
            with(P384, "use", json!("enc")),
            pinned,
            jwk(RSA1024),
            "not a key",
            json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(SECRET)}),
        ]});
        KeySet::parse(document.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn key_set_skips_unusable_keys_with_reasons() {
        let set = key_set();
        assert_eq!(set.len(), 4);
        assert!(!set.is_empty());
        assert_eq!(
            set.skipped(),
            [
                "keys[2] (kid `new`): kty `foo` is not supported",
                "keys[3] (kid `p-384`): `use` is `enc`; only `sig` keys verify signatures",
                "keys[5] (kid `rsa-1024`): `n` is a 1024-bit RSA modulus; 2048 to 8192 bits are accepted",
                "keys[6]: JWK is not a JSON object",
            ]
        );
    }

    #[test]
    fn candidates_filter_by_kid_and_alg() {
        let set = key_set();
        let kids = |kid: Option<&str>, alg| -> Vec<Option<String>> {
            set.candidates(kid, alg)
                .map(|key| key.kid().map(str::to_owned))
                .collect()
        };
        let p256 = Some("p-256".to_owned());
        // Duplicate kids (rotation overlap): both, in document order.
        assert_eq!(
            kids(Some("p-256"), Algorithm::ES256),
            [p256.clone(), p256.clone()]
        );
        assert_eq!(kids(None, Algorithm::ES256), [p256.clone(), p256]);
        assert_eq!(
            kids(Some("rsa-2048"), Algorithm::PS384),
            [Some("rsa-2048".to_owned())]
        );
        assert_eq!(kids(Some("p-256"), Algorithm::RS256), []);
        assert_eq!(kids(Some("unknown"), Algorithm::ES256), []);
        assert_eq!(kids(None, Algorithm::ES384), []);
        // A key without a kid is a candidate for any token.
        assert_eq!(kids(Some("unknown"), Algorithm::HS512), [None]);
        assert_eq!(kids(None, Algorithm::HS256), [None]);
        assert!(set.has_kid("p-256"));
        assert!(set.has_kid("rsa-2048"));
        assert!(!set.has_kid("p-384"));
        assert!(!set.has_kid("new"));

        let signature = es256_sign(INPUT).to_vec();
        let verified = set
            .candidates(Some("p-256"), Algorithm::ES256)
            .filter(|key| key.verify(Algorithm::ES256, INPUT, &signature).is_ok())
            .count();
        assert_eq!(verified, 2);
    }

    #[test]
    fn key_set_from_keys() {
        let set = KeySet::from_keys(vec![
            Key::hmac(SECRET, Algorithm::HS256).unwrap(),
            load(ED25519),
        ]);
        assert_eq!(set.len(), 2);
        assert!(set.skipped().is_empty());
        assert!(set.has_kid("ed25519"));
        assert_eq!(set.candidates(Some("ed25519"), Algorithm::EdDSA).count(), 1);
        assert!(KeySet::from_keys(Vec::new()).is_empty());
    }

    #[test]
    fn key_set_document_shape() {
        assert!(KeySet::parse(br#"{"keys": []}"#).unwrap().is_empty());
        assert_eq!(
            KeySet::parse(b"{\"keys\": [}").unwrap_err().to_string(),
            "JWKS is not valid JSON (line 1, column 11)"
        );
        for document in [
            &b"[]"[..],
            b"{}",
            br#"{"keys": {}}"#,
            br#"{"keys": null}"#,
            b"1",
        ] {
            assert_eq!(KeySet::parse(document).unwrap_err(), KeyError::NoKeysArray);
        }
    }

    #[test]
    fn too_many_keys_are_refused() {
        let oct = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(SECRET)});
        let document = |count| json!({ "keys": vec![oct.clone(); count] }).to_string();
        assert_eq!(KeySet::parse(document(64).as_bytes()).unwrap().len(), 64);
        let err = KeySet::parse(document(65).as_bytes()).unwrap_err();
        assert_eq!(err, KeyError::TooManyKeys(65));
        assert_eq!(err.to_string(), "too many keys: 65 (at most 64)");
    }

    #[test]
    fn skip_reasons_never_contain_key_material() {
        let n = jwk(RSA2048)["n"].as_str().unwrap().to_owned();
        let secret = URL_SAFE_NO_PAD.encode(&SECRET[..20]);
        let document = json!({"keys": [
            with(RSA2048, "n", json!(format!("{n}=="))),
            with(RSA2048, "alg", json!("HS256")),
            json!({"kty": "oct", "k": secret}),
            json!({"kty": "oct", "k": format!("{secret}+")}),
        ]});
        let set = KeySet::parse(document.to_string().as_bytes()).unwrap();
        assert_eq!(set.skipped().len(), 4);
        for reason in set.skipped() {
            assert!(!reason.contains(&n[..16]), "{reason}");
            assert!(!reason.contains(&secret[..8]), "{reason}");
        }
    }

    #[test]
    fn symmetric_keys_can_be_refused() {
        let document = json!({"keys": [
            json!({"kty": "oct", "kid": "h", "k": URL_SAFE_NO_PAD.encode(SECRET)}),
            json!({"kty": "oct", "k": "not even base64url!"}),
            jwk(P256),
        ]})
        .to_string();
        let refused = KeySet::parse_with(document.as_bytes(), false).unwrap();
        assert_eq!(refused.len(), 1);
        assert!(refused.has_kid("p-256"));
        let why = KeyError::SymmetricKeyRefused.to_string();
        assert_eq!(
            refused.skipped(),
            [
                format!("keys[0] (kid `h`): {why}"),
                format!("keys[1]: {why}")
            ]
        );
        let allowed = KeySet::parse(document.as_bytes()).unwrap();
        assert_eq!(allowed.len(), 2);
        assert!(allowed.has_kid("h"));
        assert_eq!(
            allowed.skipped(),
            ["keys[1]: `k` is not base64url (RFC 4648 §5 alphabet `A-Za-z0-9-_`, no padding)"]
        );
    }
}
