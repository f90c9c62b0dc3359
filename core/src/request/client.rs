//! Who the client is: the address past the trusted proxies, read from
//! `x-forwarded-for` as bytes, so no header the filter cannot decode moves
//! a client into another client's place.

use std::net::{IpAddr, SocketAddr};

/// The client's address as the filters key and route on it: an IP address
/// in its canonical text (`10.0.0.1`, `::1`) when the entry is one, and
/// otherwise the entry's bytes exactly as the trusted proxy wrote them
/// (still the client's own, never another's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientAddress(Vec<u8>);

impl ClientAddress {
    /// The address's bytes: what keys are built from.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The address as text; bytes that are not UTF-8 read as U+FFFD.
    pub fn to_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// An address from one entry: an IP address (port dropped) in
    /// canonical form, otherwise the entry as it is.
    fn from_entry(entry: &[u8]) -> Self {
        let parsed = std::str::from_utf8(entry).ok().and_then(|text| {
            text.parse::<SocketAddr>()
                .map(|a| a.ip())
                .or_else(|_| text.parse::<IpAddr>())
                .ok()
        });
        match parsed {
            Some(ip) => Self(ip.to_string().into_bytes()),
            None => Self(entry.to_vec()),
        }
    }
}

/// The client's address. With `trusted_hops` proxies in front that each
/// append to `x-forwarded-for`, it is the entry that many from the right:
/// entries further left are the client's own word and may be forged. With
/// no trusted hops, or a header with fewer entries than that (the request
/// did not come through them all), it is the connection's peer, `source`.
/// An entry that is not an IP address is kept as its bytes; an empty one
/// counts as absent.
pub fn client_address(
    xff: Option<&[u8]>,
    source: Option<&[u8]>,
    trusted_hops: u32,
) -> Option<ClientAddress> {
    if trusted_hops > 0 {
        let hops = usize::try_from(trusted_hops).ok()?;
        let entry = xff.and_then(|header| {
            let entries = header.split(|b| *b == b',').map(<[u8]>::trim_ascii);
            entries.rev().nth(hops.checked_sub(1)?)
        });
        if let Some(entry) = entry.filter(|e| !e.is_empty()) {
            return Some(ClientAddress::from_entry(entry));
        }
    }
    source
        .filter(|s| !s.is_empty())
        .map(ClientAddress::from_entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(xff: Option<&str>, source: Option<&str>, hops: u32) -> Option<String> {
        client_address(xff.map(str::as_bytes), source.map(str::as_bytes), hops)
            .map(|a| a.to_text().into_owned())
    }

    #[test]
    fn the_client_is_found_past_trusted_proxies_only() {
        let xff = Some("6.6.6.6, 1.2.3.4, 10.0.0.1");
        let source = Some("10.0.0.2:40000");
        assert_eq!(address(xff, source, 0).as_deref(), Some("10.0.0.2"));
        assert_eq!(address(xff, source, 1).as_deref(), Some("10.0.0.1"));
        assert_eq!(address(xff, source, 2).as_deref(), Some("1.2.3.4"));
        // A spoofed prefix does not move the trusted position.
        let spoofed = Some("9.9.9.9, 8.8.8.8, 6.6.6.6, 1.2.3.4, 10.0.0.1");
        assert_eq!(address(spoofed, source, 2).as_deref(), Some("1.2.3.4"));
        // Too few entries: the connection's address.
        assert_eq!(
            address(Some("1.2.3.4"), source, 2).as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(address(None, Some("[::1]:8080"), 1).as_deref(), Some("::1"));
        assert_eq!(
            address(Some("1.2.3.4:99"), None, 1).as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(
            address(Some("[2001:db8::1]:443"), None, 1).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(address(None, None, 0), None);
        assert_eq!(
            address(Some("1.2.3.4, "), source, 1).as_deref(),
            Some("10.0.0.2")
        );
    }

    #[test]
    fn unreadable_entries_stay_the_clients_own() {
        let source = Some(&b"10.0.0.2:1"[..]);
        let odd = client_address(Some(b"1.1.1.1, \xff\xfe"), source, 1).unwrap();
        assert_eq!(odd.as_bytes(), b"\xff\xfe");
        let other = client_address(Some(b"1.1.1.1, \xff\xfd"), source, 1).unwrap();
        assert_ne!(odd, other, "two unreadable clients are two clients");
        let proxy = client_address(None, source, 1).unwrap();
        assert_ne!(odd, proxy, "never the trusted proxy's bucket");
        let long = [b"9.9.9.9, ".repeat(10_000), b"5.6.7.8".to_vec()].concat();
        assert_eq!(
            client_address(Some(&long), source, 1).unwrap().as_bytes(),
            b"5.6.7.8",
            "a long header is read whole"
        );
    }
}
