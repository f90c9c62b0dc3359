//! JSON Web Keys (RFC 7517) and JWS signature verification (RFC 7515,
//! RFC 7518, RFC 8037), following the RFC 8725 best practices.
//!
//! Keys are parsed, decoded and checked once, when the configuration or a
//! JWKS document is loaded, into ready-to-use verifying keys; [`Key::verify`]
//! then only hashes and checks. Reading a JWK is [`jwk`]'s business,
//! checking a signature [`verify`]'s; this module holds what both name.
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

use serde_json::Value;
use std::fmt;

mod jwk;
mod verify;

use verify::{hmac_keys, Verifier};

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
        self.verifier.verify(alg, signing_input, signature)
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

#[cfg(test)]
mod tests;
