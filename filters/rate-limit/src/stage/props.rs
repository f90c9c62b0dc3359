//! Property tests: the rate-limit stage on requests of arbitrary bytes.
//! `make fuzz` runs them long.

use super::*;
use meshwasm_core::names::is_field_value;
use meshwasm_core::testing::{prop_cases, FakeHost};
use meshwasm_core::{Filter, Host};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::json;
use std::time::{Duration, UNIX_EPOCH};

/// One request a minute per client, path, method and user; the client
/// found past one trusted proxy.
fn filter() -> Rc<RateLimit> {
    let config = json!({
        "client_address": {"xff_trusted_hops": 1},
        "response_headers": true,
        "rules": [{"name": "per-everything",
                   "key": ["client_address", "path", "method", {"header": "x-user"}],
                   "limit": {"requests": 1, "per": "minute"}}]
    });
    let config = meshwasm_core::config::parse(config.to_string().as_bytes()).unwrap();
    Rc::new(RateLimit::new(config).unwrap())
}

fn value() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(prop_oneof![
        3 => vec(any::<u8>(), 0..16),
        1 => (vec(any::<u8>(), 1..3), 0..65_536usize)
            .prop_map(|(unit, len)| unit.into_iter().cycle().take(len).collect()),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_the_same_request_twice_is_limited_the_second_time(
        values in vec(value(), 5),
        other_user in vec(any::<u8>(), 0..8),
    ) {
        let filter = filter();
        let mut first = FakeHost::new();
        first.now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let names = [":path", ":method", "x-user", "x-forwarded-for"];
        let headers: Vec<(&str, &[u8])> = names
            .iter()
            .zip(&values)
            .filter_map(|(n, v)| Some((*n, v.as_deref()?)))
            .collect();
        let send = |user: Option<&[u8]>| {
            let mut all = headers.clone();
            if let Some(user) = user {
                all.retain(|(n, _)| *n != "x-user");
                all.push(("x-user", user));
            }
            let mut host = FakeHost::with_raw_request(&all);
            host.now = first.now;
            host.process = Rc::clone(&first.process);
            if let Some(source) = values.last().cloned().flatten() {
                host.properties.insert("source.address".to_owned(), source);
            }
            let mut stage = filter.stage();
            let flow = stage.on_request_headers(&mut host.view());
            stage.on_response_headers(&mut host.view());
            (flow, host)
        };
        let (flow, host) = send(None);
        prop_assert_eq!(flow, Flow::Continue);
        for (name, value) in host.headers(HeaderMap::Response).unwrap() {
            let sendable = std::str::from_utf8(&value).is_ok_and(is_field_value);
            prop_assert!(sendable, "{}: {:?}", name, value);
        }
        match send(None).0 {
            Flow::Respond(answer) => {
                prop_assert_eq!(answer.status, 429);
                for (name, value) in &answer.headers {
                    prop_assert!(is_field_value(value), "{}: {:?}", name, value);
                }
            }
            other => prop_assert!(false, "the second request got {:?}", other),
        }
        // Another user is another key.
        let user = values.get(2).cloned().flatten().unwrap_or_default();
        let other = [&b"~"[..], &other_user, &user].concat();
        prop_assert_eq!(send(Some(&other)).0, Flow::Continue);
    }
}
