//! JSON Web Tokens: keys, signatures, claims.

pub mod keys;
