//! Registered claim checks (RFC 7519 §4.1): `iss`, `aud`, `exp`, `nbf`,
//! and claims a provider requires.

use super::error::JwtError;
use serde_json::{Map, Value};

/// What a provider's tokens must say.
#[derive(Debug, Clone)]
pub struct ClaimChecks {
    /// The required `iss`, if any.
    pub issuer: Option<String>,
    /// `aud` must name one of these, if any.
    pub audiences: Vec<String>,
    /// Whether `exp` is required.
    pub require_expiration: bool,
    /// Seconds of slack on `exp` and `nbf`.
    pub clock_skew: u64,
    /// Claims that must be present.
    pub required: Vec<String>,
}

/// The validity window of a verified token, kept to recheck cached
/// tokens without parsing them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `exp`, in seconds since the epoch.
    pub expires: Option<u64>,
    /// `nbf`, in seconds since the epoch.
    pub not_before: Option<u64>,
}

impl ClaimChecks {
    /// Checks the claims at time `now` (seconds since the epoch), giving the
    /// token's validity window.
    pub fn check(&self, claims: &Map<String, Value>, now: u64) -> Result<Window, JwtError> {
        if let Some(issuer) = &self.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err(JwtError::WrongIssuer);
            }
        }
        if !self.audiences.is_empty() && !self.audience_matches(claims.get("aud")) {
            return Err(JwtError::WrongAudience);
        }
        let window = Window {
            expires: numeric_date(claims, "exp")?,
            not_before: numeric_date(claims, "nbf")?,
        };
        if self.require_expiration && window.expires.is_none() {
            return Err(JwtError::BadClaim("exp".to_owned()));
        }
        if let Some(claim) = self.required.iter().find(|c| !claims.contains_key(*c)) {
            return Err(JwtError::BadClaim(claim.clone()));
        }
        self.check_window(window, now)?;
        Ok(window)
    }

    /// Checks `exp` and `nbf`, with the clock skew allowed.
    pub fn check_window(&self, window: Window, now: u64) -> Result<(), JwtError> {
        if window
            .expires
            .is_some_and(|exp| now >= exp.saturating_add(self.clock_skew))
        {
            return Err(JwtError::Expired);
        }
        if window
            .not_before
            .is_some_and(|nbf| nbf > now.saturating_add(self.clock_skew))
        {
            return Err(JwtError::NotYetValid);
        }
        Ok(())
    }

    fn audience_matches(&self, aud: Option<&Value>) -> bool {
        match aud {
            Some(Value::String(a)) => self.audiences.contains(a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| self.audiences.iter().any(|want| want == a)),
            _ => false,
        }
    }
}

/// The `iss` claim, if it is a string. Picks the provider for a token, both
/// before it is verified and when it is remembered.
pub fn issuer(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("iss").and_then(Value::as_str)
}

/// A NumericDate claim as whole seconds; absent is `None`, anything but a
/// non-negative number is an error.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.is_finite())
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| JwtError::BadClaim(name.to_owned())),
    }
}

/// Whether claim `name` holds `wanted`: equal as a string, contained in a
/// list, or (for `scope` and `scp`) one of its space-separated values.
pub fn claim_has(claims: &Map<String, Value>, name: &str, wanted: &str) -> bool {
    match claims.get(name) {
        Some(Value::String(s)) if name == "scope" || name == "scp" => {
            s.split(' ').any(|v| v == wanted)
        }
        Some(Value::String(s)) => s == wanted,
        Some(Value::Array(list)) => list.iter().any(|v| v.as_str() == Some(wanted)),
        Some(Value::Bool(b)) => b.to_string() == wanted,
        Some(Value::Number(n)) => n.to_string() == wanted,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn checks() -> ClaimChecks {
        ClaimChecks {
            issuer: Some("https://issuer".into()),
            audiences: vec!["api".into(), "web".into()],
            require_expiration: true,
            clock_skew: 60,
            required: vec!["sub".into()],
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn good() -> Value {
        json!({"iss": "https://issuer", "aud": "api", "sub": "u", "exp": NOW + 10, "nbf": NOW - 10})
    }

    fn with(key: &str, value: Value) -> Map<String, Value> {
        let mut c = claims(good());
        c.insert(key.into(), value);
        c
    }

    #[test]
    fn good_claims_pass() {
        let window = checks().check(&claims(good()), NOW).unwrap();
        assert_eq!(window.expires, Some(NOW + 10));
        assert!(checks()
            .check(&with("aud", json!(["x", "web"])), NOW)
            .is_ok());
        assert!(checks()
            .check(&with("exp", json!(NOW as f64 + 5.5)), NOW)
            .is_ok());
    }

    #[test]
    fn each_claim_failure_is_told_apart() {
        let c = checks();
        assert_eq!(
            c.check(&with("iss", json!("https://other")), NOW),
            Err(JwtError::WrongIssuer)
        );
        assert_eq!(
            c.check(&with("aud", json!("other")), NOW),
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            c.check(&with("aud", json!(["a", 1])), NOW),
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            c.check(&with("exp", json!(NOW - 61)), NOW),
            Err(JwtError::Expired)
        );
        assert_eq!(
            c.check(&with("nbf", json!(NOW + 61)), NOW),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            c.check(&with("exp", json!("soon")), NOW),
            Err(JwtError::BadClaim("exp".into()))
        );
        let mut no_exp = claims(good());
        no_exp.remove("exp");
        assert_eq!(c.check(&no_exp, NOW), Err(JwtError::BadClaim("exp".into())));
        let mut no_sub = claims(good());
        no_sub.remove("sub");
        assert_eq!(c.check(&no_sub, NOW), Err(JwtError::BadClaim("sub".into())));
    }

    #[test]
    fn clock_skew_applies_both_ways() {
        let c = checks();
        assert!(c.check(&with("exp", json!(NOW - 59)), NOW).is_ok());
        assert!(c.check(&with("nbf", json!(NOW + 60)), NOW).is_ok());
        let strict = ClaimChecks {
            clock_skew: 0,
            ..checks()
        };
        assert_eq!(
            strict.check(&with("exp", json!(NOW)), NOW),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn claim_values_match_as_documented() {
        let c = claims(json!({"scope": "read write", "roles": ["a", "b"], "team": "x y", "n": 3}));
        assert!(claim_has(&c, "scope", "write"));
        assert!(!claim_has(&c, "scope", "rea"));
        assert!(claim_has(&c, "roles", "b"));
        assert!(!claim_has(&c, "team", "x"));
        assert!(claim_has(&c, "team", "x y"));
        assert!(claim_has(&c, "n", "3"));
        assert!(!claim_has(&c, "missing", "x"));
    }
}
