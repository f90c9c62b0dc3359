//! One token issuer, compiled from its configuration.

use super::cache::Verified;
use super::claims::{ClaimChecks, Window};
use super::error::JwtError;
use super::jwks::RemoteKeys;
use super::keys::KeySet;
use super::token::Parsed;
use crate::config::{ClaimToHeader, JwtProvider, TokenSource};
use meshwasm_core::ConfigError;
use std::cell::RefCell;
use std::rc::Rc;

/// Where a provider's keys come from.
#[derive(Debug)]
pub enum KeySource {
    /// From the configuration.
    Inline(Rc<KeySet>),
    /// From a JWKS endpoint.
    Remote(RefCell<RemoteKeys>),
}

/// A provider ready to verify tokens.
#[derive(Debug)]
pub struct Provider {
    /// Its name, for logs.
    pub name: String,
    /// Its keys.
    pub keys: KeySource,
    /// Where its tokens are read from.
    pub sources: Vec<TokenSource>,
    checks: ClaimChecks,
    /// The claim naming the consumer.
    pub consumer_claim: String,
    /// Claims copied to request headers.
    pub claim_to_headers: Vec<ClaimToHeader>,
    /// Whether the token stays on the request.
    pub forward: bool,
    /// The longest token accepted.
    pub max_token_bytes: usize,
}

impl Provider {
    /// Compiles a provider; inline keys are parsed here, once.
    pub fn new(config: &JwtProvider) -> Result<Self, ConfigError> {
        let keys = match (&config.jwks, &config.remote_jwks) {
            (Some(jwks), _) => {
                let set = KeySet::parse(jwks.to_string().as_bytes())
                    .map_err(|e| ConfigError::new("jwks", e.to_string()))?;
                if let Some(why) = set.skipped().first() {
                    return Err(ConfigError::new("jwks", why.clone()));
                }
                if set.is_empty() {
                    return Err(ConfigError::new("jwks", "has no keys"));
                }
                KeySource::Inline(Rc::new(set))
            }
            (None, Some(remote)) => {
                KeySource::Remote(RefCell::new(RemoteKeys::new(&config.name, remote.clone())))
            }
            (None, None) => return Err(ConfigError::new("jwks", "set `jwks` or `remote_jwks`")),
        };
        Ok(Self {
            name: config.name.clone(),
            keys,
            sources: config.from.clone(),
            checks: ClaimChecks {
                issuer: config.issuer.clone(),
                audiences: config.audiences.clone(),
                require_expiration: config.require_expiration,
                clock_skew: u64::from(config.clock_skew_seconds),
                required: config.required_claims.clone(),
            },
            consumer_claim: config.consumer_claim.clone(),
            claim_to_headers: config.claim_to_headers.clone(),
            forward: config.forward,
            max_token_bytes: config.max_token_bytes,
        })
    }

    /// Whether this provider checks tokens with this (unverified) issuer.
    pub fn takes_issuer(&self, issuer: Option<&str>) -> bool {
        self.checks
            .issuer
            .as_deref()
            .is_none_or(|mine| Some(mine) == issuer)
    }

    /// The remote key set, if the keys are remote.
    pub fn remote(&self) -> Option<&RefCell<RemoteKeys>> {
        match &self.keys {
            KeySource::Remote(remote) => Some(remote),
            KeySource::Inline(_) => None,
        }
    }

    /// Checks the signature, then the claims, at `now` (seconds).
    pub fn verify(&self, index: usize, token: &Parsed<'_>, now: u64) -> Result<Verified, JwtError> {
        let keys = match &self.keys {
            KeySource::Inline(keys) => Rc::clone(keys),
            KeySource::Remote(remote) => remote.borrow().keys().ok_or(JwtError::NoKeys)?,
        };
        let kid = token.kid.as_deref();
        let mut candidates = keys.candidates(kid, token.alg).peekable();
        if candidates.peek().is_none() {
            return Err(match kid {
                Some(kid) if !keys.has_kid(kid) => JwtError::UnknownKid,
                _ => JwtError::KeyMismatch,
            });
        }
        let input = token.signing_input.as_bytes();
        if !candidates.any(|key| key.verify(token.alg, input, &token.signature).is_ok()) {
            return Err(JwtError::BadSignature);
        }
        let window = self.checks.check(&token.claims, now)?;
        Ok(Verified {
            provider: index,
            claims: token.claims.clone(),
            window,
        })
    }

    /// Rechecks a remembered token's validity window.
    pub fn check_window(&self, window: Window, now: u64) -> Result<(), JwtError> {
        self.checks.check_window(window, now)
    }
}
