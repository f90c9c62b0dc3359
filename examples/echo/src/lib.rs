//! An HTTP echo service on loopback.
//!
//! By default it answers `200` with JSON describing what it received:
//!
//! ```json
//! {"upstream": "v1", "method": "GET", "path": "/a", "query": "b=1",
//!  "headers": {"host": "..."}, "body": ""}
//! ```
//!
//! A request can ask for another answer with headers (they reach it through
//! the proxy like any other header):
//!
//! | header | effect |
//! |---|---|
//! | `x-echo-status: 503` | answer with that status |
//! | `x-echo-delay-ms: 250` | wait that long first |
//! | `x-echo-header: name: value` | add a response header (repeatable) |
//! | `x-echo-body: text` | answer with that body instead of the JSON |
//!
//! A test can also program a fixed [`Reply`] for a path (a JWKS endpoint,
//! an external auth service, a failing backend) and read back every
//! request the service received.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// The largest request body read; the rest is dropped.
const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// A request as the service received it.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// The name of the service that received it.
    pub upstream: String,
    /// The method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?`; empty when none.
    pub query: String,
    /// Header names, lowercase, with their values joined by `, `.
    pub headers: BTreeMap<String, String>,
    /// The body, lossily decoded as UTF-8.
    pub body: String,
}

impl Received {
    /// A header's value, if the request had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A fixed answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// An empty answer with this status.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// A `200` with a JSON body.
    pub fn json(body: &serde_json::Value) -> Self {
        Self::status(200)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Waits this long before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct State {
    replies: HashMap<String, Reply>,
    received: Vec<Received>,
}

/// A running echo service. Stops when dropped.
pub struct Echo {
    name: String,
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Echo {
    /// Starts a service named `name` on `addr` (`127.0.0.1:0` for any free
    /// port).
    pub fn start(name: &str, addr: &str) -> std::io::Result<Self> {
        let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let state = Arc::new(Mutex::new(State::default()));
        let (srv, st, nm) = (Arc::clone(&server), Arc::clone(&state), name.to_owned());
        thread::spawn(move || {
            for request in srv.incoming_requests() {
                let (st, nm) = (Arc::clone(&st), nm.clone());
                thread::spawn(move || handle(&nm, &st, request));
            }
        });
        Ok(Self {
            name: name.to_owned(),
            server,
            addr,
            state,
        })
    }

    /// The service's name, as it reports it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers every later request for `path` (without query) with `reply`.
    pub fn reply(&self, path: &str, reply: Reply) {
        lock(&self.state).replies.insert(path.to_owned(), reply);
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn handle(name: &str, state: &Mutex<State>, mut request: tiny_http::Request) {
    let (path, query) = match request.url().split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (request.url().to_owned(), String::new()),
    };
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut extra_headers = Vec::new();
    for h in request.headers() {
        let (n, v) = (
            h.field.as_str().as_str().to_ascii_lowercase(),
            h.value.to_string(),
        );
        if n == "x-echo-header" {
            if let Some((hn, hv)) = v.split_once(':') {
                extra_headers.push((hn.trim().to_owned(), hv.trim().to_owned()));
            }
        }
        headers
            .entry(n)
            .and_modify(|old| {
                old.push_str(", ");
                old.push_str(&v);
            })
            .or_insert(v);
    }
    let mut body = Vec::new();
    // A body we cannot read is echoed as what was read of it.
    let _ = request
        .as_reader()
        .take(MAX_BODY_BYTES)
        .read_to_end(&mut body);
    let received = Received {
        upstream: name.to_owned(),
        method: request.method().as_str().to_owned(),
        path,
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let programmed = {
        let mut state = lock(state);
        state.received.push(received.clone());
        state.replies.get(&received.path).cloned()
    };
    let reply = programmed.unwrap_or_else(|| echo_reply(&received, extra_headers));
    thread::sleep(reply.delay);
    let mut response = tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
    for (n, v) in &reply.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(n.as_bytes(), v.as_bytes()) {
            response.add_header(h);
        }
    }
    // The client may have gone; nothing to do about it.
    let _ = request.respond(response);
}

fn echo_reply(received: &Received, headers: Vec<(String, String)>) -> Reply {
    let status = received
        .header("x-echo-status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let delay = received
        .header("x-echo-delay-ms")
        .and_then(|s| s.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let mut reply = match received.header("x-echo-body") {
        Some(body) => Reply::status(status).body(body),
        None => Reply::json(&serde_json::json!(received)),
    };
    reply.status = status;
    reply.headers.extend(headers);
    reply.delay(delay)
}
