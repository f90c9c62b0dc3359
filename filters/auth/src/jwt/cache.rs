//! Verified tokens, remembered so that a token's signature is checked once
//! (as Envoy's `jwt_cache_config` does): RSA and ECDSA verification cost
//! about a millisecond in Wasm.

use super::claims::Window;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// What is known of a token once its signature and claims have passed.
#[derive(Debug, PartialEq)]
pub struct Verified {
    /// The index of the provider that verified it.
    pub provider: usize,
    /// Its claims.
    pub claims: Map<String, Value>,
    /// When it is valid.
    pub window: Window,
}

impl Verified {
    /// Its `iss`, which (with where the token was found) picks the
    /// provider that checks it.
    pub fn issuer(&self) -> Option<&str> {
        super::claims::issuer(&self.claims)
    }
}

/// A bounded map from a token to what verifying it gave. The token itself
/// is the key (hashed with the standard library's keyed SipHash, then
/// compared whole): a digest such as SHA-256 would cost more per request
/// than the rest of a cache hit, as it reads every byte of a long token
/// through many rounds. The oldest entry goes first when it is full;
/// entries are rechecked against the clock on every use, so an expired
/// token never passes from here.
/// An entry stands only for the provider that verified it: [`super::Jwt`]
/// uses it only where that provider is the one the token would go to.
#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    entries: HashMap<Rc<str>, Rc<Verified>>,
    order: VecDeque<Rc<str>>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; 0 remembers nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// What verifying this token gave before, if it is remembered.
    pub fn get(&self, token: &str) -> Option<Rc<Verified>> {
        self.entries.get(token).cloned()
    }

    /// Remembers a verified token, forgetting the oldest if full.
    pub fn insert(&mut self, token: &str, verified: Rc<Verified>) {
        if self.capacity == 0 {
            return;
        }
        if let Some(entry) = self.entries.get_mut(token) {
            *entry = verified;
            return;
        }
        let token: Rc<str> = Rc::from(token);
        self.entries.insert(Rc::clone(&token), verified);
        self.order.push_back(token);
        while self.entries.len() > self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Forgets a token (one that has expired).
    pub fn remove(&mut self, token: &str) {
        if self.entries.remove(token).is_some() {
            self.order.retain(|k| &**k != token);
        }
    }

    /// Forgets every token.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(provider: usize) -> Rc<Verified> {
        Rc::new(Verified {
            provider,
            claims: Map::new(),
            window: Window {
                expires: None,
                not_before: None,
            },
        })
    }

    #[test]
    fn it_is_bounded_and_forgets_the_oldest() {
        let mut cache = TokenCache::new(2);
        cache.insert("a", verified(0));
        cache.insert("b", verified(1));
        cache.insert("a", verified(2));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a").unwrap().provider, 2);
        cache.insert("c", verified(3));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").is_none());
        assert_eq!(cache.get("b").unwrap().provider, 1);
        cache.remove("b");
        assert!(cache.get("b").is_none());
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert!(cache.is_empty() && cache.get("c").is_none());
    }

    #[test]
    fn only_the_same_token_is_found() {
        let mut cache = TokenCache::new(4);
        cache.insert("header.payload.signature", verified(0));
        for other in [
            "header.payload.signaturf",
            "header.payload.signatur",
            "Header.payload.signature",
        ] {
            assert!(cache.get(other).is_none(), "{other}");
        }
        assert!(cache.get("header.payload.signature").is_some());
    }

    #[test]
    fn a_zero_capacity_cache_remembers_nothing() {
        let mut cache = TokenCache::new(0);
        cache.insert("a", verified(0));
        assert!(cache.is_empty());
    }
}
