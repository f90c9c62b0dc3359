//! A small HTTP client for tests: any status is an answer, not an error.

use std::collections::BTreeMap;
use std::time::Duration;

/// An HTTP answer as a client sees it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Header names, lowercase, with their values joined by `, `.
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

impl Answer {
    /// A header's value, if the answer had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body parsed as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", self.body))
    }
}

/// Sends one request, on a connection of its own (redirects are answers,
/// not followed), and reads the whole
/// answer; panics when no answer comes (a test failure, with the reason).
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(body.to_vec())
        .unwrap_or_else(|e| panic!("bad request {method} {url}: {e}"));
    let mut response = agent
        .run(request)
        .unwrap_or_else(|e| panic!("{method} {url}: no answer: {e}"));
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|old| {
                old.push_str(", ");
                old.push_str(&value);
            })
            .or_insert(value);
    }
    let body = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("{method} {url}: unreadable body: {e}"));
    Answer {
        status: response.status().as_u16(),
        headers,
        body,
    }
}
