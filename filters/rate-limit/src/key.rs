//! What a request is counted as: its key, built from the parts a rule
//! names, and the client address among them.

use crate::config::KeyPart;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// The request data keys are built from; header values are looked up on
/// demand.
pub trait RequestParts {
    /// The method.
    fn method(&self) -> &str;
    /// The path, query included.
    fn path(&self) -> &str;
    /// A request header's value.
    fn header(&mut self, name: &str) -> Option<String>;
    /// The client's address.
    fn client(&mut self) -> Option<String>;
}

/// A key's fixed-size digest: what the bucket store tracks.
pub type KeyDigest = [u8; 16];

/// The digest of a rule's key for a request. Each part is written with its
/// length, so different parts can never run together into the same key;
/// a missing header or address counts as an empty value (all such requests
/// share one bucket).
pub fn digest(parts: &[KeyPart], request: &mut dyn RequestParts) -> KeyDigest {
    let mut hash = Sha256::new();
    for part in parts {
        let value = match part {
            KeyPart::ClientAddress => request.client().unwrap_or_default(),
            KeyPart::Path => {
                let path = request.path();
                path.split_once('?').map_or(path, |(p, _)| p).to_owned()
            }
            KeyPart::Method => request.method().to_owned(),
            KeyPart::Header(name) => request.header(name.as_str()).unwrap_or_default(),
        };
        hash.update((value.len() as u64).to_le_bytes());
        hash.update(value.as_bytes());
    }
    let full: [u8; 32] = hash.finalize().into();
    let mut key = [0u8; 16];
    key.copy_from_slice(full.get(..16).unwrap_or(&[0; 16]));
    key
}

/// The client's address: with `trusted_hops` proxies in front that append
/// to `x-forwarded-for`, the entry that many from the right (entries further
/// left are the client's own word, and may be forged); otherwise, or when
/// the header is too short, the connection's source address. Ports are
/// dropped.
pub fn client_address(
    xff: Option<&str>,
    source: Option<&str>,
    trusted_hops: u32,
) -> Option<String> {
    let from_xff = || {
        let hops = usize::try_from(trusted_hops).ok()?;
        let entries: Vec<&str> = xff?.split(',').map(str::trim).collect();
        let index = entries.len().checked_sub(hops)?;
        entries
            .get(index)
            .filter(|e| !e.is_empty())
            .map(|e| without_port(e))
    };
    if trusted_hops > 0 {
        if let Some(address) = from_xff() {
            return Some(address);
        }
    }
    source.map(without_port)
}

/// `1.2.3.4:5` → `1.2.3.4`, `[::1]:5` → `::1`; anything else as it is.
fn without_port(address: &str) -> String {
    address
        .parse::<SocketAddr>()
        .map_or_else(|_| address.to_owned(), |a| a.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::HeaderName;
    use std::collections::HashMap;

    struct Request {
        method: &'static str,
        path: &'static str,
        headers: HashMap<&'static str, &'static str>,
        client: Option<&'static str>,
    }

    impl RequestParts for Request {
        fn method(&self) -> &str {
            self.method
        }
        fn path(&self) -> &str {
            self.path
        }
        fn header(&mut self, name: &str) -> Option<String> {
            self.headers.get(name).map(|v| (*v).to_owned())
        }
        fn client(&mut self) -> Option<String> {
            self.client.map(str::to_owned)
        }
    }

    fn request(path: &'static str, user: &'static str, client: &'static str) -> Request {
        Request {
            method: "GET",
            path,
            headers: HashMap::from([("x-user", user)]),
            client: Some(client),
        }
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
        let base = digest(&parts(), &mut request("/a", "u", "1.1.1.1"));
        assert_eq!(
            base,
            digest(&parts(), &mut request("/a?x=1", "u", "1.1.1.1"))
        );
        assert_ne!(base, digest(&parts(), &mut request("/b", "u", "1.1.1.1")));
        assert_ne!(base, digest(&parts(), &mut request("/a", "v", "1.1.1.1")));
        assert_ne!(base, digest(&parts(), &mut request("/a", "u", "2.2.2.2")));
    }

    #[test]
    fn parts_cannot_run_together() {
        let two = vec![
            KeyPart::Header(HeaderName::from_static("x-a")),
            KeyPart::Header(HeaderName::from_static("x-b")),
        ];
        let request = |a: &'static str, b: &'static str| Request {
            method: "GET",
            path: "/",
            headers: HashMap::from([("x-a", a), ("x-b", b)]),
            client: None,
        };
        let (mut one, mut other) = (request("ab", "c"), request("a", "bc"));
        assert_ne!(digest(&two, &mut one), digest(&two, &mut other));
    }

    #[test]
    fn no_parts_is_one_shared_key() {
        assert_eq!(
            digest(&[], &mut request("/a", "u", "1.1.1.1")),
            digest(&[], &mut request("/b", "v", "2.2.2.2"))
        );
    }

    #[test]
    fn the_client_is_found_past_trusted_proxies_only() {
        let xff = Some("6.6.6.6, 1.2.3.4, 10.0.0.1");
        let source = Some("10.0.0.2:40000");
        assert_eq!(client_address(xff, source, 0).as_deref(), Some("10.0.0.2"));
        assert_eq!(client_address(xff, source, 1).as_deref(), Some("10.0.0.1"));
        assert_eq!(client_address(xff, source, 2).as_deref(), Some("1.2.3.4"));
        // A spoofed prefix does not move the trusted position.
        let spoofed = Some("9.9.9.9, 8.8.8.8, 6.6.6.6, 1.2.3.4, 10.0.0.1");
        assert_eq!(
            client_address(spoofed, source, 2).as_deref(),
            Some("1.2.3.4")
        );
        // Too few entries: the connection's address.
        assert_eq!(
            client_address(Some("1.2.3.4"), source, 2).as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(
            client_address(None, Some("[::1]:8080"), 1).as_deref(),
            Some("::1")
        );
        assert_eq!(
            client_address(Some("1.2.3.4:99"), None, 1).as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(client_address(None, None, 0), None);
    }
}
