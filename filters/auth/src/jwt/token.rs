//! Compact JWS parsing (RFC 7515 §7.1), strict and bounded.

use super::error::JwtError;
use super::keys::Algorithm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A token taken apart, its signature not yet checked.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The header's algorithm.
    pub alg: Algorithm,
    /// The header's key id.
    pub kid: Option<String>,
    /// The payload's claims.
    pub claims: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    pub signing_input: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// The JOSE header members meshwasm reads; others are ignored.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

impl<'a> Parsed<'a> {
    /// Parses `token`, refusing anything larger than `max_bytes`, any
    /// algorithm outside [`Algorithm`] (`none` included), and any `crit`
    /// header (meshwasm understands no JWS extension).
    pub fn parse(token: &'a str, max_bytes: usize) -> Result<Self, JwtError> {
        if token.len() > max_bytes {
            return Err(JwtError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("not three dot-separated parts"));
        };
        let signing_input = token
            .get(..header.len() + 1 + payload.len())
            .ok_or(JwtError::Malformed("not three dot-separated parts"))?;
        let header: Header = serde_json::from_slice(&decode(header)?)
            .map_err(|_| JwtError::Malformed("header is not a JSON object with `alg`"))?;
        if header.crit.is_some() {
            return Err(JwtError::CriticalHeader);
        }
        let alg = Algorithm::from_name(&header.alg).ok_or(JwtError::UnsupportedAlgorithm)?;
        let claims: Map<String, Value> = serde_json::from_slice(&decode(payload)?)
            .map_err(|_| JwtError::Malformed("payload is not a JSON object"))?;
        Ok(Self {
            alg,
            kid: header.kid,
            claims,
            signing_input,
            signature: decode(signature)?,
        })
    }

    /// The unverified `iss`, to pick the provider that checks the token.
    pub fn issuer(&self) -> Option<&str> {
        super::claims::issuer(&self.claims)
    }
}

/// Strict base64url without padding.
fn decode(part: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed("a part is not base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    #[test]
    fn a_token_comes_apart() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"iss":"me","sub":"x"}"#,
        );
        let parsed = Parsed::parse(&t, 8192).unwrap();
        assert_eq!(parsed.alg, Algorithm::RS256);
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.issuer(), Some("me"));
        assert_eq!(parsed.signature, b"sig");
        assert_eq!(parsed.signing_input, t.rsplit_once('.').unwrap().0);
    }

    #[test]
    fn attack_shapes_are_refused() {
        let cases = [
            (
                token(r#"{"alg":"none"}"#, "{}"),
                JwtError::UnsupportedAlgorithm,
            ),
            (
                token(r#"{"alg":"None"}"#, "{}"),
                JwtError::UnsupportedAlgorithm,
            ),
            (
                token(r#"{"alg":"HS256","crit":["exp"]}"#, "{}"),
                JwtError::CriticalHeader,
            ),
            (
                token(r#"{"kid":"x"}"#, "{}"),
                JwtError::Malformed("header is not a JSON object with `alg`"),
            ),
            (
                token(r#"{"alg":"HS256"}"#, "[1]"),
                JwtError::Malformed("payload is not a JSON object"),
            ),
            (
                "a.b".to_owned(),
                JwtError::Malformed("not three dot-separated parts"),
            ),
            (
                "a.b.c.d".to_owned(),
                JwtError::Malformed("not three dot-separated parts"),
            ),
            (
                format!("{}=.e30.c2ln", b64(r#"{"alg":"HS256"}"#)),
                JwtError::Malformed("a part is not base64url"),
            ),
            (
                format!("{}.e30.c2ln+", b64(r#"{"alg":"HS256"}"#)),
                JwtError::Malformed("a part is not base64url"),
            ),
        ];
        for (t, expected) in cases {
            assert_eq!(Parsed::parse(&t, 8192).unwrap_err(), expected, "{t}");
        }
        let big = token(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"x":"{}"}}"#, "a".repeat(9000)),
        );
        assert_eq!(Parsed::parse(&big, 8192).unwrap_err(), JwtError::TooLarge);
    }
}

#[cfg(test)]
mod props;
