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
//!
//! [`Echo::forwarding`] makes it a front end instead: each request is
//! passed on (through its sidecar) and the answer wraps what came back.

mod http;

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

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
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

/// Where a front end sends requests on.
type Forward = Option<SocketAddr>;

impl Echo {
    /// Starts a service named `name` on `addr` (`127.0.0.1:0` for any free
    /// port).
    pub fn start(name: &str, addr: &str) -> std::io::Result<Self> {
        Self::serve_on(name, addr, None)
    }

    /// Starts a front end named `name` on `addr` that passes every request
    /// on to `next` (its sidecar's outbound listener) and answers with the
    /// same status and `{"service": name, "upstream": <the answer>}`.
    pub fn forwarding(name: &str, addr: &str, next: SocketAddr) -> std::io::Result<Self> {
        Self::serve_on(name, addr, Some(next))
    }

    fn serve_on(name: &str, addr: &str, forward: Forward) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, nm, halt) = (Arc::clone(&state), name.to_owned(), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(stream) = stream {
                    let (st, nm) = (Arc::clone(&st), nm.clone());
                    thread::spawn(move || serve(&nm, &st, stream, forward));
                }
            }
        });
        Ok(Self {
            name: name.to_owned(),
            addr,
            state,
            stop,
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
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves one connection: HTTP/1.1 requests in turn, kept alive until the
/// peer closes or asks to.
fn serve(name: &str, state: &Mutex<State>, stream: TcpStream, forward: Forward) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    while let Some((received, keep_alive)) = http::read_request(name, &mut reader) {
        let programmed = {
            let mut state = lock(state);
            state.received.push(received.clone());
            state.replies.get(&received.path).cloned()
        };
        let (headers, reply) = match (programmed, forward) {
            (Some(reply), _) => (Vec::new(), reply),
            (None, Some(next)) => (Vec::new(), forward_reply(name, &received, next)),
            (None, None) => echo_reply(&received),
        };
        thread::sleep(reply.delay);
        if http::write_response(&mut writer, &reply, &headers, keep_alive).is_err() || !keep_alive {
            break;
        }
    }
}

/// Passes a request on and wraps the answer.
fn forward_reply(name: &str, received: &Received, next: SocketAddr) -> Reply {
    let target = if received.query.is_empty() {
        received.path.clone()
    } else {
        format!("{}?{}", received.path, received.query)
    };
    let headers: Vec<(String, String)> = received
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    match http::fetch(
        next,
        &received.method,
        &target,
        &headers,
        received.body.as_bytes(),
    ) {
        Ok(answer) => {
            let upstream = serde_json::from_slice::<serde_json::Value>(&answer.body)
                .unwrap_or_else(|_| String::from_utf8_lossy(&answer.body).into_owned().into());
            let mut reply =
                Reply::json(&serde_json::json!({ "service": name, "upstream": upstream }));
            reply.status = answer.status;
            reply
        }
        Err(e) => Reply::status(502).body(format!("{name}: cannot reach {next}: {e}")),
    }
}

fn echo_reply(received: &Received) -> (Vec<(String, String)>, Reply) {
    let extra = received
        .header("x-echo-header")
        .map(|v| {
            v.split(", ")
                .filter_map(|h| h.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect()
        })
        .unwrap_or_default();
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
    (extra, reply.delay(delay))
}
