//! A small HTTP client for tests: any status is an answer, not an error.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
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

/// Sends request bytes exactly as given over one HTTP/1.1 connection to
/// `addr` (`host:port`) and reads the answer until the connection closes;
/// ask for `connection: close`. Status 0: the connection closed without an
/// answer.
pub fn send_raw(addr: &str, request: &[u8]) -> Answer {
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap_or_else(|e| panic!("{e}"));
    stream
        .write_all(request)
        .unwrap_or_else(|e| panic!("cannot send to {addr}: {e}"));
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Sends one HTTP/2 request (cleartext, prior knowledge) to `addr`
/// (`host:port`) with header bytes exactly as given, pseudo-headers
/// first, through `tools/h2-send.py` and the `h2` package in `python`.
/// Status 0: the stream or connection was reset (the body says which).
pub fn send_h2(python: &Path, addr: &str, headers: &[(&[u8], &[u8])]) -> Answer {
    let (host, port) = addr
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{addr}: no port"));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let request = serde_json::json!({
        "headers": headers.iter().map(|(n, v)| [hex(n), hex(v)]).collect::<Vec<_>>()
    });
    let script = crate::workspace_root().join("tools/h2-send.py");
    let mut child = Command::new(python)
        .arg(&script)
        .args([host, port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(request.to_string().as_bytes()))
        .transpose()
        .unwrap_or_else(|e| panic!("h2-send.py: {e}"));
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("h2-send.py: {e}"));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("h2-send.py printed no answer ({e})"));
    let reset = ["reset", "goaway"]
        .iter()
        .find_map(|k| answer[*k].as_u64().map(|code| format!("{k} {code}")));
    Answer {
        status: answer["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|_| reset.is_none())
            .unwrap_or(0),
        headers: answer["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        body: reset.unwrap_or_else(|| answer["body"].as_str().unwrap_or_default().to_owned()),
    }
}
