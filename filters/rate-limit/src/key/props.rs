//! Property tests: [`digest`] on requests of arbitrary bytes. `make fuzz`
//! runs them long.

use super::*;
use meshwasm_core::request::client_address;
use meshwasm_core::testing::{prop_cases, FakeHost};
use meshwasm_core::HeaderName;
use proptest::collection::vec;
use proptest::prelude::*;

/// Bytes for a key part: often from a tiny alphabet, so two requests often
/// carry the same value; otherwise anything, or long.
fn value() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(prop_oneof![
        3 => "[a?,]{0,2}".prop_map(String::into_bytes),
        2 => vec(any::<u8>(), 0..16),
        1 => (vec(any::<u8>(), 1..3), 0..65_536usize)
            .prop_map(|(unit, len)| unit.into_iter().cycle().take(len).collect()),
    ])
}

fn part() -> impl Strategy<Value = KeyPart> {
    prop_oneof![
        Just(KeyPart::ClientAddress),
        Just(KeyPart::Path),
        Just(KeyPart::Method),
        Just(KeyPart::Header(HeaderName::from_static("x-user"))),
        Just(KeyPart::Header(HeaderName::from_static("x-forwarded-for"))),
    ]
}

/// A request's key-relevant parts.
#[derive(Debug, Clone)]
struct Parts {
    path: Option<Vec<u8>>,
    method: Option<Vec<u8>>,
    user: Option<Vec<u8>>,
    xff: Option<Vec<u8>>,
    source: Option<Vec<u8>>,
}

fn parts() -> impl Strategy<Value = Parts> {
    (value(), value(), value(), value(), value()).prop_map(|(path, method, user, xff, source)| {
        Parts {
            path,
            method,
            user,
            xff,
            source,
        }
    })
}

fn host(p: &Parts) -> FakeHost {
    let mut headers: Vec<(&str, &[u8])> = Vec::new();
    headers.extend(p.path.as_deref().map(|v| (":path", v)));
    headers.extend(p.method.as_deref().map(|v| (":method", v)));
    headers.extend(p.user.as_deref().map(|v| ("x-user", v)));
    headers.extend(p.xff.as_deref().map(|v| ("x-forwarded-for", v)));
    let mut host = FakeHost::with_raw_request(&headers);
    if let Some(source) = &p.source {
        host.properties
            .insert("source.address".to_owned(), source.clone());
    }
    host
}

fn key(parts: &[KeyPart], p: &Parts, hops: u32) -> KeyDigest {
    digest(parts, &host(p).view(), hops).unwrap()
}

/// The bytes a part is keyed on, as the rule documents it: the path
/// without its query, the method, the header's first value, the client's
/// address; a missing one is empty.
fn part_bytes(part: &KeyPart, p: &Parts, hops: u32) -> Vec<u8> {
    match part {
        KeyPart::Path => {
            let path = p.path.clone().unwrap_or_default();
            path.split(|b| *b == b'?')
                .next()
                .unwrap_or_default()
                .to_vec()
        }
        KeyPart::Method => p.method.clone().unwrap_or_default(),
        KeyPart::Header(h) if h.as_str() == "x-user" => p.user.clone().unwrap_or_default(),
        KeyPart::Header(_) => p.xff.clone().unwrap_or_default(),
        KeyPart::ClientAddress => {
            let xff = p.xff.as_deref().filter(|_| hops > 0);
            client_address(xff, p.source.as_deref(), hops)
                .map(|a| a.as_bytes().to_vec())
                .unwrap_or_default()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_any_key_of_any_request_is_digested(key_parts in vec(part(), 0..6), p in parts(), hops in 0..4u32) {
        let _ = key(&key_parts, &p, hops);
    }

    #[test]
    fn prop_single_part_keys_differ_iff_their_bytes_do(
        part in part(),
        a in parts(),
        b in parts(),
        hops in 0..3u32,
    ) {
        let same_bytes = part_bytes(&part, &a, hops) == part_bytes(&part, &b, hops);
        let same_key = key(std::slice::from_ref(&part), &a, hops) == key(&[part], &b, hops);
        prop_assert_eq!(same_key, same_bytes);
    }

    #[test]
    fn prop_parts_never_run_together(
        first in part(),
        second in part(),
        a in parts(),
        b in parts(),
        hops in 0..3u32,
    ) {
        let parts = [first, second];
        let bytes = |p: &Parts| parts.iter().map(|part| part_bytes(part, p, hops)).collect::<Vec<_>>();
        let same_key = key(&parts, &a, hops) == key(&parts, &b, hops);
        prop_assert_eq!(same_key, bytes(&a) == bytes(&b));
    }
}
