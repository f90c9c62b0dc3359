//! What a request is counted as: its key, built from the parts a rule
//! names.

use crate::config::KeyPart;
use meshwasm_core::request::Request;
use meshwasm_core::HostError;
use sha2::{Digest, Sha256};

/// A key's fixed-size digest: what the bucket store tracks.
pub type KeyDigest = [u8; 16];

/// The digest of a rule's key for a request, the client found past
/// `trusted_hops` proxies. Each part is written with its length, so
/// different parts can never run together into the same key, and as the
/// exact bytes the request carried, so values that are not UTF-8 stay
/// apart; a missing header or address counts as an empty value (all such
/// requests share one bucket).
pub fn digest(
    parts: &[KeyPart],
    request: &Request<'_>,
    trusted_hops: u32,
) -> Result<KeyDigest, HostError> {
    let mut hash = Sha256::new();
    for part in parts {
        with_value(part, request, trusted_hops, |value| {
            let value = value.unwrap_or_default();
            hash.update((value.len() as u64).to_le_bytes());
            hash.update(value);
        })?;
    }
    let full: [u8; 32] = hash.finalize().into();
    let mut key = [0u8; 16];
    key.copy_from_slice(full.get(..16).unwrap_or(&[0; 16]));
    Ok(key)
}

/// Hands `use_value` the bytes the request has for one key part (the path
/// without its query), or `None` when it has none (no such header, no
/// client address). Local keys and global descriptors read parts alike.
pub fn with_value<T>(
    part: &KeyPart,
    request: &Request<'_>,
    trusted_hops: u32,
    use_value: impl FnOnce(Option<&[u8]>) -> T,
) -> Result<T, HostError> {
    Ok(match part {
        KeyPart::ClientAddress => {
            let client = request.client_address(trusted_hops)?;
            use_value(client.as_deref().map(|c| c.as_bytes()))
        }
        KeyPart::Path => use_value(
            request
                .header(":path")?
                .map(|p| p.split(|b| *b == b'?').next().unwrap_or_default()),
        ),
        KeyPart::Method => use_value(request.header(":method")?),
        KeyPart::Header(name) => use_value(request.header(name.as_str())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::testing::FakeHost;
    use meshwasm_core::HeaderName;

    fn request(path: &str, user: &str, client: &str) -> FakeHost {
        let mut host =
            FakeHost::with_request(&[(":method", "GET"), (":path", path), ("x-user", user)]);
        host.properties
            .insert("source.address".to_owned(), client.as_bytes().to_vec());
        host
    }

    fn key(parts: &[KeyPart], mut host: FakeHost) -> KeyDigest {
        digest(parts, &host.view(), 0).unwrap()
    }

    fn parts() -> Vec<KeyPart> {
        vec![
            KeyPart::Header(HeaderName::from_static("x-user")),
            KeyPart::Path,
            KeyPart::ClientAddress,
        ]
    }

    #[test]
    fn keys_differ_by_each_part_and_ignore_the_query() {
        let base = key(&parts(), request("/a", "u", "1.1.1.1"));
        assert_eq!(base, key(&parts(), request("/a?x=1", "u", "1.1.1.1")));
        assert_ne!(base, key(&parts(), request("/b", "u", "1.1.1.1")));
        assert_ne!(base, key(&parts(), request("/a", "v", "1.1.1.1")));
        assert_ne!(base, key(&parts(), request("/a", "u", "2.2.2.2")));
    }

    #[test]
    fn parts_cannot_run_together() {
        let two = vec![
            KeyPart::Header(HeaderName::from_static("x-a")),
            KeyPart::Header(HeaderName::from_static("x-b")),
        ];
        let request = |a: &str, b: &str| FakeHost::with_request(&[("x-a", a), ("x-b", b)]);
        assert_ne!(key(&two, request("ab", "c")), key(&two, request("a", "bc")));
    }

    #[test]
    fn no_parts_is_one_shared_key() {
        assert_eq!(
            key(&[], request("/a", "u", "1.1.1.1")),
            key(&[], request("/b", "v", "2.2.2.2"))
        );
    }

    #[test]
    fn values_that_are_not_utf8_keep_their_own_keys() {
        let path = [KeyPart::Path];
        let raw = |p: &[u8]| FakeHost::with_raw_request(&[(":path", p)]);
        assert_ne!(key(&path, raw(b"/a/\xff")), key(&path, raw(b"/a/\xfe")));
        assert_ne!(key(&path, raw(b"/a/\xff")), key(&path, raw(b"/a/")));
        let header = [KeyPart::Header(HeaderName::from_static("x-user"))];
        let user = |u: &[u8]| FakeHost::with_raw_request(&[("x-user", u)]);
        assert_ne!(key(&header, user(b"\xff")), key(&header, user(b"")));
    }
}

#[cfg(test)]
mod props;
