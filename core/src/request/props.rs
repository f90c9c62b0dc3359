//! Property tests: the request helpers and the [`Request`] view on
//! arbitrary bytes. `make fuzz` runs them long.

use super::*;
use crate::testing::{prop_cases, FakeHost};
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{IpAddr, SocketAddr};

/// Text a query string or a cookie header is made of, often: names,
/// separators, escapes (good and bad), quotes, spaces.
fn query_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-c=&;%+? \"/2fF]{0,24}",
        1 => any::<String>(),
    ]
}

/// A parameter or cookie name: short, from the same alphabet, so it often
/// occurs in the text.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-c%+ 2]{0,3}",
        1 => any::<String>(),
    ]
}

/// Bytes for a header value: short and arbitrary, or long (up to 64 KiB)
/// as a repeated pattern.
fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..48),
        1 => (vec(any::<u8>(), 1..8), 0..65_536usize)
            .prop_map(|(unit, len)| unit.into_iter().cycle().take(len).collect()),
    ]
}

/// The header names a request is built from: the ones filters read, and
/// one nobody reads.
const NAMES: [&str; 8] = [
    ":path",
    ":method",
    ":authority",
    "x-forwarded-for",
    "cookie",
    "authorization",
    "x-api-key",
    "x-other",
];

/// A name to ask for: one of [`NAMES`] in any case, or one never sent.
fn asked_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0..NAMES.len(), any::<bool>()).prop_map(|(i, upper)| {
            let name = NAMES.get(i).copied().unwrap_or(":path");
            if upper { name.to_ascii_uppercase() } else { name.to_owned() }
        }),
        1 => Just("x-absent".to_owned()),
    ]
}

/// A raw request header map: names from [`NAMES`], repeats allowed, any
/// bytes as values.
fn raw_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    vec(
        (0..NAMES.len(), value_bytes())
            .prop_map(|(i, v)| (NAMES.get(i).copied().unwrap_or(":path").to_owned(), v)),
        0..10,
    )
}

/// A header's first value, found by a plain scan.
fn scan<'m>(headers: &'m [(String, Vec<u8>)], name: &str) -> Option<&'m [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// An `x-forwarded-for` entry that is not empty once trimmed: an IP
/// address (with or without a port) or other bytes without a comma.
fn entry() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<IpAddr>().prop_map(|ip| ip.to_string().into_bytes()),
        any::<SocketAddr>().prop_map(|a| a.to_string().into_bytes()),
        vec(any::<u8>(), 1..24).prop_filter("one entry, not blank", |e| {
            !e.contains(&b',') && !e.trim_ascii().is_empty()
        }),
    ]
}

/// Spaces and tabs around an entry, as proxies write them.
fn padded(entry: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    ("[ \t]{0,2}", "[ \t]{0,2}")
        .prop_map(move |(before, after)| [before.as_bytes(), &entry, after.as_bytes()].concat())
}

/// A connection's source address as Envoy gives it, or other bytes.
fn source() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(prop_oneof![
        any::<SocketAddr>().prop_map(|a| a.to_string().into_bytes()),
        vec(any::<u8>(), 0..24),
    ])
}

/// What an address entry becomes: an IP address (port dropped) in its
/// canonical text, other bytes as they are.
fn canonical(entry: &[u8]) -> Vec<u8> {
    let ip = std::str::from_utf8(entry).ok().and_then(|t| {
        t.parse::<SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| t.parse::<IpAddr>())
            .ok()
    });
    ip.map_or_else(|| entry.to_vec(), |ip| ip.to_string().into_bytes())
}

fn join(entries: &[Vec<u8>]) -> Vec<u8> {
    entries.join(&b","[..])
}

/// What can be done through the view.
#[derive(Debug, Clone)]
enum Op {
    Read(String),
    Set(HeaderMap, String, String),
    Add(HeaderMap, String, String),
    Remove(HeaderMap, String),
    Client(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let map = prop_oneof![4 => Just(HeaderMap::Request), 1 => Just(HeaderMap::Response)];
    let value = prop_oneof!["[ -~]{0,12}", any::<String>()];
    prop_oneof![
        4 => asked_name().prop_map(Op::Read),
        2 => (map.clone(), asked_name(), value.clone()).prop_map(|(m, n, v)| Op::Set(m, n, v)),
        2 => (map.clone(), asked_name(), value).prop_map(|(m, n, v)| Op::Add(m, n, v)),
        1 => (map, asked_name()).prop_map(|(m, n)| Op::Remove(m, n)),
        1 => (0..4u32).prop_map(Op::Client),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_query_param_never_panics_and_removal_leaves_none(path in query_text(), n in name()) {
        let found = query_param(&path, &n);
        let without = without_query_param(&path, &n);
        prop_assert_eq!(query_param(&without, &n), None, "{:?} left {:?}", without, n);
        prop_assert_eq!(without_query_param(&without, &n), without.clone(), "not idempotent");
        if !path.contains('?') {
            prop_assert_eq!(&without, &path);
            prop_assert_eq!(found, None);
        }
        // What comes before the query is never touched.
        let base = path.split_once('?').map_or(path.as_str(), |(b, _)| b);
        prop_assert!(without.starts_with(base));
    }

    #[test]
    fn prop_removing_a_query_param_keeps_the_others(
        path in query_text(),
        n in name(),
        other in name(),
    ) {
        prop_assume!(n != other);
        let without = without_query_param(&path, &n);
        prop_assert_eq!(query_param(&without, &other), query_param(&path, &other));
    }

    #[test]
    fn prop_a_query_param_written_plainly_is_found(
        base in "/[a-z/]{0,8}",
        before in "[a-z0-9=&]{0,12}",
        n in "[a-z_]{1,6}",
        v in "[a-zA-Z0-9._~-]{0,12}",
    ) {
        let path = format!("{base}?{before}&{n}={v}");
        // The first occurrence wins: only if `before` has no `n` of its own.
        let earlier = before.split('&').any(|p| p.split_once('=').map_or(p, |(k, _)| k) == n);
        if !earlier {
            prop_assert_eq!(query_param(&path, &n), Some(v));
        }
    }

    #[test]
    fn prop_cookie_never_panics_and_removal_leaves_none(header in query_text(), n in name()) {
        let _ = cookie(&header, &n);
        if let Some(rest) = without_cookie(&header, &n) {
            prop_assert_eq!(cookie(&rest, &n), None, "{:?} left {:?}", rest, n);
            prop_assert!(!rest.is_empty());
            prop_assert_eq!(without_cookie(&rest, &n), Some(rest.clone()), "not idempotent");
        }
    }

    #[test]
    fn prop_removing_a_cookie_keeps_the_others(header in query_text(), n in name(), other in name()) {
        prop_assume!(n != other);
        let rest = without_cookie(&header, &n).unwrap_or_default();
        prop_assert_eq!(cookie(&rest, &other), cookie(&header, &other));
    }

    #[test]
    fn prop_prefixes_strip_without_case(value in any::<String>(), prefix in any::<String>()) {
        if let Some(rest) = strip_prefix_ignore_case(&value, &prefix) {
            prop_assert_eq!(value.len(), prefix.len() + rest.len());
            prop_assert!(value.ends_with(rest));
            let head = value.get(..prefix.len());
            prop_assert!(head.is_some_and(|h| h.eq_ignore_ascii_case(&prefix)));
        }
    }

    #[test]
    fn prop_a_prefix_in_any_ascii_case_is_stripped(
        prefix in "[a-zA-Z é:]{0,8}",
        flips in vec(any::<bool>(), 8),
        rest in any::<String>(),
    ) {
        let cased: String = prefix
            .chars()
            .zip(flips.iter().cycle())
            .map(|(c, flip)| if *flip { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect();
        let value = format!("{cased}{rest}");
        prop_assert_eq!(strip_prefix_ignore_case(&value, &prefix), Some(rest.as_str()));
    }

    #[test]
    fn prop_client_address_never_panics(
        xff in proptest::option::of(vec(any::<u8>(), 0..64)),
        source in proptest::option::of(vec(any::<u8>(), 0..24)),
        hops in prop_oneof![0..6u32, any::<u32>()],
    ) {
        let _ = client_address(xff.as_deref(), source.as_deref(), hops);
    }

    #[test]
    fn prop_no_trusted_hops_is_the_source_and_never_the_header(
        xff in proptest::option::of(vec(any::<u8>(), 0..64)),
        source in source(),
    ) {
        let address = client_address(xff.as_deref(), source.as_deref(), 0);
        prop_assert_eq!(&address, &client_address(None, source.as_deref(), 0));
        let expected = source.as_deref().filter(|s| !s.is_empty()).map(canonical);
        prop_assert_eq!(address.map(|a| a.as_bytes().to_vec()), expected);
    }

    #[test]
    fn prop_no_trusted_hops_never_reads_the_header(headers in raw_headers(), source in source()) {
        let mut host = FakeHost::with_headers(&headers);
        if let Some(source) = &source {
            host.properties.insert("source.address".to_owned(), source.clone());
        }
        let address = host.view().client_address(0).unwrap().map(Cow::into_owned);
        prop_assert_eq!(address, client_address(None, source.as_deref(), 0));
        let calls = host.take_host_calls();
        prop_assert_eq!(calls.into_iter().collect::<Vec<_>>(), vec![("property", 1)]);
    }

    #[test]
    fn prop_trusted_hops_read_that_entry_from_the_right_never_the_source(
        forged in vec(vec(any::<u8>(), 0..12).prop_filter("no comma", |e| !e.contains(&b',')), 0..4),
        trusted in vec(entry().prop_flat_map(padded), 1..5),
        source in source(),
    ) {
        let hops = u32::try_from(trusted.len()).unwrap();
        let header = join(&[forged.clone(), trusted.clone()].concat());
        let address = client_address(Some(&header), source.as_deref(), hops);
        let first = trusted.first().unwrap();
        // Derived from that one entry alone, whatever the source or the
        // forged entries to its left.
        let alone = client_address(Some(first), None, 1);
        prop_assert!(alone.is_some());
        prop_assert_eq!(&address, &alone);
        prop_assert_eq!(&address, &client_address(Some(&header), Some(b"10.9.9.9:1"), hops));
        prop_assert_eq!(address.map(|a| a.as_bytes().to_vec()), Some(canonical(first.trim_ascii())));
    }

    #[test]
    fn prop_too_few_entries_fall_back_to_the_source(
        entries in vec(entry(), 0..4),
        extra in 1..4u32,
        source in source(),
    ) {
        let hops = u32::try_from(entries.len()).unwrap() + extra;
        let header = join(&entries);
        prop_assert_eq!(
            client_address(Some(&header), source.as_deref(), hops),
            client_address(None, source.as_deref(), 0)
        );
    }

    #[test]
    fn prop_reads_agree_with_a_plain_scan(
        headers in raw_headers(),
        asked in vec(asked_name(), 1..8),
    ) {
        let mut host = FakeHost::with_headers(&headers);
        let request = host.view();
        for name in &asked {
            let expected = scan(&headers, name);
            prop_assert_eq!(request.header(name).unwrap(), expected, "{}", name);
            let text = expected.map(String::from_utf8_lossy);
            prop_assert_eq!(request.header_text(name).unwrap(), text);
        }
        let lossy = |n: &str| String::from_utf8_lossy(scan(&headers, n).unwrap_or_default()).into_owned();
        prop_assert_eq!(request.path().unwrap().into_owned(), lossy(":path"));
        prop_assert_eq!(request.method().unwrap().into_owned(), lossy(":method"));
    }

    #[test]
    fn prop_writes_then_reads_agree_with_the_host(
        headers in raw_headers(),
        source in source(),
        ops in vec(op(), 1..16),
        one_by_one in any::<bool>(),
    ) {
        let mut host = FakeHost::with_headers(&headers);
        let plan = if one_by_one { ReadPlan::one_by_one() } else { ReadPlan::default() };
        if let Some(source) = &source {
            host.properties.insert("source.address".to_owned(), source.clone());
        }
        // What the fake host holds, kept alongside.
        let mut model: Vec<(String, Vec<u8>)> = headers.clone();
        {
            let mut request = Request::planned(&mut host, Some(&plan));
            for op in &ops {
                match op {
                    Op::Read(name) => {
                        prop_assert_eq!(request.header(name).unwrap(), scan(&model, name), "{:?}", op);
                    }
                    Op::Set(map, name, value) => {
                        request.set_header(*map, name, value).unwrap();
                        if *map == HeaderMap::Request {
                            model.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                            model.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
                        }
                    }
                    Op::Add(map, name, value) => {
                        request.add_header(*map, name, value).unwrap();
                        if *map == HeaderMap::Request {
                            model.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
                        }
                    }
                    Op::Remove(map, name) => {
                        request.remove_header(*map, name).unwrap();
                        if *map == HeaderMap::Request {
                            model.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                        }
                    }
                    Op::Client(hops) => {
                        let xff = if *hops > 0 { scan(&model, "x-forwarded-for") } else { None };
                        let expected = client_address(xff, source.as_deref(), *hops);
                        prop_assert_eq!(request.client_address(*hops).unwrap().map(Cow::into_owned), expected);
                    }
                }
            }
        }
        prop_assert_eq!(host.headers(HeaderMap::Request).unwrap(), model);
    }
}
