//! JSON Web Tokens (RFC 7519, RFC 7515, RFC 8725): find the provider that
//! checks a token, verify it once, remember the result.

pub mod cache;
pub mod claims;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod provider;
pub mod token;

use crate::config::{JwtConfig, TokenSource};
use cache::{TokenCache, Verified};
use error::JwtError;
use jwks::Fetch;
use meshwasm_core::config::compile_each;
use meshwasm_core::{CallResponse, ConfigError, Proxy};
use provider::Provider;
use std::cell::RefCell;
use std::rc::Rc;
use token::Parsed;

/// Why a token was refused, and by which provider (the one whose remote
/// keys may be worth fetching again).
#[derive(Debug, PartialEq)]
pub struct Refusal {
    /// Why.
    pub error: JwtError,
    /// The provider that looked at the token, if one took it.
    pub provider: Option<usize>,
}

/// Every configured provider, and the verified-token cache they share.
#[derive(Debug)]
pub struct Jwt {
    /// The providers, in configuration order.
    pub providers: Vec<Provider>,
    cache: RefCell<TokenCache>,
    max_token_bytes: usize,
}

impl Jwt {
    /// Compiles every provider. Errors name fields relative to `config`
    /// (`providers[0].jwks`).
    pub fn new(config: &JwtConfig) -> Result<Self, ConfigError> {
        let providers = compile_each("providers", &config.providers, Provider::new)?;
        let max_token_bytes = providers
            .iter()
            .map(|p| p.max_token_bytes)
            .max()
            .unwrap_or(0);
        Ok(Self {
            providers,
            cache: RefCell::new(TokenCache::new(config.cache_entries)),
            max_token_bytes,
        })
    }

    /// Every place some provider reads a token from, without repeats, in
    /// configuration order.
    pub fn sources(&self) -> Vec<&TokenSource> {
        let mut sources: Vec<&TokenSource> = Vec::new();
        for source in self.providers.iter().flat_map(|p| &p.sources) {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        sources
    }

    /// Forgets every verified token (the keys changed).
    fn forget_verified(&self) {
        self.cache.borrow_mut().clear();
    }

    /// Whether some provider fetches its keys (and so needs the timer).
    pub fn fetches_keys(&self) -> bool {
        self.providers.iter().any(|p| p.remote().is_some())
    }

    /// Starts every remote key fetch the timer makes due.
    pub fn refresh(&self, proxy: &mut dyn Proxy, now: u64) {
        for remote in self.providers.iter().filter_map(Provider::remote) {
            remote.borrow_mut().start(proxy, Fetch::Refresh, now);
        }
    }

    /// Takes the answer to call `token`, if it is a key fetch under way.
    /// New keys also forget every verified token, so a key that was
    /// removed stops verifying at once, cached tokens included.
    pub fn take_keys(&self, token: u32, response: &CallResponse, now: u64) {
        let renewed = self
            .providers
            .iter()
            .filter_map(Provider::remote)
            .any(|remote| remote.borrow_mut().take(token, response, now));
        if renewed {
            self.forget_verified();
        }
    }

    /// The provider that checks a token found at `source` whose (not yet
    /// verified) `iss` is `issuer`: the first that reads from `source` and
    /// takes that issuer.
    fn provider_for(
        &self,
        source: &TokenSource,
        issuer: Option<&str>,
    ) -> Option<(usize, &Provider)> {
        self.providers
            .iter()
            .enumerate()
            .find(|(_, p)| p.sources.contains(source) && p.takes_issuer(issuer))
    }

    /// Verifies `token`, found at `source`, at `now` (seconds). The first
    /// provider that reads from `source` and takes the token's issuer
    /// checks it. A token verified before is not verified again while it is
    /// valid, but only where the provider it would go to now is the one
    /// that verified it: that provider reads `source`, and its checks
    /// (keys, issuer, audiences, required claims) passed, so only its
    /// validity window is checked again. Anywhere else the token is
    /// verified afresh, so a remembered token passes exactly where a fresh
    /// one would.
    pub fn authenticate(
        &self,
        token: &str,
        source: &TokenSource,
        now: u64,
    ) -> Result<Rc<Verified>, Refusal> {
        let cached = self.cache.borrow().get(token);
        // The provider a fresh verification would pick depends only on
        // `source` and the token's `iss`, which the remembered claims hold.
        let hit = cached.and_then(|verified| {
            let (index, provider) = self.provider_for(source, verified.issuer())?;
            (index == verified.provider).then_some((verified, provider))
        });
        if let Some((verified, provider)) = hit {
            return match provider.check_window(verified.window, now) {
                Ok(()) => Ok(verified),
                Err(error) => {
                    self.cache.borrow_mut().remove(token);
                    Err(Refusal {
                        error,
                        provider: Some(verified.provider),
                    })
                }
            };
        }
        let refuse = |error, provider| Refusal { error, provider };
        let parsed = Parsed::parse(token, self.max_token_bytes).map_err(|e| refuse(e, None))?;
        let (index, provider) = self
            .provider_for(source, parsed.issuer())
            .ok_or(refuse(JwtError::UnknownIssuer, None))?;
        if token.len() > provider.max_token_bytes {
            return Err(refuse(JwtError::TooLarge, Some(index)));
        }
        let verified = Rc::new(
            provider
                .verify(index, &parsed, now)
                .map_err(|e| refuse(e, Some(index)))?,
        );
        self.cache.borrow_mut().insert(token, Rc::clone(&verified));
        Ok(verified)
    }
}

#[cfg(test)]
pub(crate) mod test_log;
#[cfg(test)]
mod tests;
