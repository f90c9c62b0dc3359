//! HTTP Basic authentication (RFC 7617) against hashed passwords.

use crate::config::BasicConfig;
use crate::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use meshwasm_core::config::compile_each;
use meshwasm_core::ConfigError;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A stored password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// `{SHA}` + base64 of SHA-1, as `htpasswd -s` writes it and Envoy's
    /// native `basic_auth` reads it.
    Sha1([u8; 20]),
    /// `{SHA256}` + 64 hex digits of SHA-256.
    Sha256([u8; 32]),
}

impl PasswordHash {
    /// Parses a hash in one of the two forms.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(b64) = s.strip_prefix("{SHA}") {
            let bytes = STANDARD
                .decode(b64)
                .map_err(|_| "`{SHA}` must be followed by base64".to_owned())?;
            return <[u8; 20]>::try_from(bytes.as_slice())
                .map(Self::Sha1)
                .map_err(|_| "`{SHA}` must be followed by a 20-byte SHA-1 digest".to_owned());
        }
        if let Some(hex) = s.strip_prefix("{SHA256}") {
            return meshwasm_core::hex::decode(hex)
                .map(Self::Sha256)
                .ok_or_else(|| "`{SHA256}` must be followed by 64 hex digits".to_owned());
        }
        Err("must start with `{SHA}` (htpasswd -s) or `{SHA256}`".to_owned())
    }

    /// Whether `password` hashes to this, compared in constant time.
    fn matches(&self, password: &[u8]) -> bool {
        match self {
            Self::Sha1(digest) => digest::same(&Sha1::digest(password).into(), digest),
            Self::Sha256(digest) => digest::same(&Sha256::digest(password).into(), digest),
        }
    }
}

/// What a request's `Authorization` header says to Basic.
#[derive(Debug, PartialEq, Eq)]
pub enum BasicOutcome<'a> {
    /// Not Basic credentials.
    Absent,
    /// Basic credentials that are malformed or wrong.
    Invalid,
    /// The user they name.
    Valid(&'a str),
}

/// The configured users.
#[derive(Debug)]
pub struct BasicUsers {
    /// The realm for the challenge.
    pub realm: String,
    /// Whether `Authorization` stays on the request.
    pub forward: bool,
    users: HashMap<String, PasswordHash>,
}

/// Compared against when the user is unknown, so that timing does not
/// tell which user names exist.
const DECOY: PasswordHash = PasswordHash::Sha256([0; 32]);

impl BasicUsers {
    /// Builds the user table from `users` and `htpasswd` lines, parsing
    /// each password hash once. Errors name fields relative to `config`
    /// (`users[1].password_hash`, `htpasswd (line 3)`).
    pub fn new(config: &BasicConfig) -> Result<Self, ConfigError> {
        let hashes = compile_each("users", &config.users, |user| {
            PasswordHash::parse(&user.password_hash)
                .map_err(|reason| ConfigError::new("password_hash", reason))
        })?;
        let mut users: HashMap<String, PasswordHash> = config
            .users
            .iter()
            .map(|user| user.name.clone())
            .zip(hashes)
            .collect();
        let lines = config.htpasswd.as_deref().unwrap_or("").lines();
        for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let at = || format!("htpasswd (line {})", i + 1);
            let (name, hash) = line
                .trim()
                .split_once(':')
                .ok_or_else(|| ConfigError::new(at(), "must be `name:{SHA}hash`"))?;
            let hash =
                PasswordHash::parse(hash).map_err(|reason| ConfigError::new(at(), reason))?;
            if name.is_empty() || users.insert(name.to_owned(), hash).is_some() {
                return Err(ConfigError::new(
                    at(),
                    format!("user `{name}` is empty or repeated"),
                ));
            }
        }
        Ok(Self {
            realm: config.realm.clone(),
            forward: config.forward,
            users,
        })
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: &str) -> BasicOutcome<'_> {
        let Some(encoded) =
            meshwasm_core::request::strip_prefix_ignore_case(authorization, "Basic ")
        else {
            return BasicOutcome::Absent;
        };
        let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
            return BasicOutcome::Invalid;
        };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else {
            return BasicOutcome::Invalid;
        };
        let (name, password) = decoded.split_at(colon);
        let password = password.get(1..).unwrap_or_default();
        let entry = std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.users.get_key_value(n));
        match entry {
            Some((name, hash)) if hash.matches(password) => BasicOutcome::Valid(name),
            Some(_) => BasicOutcome::Invalid,
            None => {
                DECOY.matches(password);
                BasicOutcome::Invalid
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(json: &str) -> BasicUsers {
        let config: crate::config::AuthConfig =
            meshwasm_core::config::parse(json.as_bytes()).unwrap();
        BasicUsers::new(config.basic.as_ref().unwrap()).unwrap()
    }

    fn header(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    // `htpasswd -nbs carol secret` and `printf secret | sha256sum`.
    const CAROL: &str = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";
    const DAVE: &str = "{SHA256}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

    #[test]
    fn htpasswd_and_sha256_users_authenticate() {
        let users = users(&format!(
            r#"{{"basic": {{"users": [{{"name": "dave", "password_hash": "{DAVE}"}}],
                           "htpasswd": "carol:{CAROL}\n"}}}}"#
        ));
        assert_eq!(
            users.check(&header("carol", "secret")),
            BasicOutcome::Valid("carol")
        );
        assert_eq!(
            users.check(&header("dave", "secret")),
            BasicOutcome::Valid("dave")
        );
        assert_eq!(
            users.check(&header("carol", "Secret")),
            BasicOutcome::Invalid
        );
        assert_eq!(users.check(&header("eve", "secret")), BasicOutcome::Invalid);
        assert_eq!(users.check("Basic !!!"), BasicOutcome::Invalid);
        assert_eq!(
            users.check(&format!("Basic {}", STANDARD.encode("carol"))),
            BasicOutcome::Invalid
        );
        assert_eq!(users.check("Bearer x"), BasicOutcome::Absent);
        assert_eq!(users.realm, "meshwasm");
    }

    #[test]
    fn passwords_may_contain_colons() {
        let hash = format!("{{SHA}}{}", STANDARD.encode(Sha1::digest(b"a:b")));
        let users = users(&format!(
            r#"{{"basic": {{"users": [{{"name": "u", "password_hash": "{hash}"}}]}}}}"#
        ));
        assert_eq!(users.check(&header("u", "a:b")), BasicOutcome::Valid("u"));
    }

    #[test]
    fn bad_hashes_are_named() {
        let cases = [
            (
                r#"{"basic": {"users": [{"name": "u", "password_hash": "plain"}]}}"#,
                "basic.users[0].password_hash",
            ),
            (
                r#"{"basic": {"users": [{"name": "u", "password_hash": "{SHA}AAAA"}]}}"#,
                "basic.users[0].password_hash",
            ),
            (
                r#"{"basic": {"users": [{"name": "u:v", "password_hash": "{SHA256}00"}]}}"#,
                "basic.users[0].name",
            ),
            (
                r#"{"basic": {"realm": "a\"b", "users": []}}"#,
                "basic.realm",
            ),
            (r#"{"basic": {}}"#, "basic.users"),
        ];
        for (json, field) in cases {
            // The whole configure step: shape checks, then building.
            let err =
                <crate::Auth as meshwasm_core::Filter>::configure(json.as_bytes()).unwrap_err();
            assert_eq!(err.field(), field, "{json}: {err}");
        }
        let config: crate::config::AuthConfig =
            meshwasm_core::config::parse(br#"{"basic": {"htpasswd": "carol:{MD5}x"}}"#).unwrap();
        let err = BasicUsers::new(config.basic.as_ref().unwrap()).unwrap_err();
        assert_eq!(err.field(), "htpasswd (line 1)");
    }
}
