//! Verified tokens, remembered so that a token's signature is checked once
//! (as Envoy's `jwt_cache_config` does): RSA and ECDSA verification cost
//! about a millisecond in Wasm.

use super::claims::Window;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
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

/// A bounded map from a token's SHA-256 to what verifying it gave. The
/// oldest entry goes first when it is full; entries are rechecked against
/// the clock on every use, so an expired token never passes from here.
/// An entry stands only for the provider that verified it: [`super::Jwt`]
/// uses it only where that provider is the one the token would go to.
#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    entries: HashMap<[u8; 32], Rc<Verified>>,
    order: VecDeque<[u8; 32]>,
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

    /// The digest a token is remembered by.
    pub fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// What verifying this token gave before, if it is remembered.
    pub fn get(&self, key: &[u8; 32]) -> Option<Rc<Verified>> {
        self.entries.get(key).cloned()
    }

    /// Remembers a verified token, forgetting the oldest if full.
    pub fn insert(&mut self, key: [u8; 32], verified: Rc<Verified>) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.insert(key, verified).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Forgets a token (one that has expired).
    pub fn remove(&mut self, key: &[u8; 32]) {
        if self.entries.remove(key).is_some() {
            self.order.retain(|k| k != key);
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
        let (a, b, c) = (
            TokenCache::key("a"),
            TokenCache::key("b"),
            TokenCache::key("c"),
        );
        cache.insert(a, verified(0));
        cache.insert(b, verified(1));
        cache.insert(a, verified(2));
        assert_eq!(cache.len(), 2);
        cache.insert(c, verified(3));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&a).is_none());
        assert_eq!(cache.get(&b).unwrap().provider, 1);
        cache.remove(&b);
        assert!(cache.get(&b).is_none());
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert!(cache.is_empty() && cache.get(&c).is_none());
    }

    #[test]
    fn a_zero_capacity_cache_remembers_nothing() {
        let mut cache = TokenCache::new(0);
        cache.insert(TokenCache::key("a"), verified(0));
        assert!(cache.is_empty());
    }
}
