use super::*;
use crate::testing::FakeHost;

fn calls(host: &FakeHost) -> Vec<(&'static str, usize)> {
    host.take_host_calls().into_iter().collect()
}

#[test]
fn one_header_is_read_alone_and_two_read_the_map_once() {
    let mut host = FakeHost::with_request(&[(":path", "/a"), (":method", "GET"), ("x", "1")]);
    {
        let request = host.view();
        assert_eq!(request.path().unwrap(), "/a");
        assert_eq!(request.path().unwrap(), "/a");
    }
    assert_eq!(calls(&host), [("header", 1)]);
    {
        let request = host.view();
        assert_eq!(request.path().unwrap(), "/a");
        assert_eq!(request.method().unwrap(), "GET");
        assert_eq!(request.header("x").unwrap(), Some(&b"1"[..]));
        assert_eq!(request.header("absent").unwrap(), None);
        assert_eq!(request.path().unwrap(), "/a");
    }
    assert_eq!(calls(&host), [("header", 1), ("headers", 1)]);
}

#[test]
fn writes_are_seen_by_later_reads_without_reading_again() {
    let mut host = FakeHost::with_request(&[(":path", "/a"), ("x", "1"), ("x", "2")]);
    let mut request = host.view();
    assert_eq!(request.header("x").unwrap(), Some(&b"1"[..]));
    request.set_header(HeaderMap::Request, "X", "3").unwrap();
    assert_eq!(request.header("x").unwrap(), Some(&b"3"[..]));
    request.remove_header(HeaderMap::Request, "x").unwrap();
    assert_eq!(request.header("x").unwrap(), None);
    request.add_header(HeaderMap::Request, "x", "4").unwrap();
    assert_eq!(request.header("x").unwrap(), Some(&b"4"[..]));
    assert_eq!(request.path().unwrap(), "/a");
    request.add_header(HeaderMap::Request, "y", "5").unwrap();
    request.add_header(HeaderMap::Request, "y", "6").unwrap();
    assert_eq!(request.header("y").unwrap(), Some(&b"5"[..]));
    request.set_header(HeaderMap::Response, "y", "7").unwrap();
    assert_eq!(request.header("y").unwrap(), Some(&b"5"[..]));
    drop(request);
    assert_eq!(host.values(HeaderMap::Request, "y"), ["5", "6"]);
    assert_eq!(host.values(HeaderMap::Response, "y"), ["7"]);
    let calls = host.take_host_calls();
    assert_eq!(
        (calls.get("header"), calls.get("headers")),
        (Some(&1), Some(&1))
    );
}

#[test]
fn bytes_that_are_not_utf8_match_as_text_and_stay_distinct_as_bytes() {
    let mut host = FakeHost::with_raw_request(&[(":path", b"/admin/\xff?x=1")]);
    let request = host.view();
    assert!(request.path().unwrap().starts_with("/admin/"));
    assert_eq!(
        request.header(":path").unwrap(),
        Some(&b"/admin/\xff?x=1"[..])
    );
}

#[test]
fn long_values_are_read_whole() {
    let long = format!("/api/{}", "a".repeat(60 * 1024));
    let mut host = FakeHost::with_request(&[(":path", &long)]);
    assert_eq!(host.view().path().unwrap(), long);
}

#[test]
fn the_client_address_is_read_once_and_follows_forwarded_for_writes() {
    let mut host = FakeHost::with_request(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4")]);
    host.properties
        .insert("source.address".to_owned(), b"10.0.0.2:555".to_vec());
    let mut request = host.view();
    let text = |r: &Request<'_>, hops| {
        r.client_address(hops)
            .unwrap()
            .map(|a| a.to_text().into_owned())
    };
    assert_eq!(text(&request, 1).as_deref(), Some("1.2.3.4"));
    assert_eq!(text(&request, 1).as_deref(), Some("1.2.3.4"));
    assert_eq!(text(&request, 0).as_deref(), Some("10.0.0.2"));
    assert_eq!(text(&request, 2).as_deref(), Some("6.6.6.6"));
    request
        .set_header(HeaderMap::Request, "x-forwarded-for", "7.7.7.7")
        .unwrap();
    assert_eq!(text(&request, 1).as_deref(), Some("7.7.7.7"));
    drop(request);
    assert_eq!(host.take_host_calls().get("property"), Some(&4));
}

#[test]
fn a_plan_reads_the_map_at_once_once_a_request_needed_it() {
    let plan = ReadPlan::default();
    let mut host = FakeHost::with_request(&[(":path", "/a"), (":method", "GET")]);
    for expected in [
        [("header", 1), ("headers", 1)].as_slice(),
        &[("headers", 1)],
    ] {
        {
            let request = Request::planned(&mut host, Some(&plan));
            assert_eq!(request.path().unwrap(), "/a");
            assert_eq!(request.method().unwrap(), "GET");
        }
        assert_eq!(calls(&host), expected);
    }
}

#[test]
fn removing_what_is_known_absent_costs_nothing_and_the_clock_is_read_once() {
    let mut host = FakeHost::with_request(&[(":path", "/a"), ("x", "1")]);
    let mut request = host.view();
    request.remove_header(HeaderMap::Request, "y").unwrap();
    assert_eq!(request.header("y").unwrap(), None);
    request.remove_header(HeaderMap::Request, "y").unwrap();
    assert_eq!(request.path().unwrap(), "/a");
    request.remove_header(HeaderMap::Request, "z").unwrap();
    request.remove_header(HeaderMap::Request, "x").unwrap();
    assert_eq!(request.now().unwrap(), request.now().unwrap());
    drop(request);
    // A removal tells the view the header is gone: reading it, or removing
    // it again, asks the proxy nothing.
    assert_eq!(
        calls(&host),
        [("header", 1), ("now", 1), ("remove_header", 3)]
    );
}

#[test]
fn a_one_by_one_plan_reads_each_header_alone_then_the_map() {
    let plan = ReadPlan::one_by_one();
    let mut host = FakeHost::with_request(&[(":path", "/a"), (":method", "GET"), ("x", "1")]);
    {
        let mut request = Request::planned(&mut host, Some(&plan));
        assert_eq!(request.path().unwrap(), "/a");
        assert_eq!(request.method().unwrap(), "GET");
        assert_eq!(request.path().unwrap(), "/a");
        assert_eq!(request.header("y").unwrap(), None);
        request.remove_header(HeaderMap::Request, "y").unwrap();
        request.set_header(HeaderMap::Request, "x", "2").unwrap();
        assert_eq!(request.header("x").unwrap(), Some(b"2".as_slice()));
        assert_eq!(request.known_header("x"), Some(Some(b"2".as_slice())));
        assert_eq!(request.known_header("z"), None);
    }
    // The header just set is known without a read.
    assert_eq!(calls(&host), [("header", 3), ("set_header", 1)]);
    {
        let request = Request::planned(&mut host, Some(&plan));
        for i in 0..SINGLE_READS {
            assert_eq!(request.header(&format!("h{i}")).unwrap(), None);
        }
        assert_eq!(request.header("x").unwrap(), Some(b"2".as_slice()));
        assert_eq!(request.method().unwrap(), "GET");
    }
    assert_eq!(calls(&host), [("header", SINGLE_READS), ("headers", 1)]);
}
