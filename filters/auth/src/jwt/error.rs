//! Why a token was refused.

use std::fmt;

/// Why a token was refused. `Display` is safe to send to the client and to
/// log: it never contains the token or key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Longer than the provider's `max_token_bytes`.
    TooLarge,
    /// Not a compact JWS.
    Malformed(&'static str),
    /// `alg` is `none` or not supported.
    UnsupportedAlgorithm,
    /// The header has `crit`.
    CriticalHeader,
    /// No provider accepts the token's issuer.
    UnknownIssuer,
    /// The provider has no key set yet (its JWKS could not be fetched).
    NoKeys,
    /// No key has the token's `kid`.
    UnknownKid,
    /// No key may verify the token's algorithm.
    KeyMismatch,
    /// The signature does not verify.
    BadSignature,
    /// `exp` has passed.
    Expired,
    /// `nbf` has not come yet.
    NotYetValid,
    /// A required claim is missing, or `exp`/`nbf` is not a number.
    BadClaim(String),
    /// `iss` is not the provider's.
    WrongIssuer,
    /// `aud` names none of the provider's audiences.
    WrongAudience,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => f.write_str("token is too large"),
            Self::Malformed(why) => write!(f, "token is malformed: {why}"),
            Self::UnsupportedAlgorithm => f.write_str("token algorithm is not accepted"),
            Self::CriticalHeader => f.write_str("token has critical header parameters"),
            Self::UnknownIssuer => f.write_str("token issuer is not accepted"),
            Self::NoKeys => f.write_str("signing keys are not available"),
            Self::UnknownKid => f.write_str("token key id is not known"),
            Self::KeyMismatch => f.write_str("no key may verify this token's algorithm"),
            Self::BadSignature => f.write_str("token signature is invalid"),
            Self::Expired => f.write_str("token has expired"),
            Self::NotYetValid => f.write_str("token is not valid yet"),
            Self::BadClaim(claim) => write!(f, "claim `{claim}` is missing or invalid"),
            Self::WrongIssuer => f.write_str("token issuer is not accepted"),
            Self::WrongAudience => f.write_str("token audience is not accepted"),
        }
    }
}

impl std::error::Error for JwtError {}
