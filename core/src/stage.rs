//! The stage model: a filter's per-request logic, written against a small
//! [`Host`] trait so it runs the same inside Envoy and in a unit test.
//!
//! A module runs one stage (a single filter) or several in a row
//! ([`Chain`](crate::chain::Chain)) in one Wasm context.

use crate::request::{Headers, Request};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest header value a filter writes (see
/// [`is_field_value`](crate::names::is_field_value)); what it reads is
/// bounded by Envoy's own header limits.
pub const MAX_HEADER_VALUE_BYTES: usize = 16 * 1024;

/// Which header map an operation is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMap {
    /// The request headers, on their way to the upstream.
    Request,
    /// The response headers, on their way to the client.
    Response,
}

/// A host call that did not succeed. Stages decide what failure means for
/// them (fail open or closed); they never trap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The host answered with an unexpected status.
    Status(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "host call failed: {status}"),
        }
    }
}

impl std::error::Error for HostError {}

/// The largest answer body an outbound call reads; the rest is cut off
/// and [`CallResponse::truncated`] says so.
pub const MAX_CALL_BODY_BYTES: usize = 1024 * 1024;

/// An HTTP request a filter sends itself, through one of Envoy's clusters
/// (a JWKS endpoint, an external authorization service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall<'a> {
    /// The Envoy cluster to send it through.
    pub cluster: &'a str,
    /// Its headers, pseudo-headers (`:method`, `:path`, `:authority`)
    /// included.
    pub headers: Vec<(&'a str, &'a str)>,
    /// Its body, if any.
    pub body: Option<&'a [u8]>,
    /// How long to wait for the answer.
    pub timeout: Duration,
}

/// The answer to an [`OutboundCall`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallResponse {
    /// The status code; `None` when no answer came (timeout, connection
    /// failure, reset).
    pub status: Option<u16>,
    /// Response headers, names lowercase; values that are not UTF-8 are
    /// left out.
    pub headers: Vec<(String, String)>,
    /// The body, at most [`MAX_CALL_BODY_BYTES`].
    pub body: Vec<u8>,
    /// Whether the body was longer than what was read.
    pub truncated: bool,
}

impl CallResponse {
    /// A header's first value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A unary gRPC call to another service, through an Envoy cluster (which
/// must speak HTTP/2).
#[derive(Debug, Clone, Copy)]
pub struct GrpcCall<'a> {
    /// The Envoy cluster to send it through.
    pub cluster: &'a str,
    /// The fully qualified service (`envoy.service.ratelimit.v3.RateLimitService`).
    pub service: &'a str,
    /// The method (`ShouldRateLimit`).
    pub method: &'a str,
    /// The request message, protobuf-encoded.
    pub message: &'a [u8],
    /// How long to wait for the answer.
    pub timeout: Duration,
}

/// The answer to a [`GrpcCall`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcResponse {
    /// The gRPC status: 0 is OK. Envoy reports a call that timed out as
    /// 4 (`DEADLINE_EXCEEDED`) and a service it cannot reach as 14
    /// (`UNAVAILABLE`).
    pub status: u32,
    /// The response message (when OK), at most [`MAX_CALL_BODY_BYTES`].
    pub message: Vec<u8>,
    /// Whether the message was longer than what was read.
    pub truncated: bool,
}

/// A value in the data Envoy shares between the VMs of all its workers,
/// with the version number that a conditional write must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// The value.
    pub value: Vec<u8>,
    /// Its version (Envoy's CAS number).
    pub cas: u32,
}

/// How a conditional write of shared data went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The value was written.
    Yes,
    /// Another writer changed it first (CAS mismatch): read it again.
    Conflict,
}

/// What a filter may ask of the proxy outside any one request's headers:
/// the time, calls to other services, data shared between workers, stats.
pub trait Proxy {
    /// The proxy's wall clock.
    fn now(&self) -> Result<SystemTime, HostError>;
    /// Sends a call; its answer comes back, with the returned token, to
    /// whoever sent it (`Stage::on_call_response` for a stage,
    /// `Filter::on_call_response` for the filter).
    fn dispatch(&mut self, call: &OutboundCall<'_>) -> Result<u32, HostError>;
    /// Sends a unary gRPC call; its answer comes back, with the returned
    /// token, to `Stage::on_grpc_response` of the stage that sent it.
    fn dispatch_grpc(&mut self, call: &GrpcCall<'_>) -> Result<u32, HostError>;
    /// Reads shared data; `None` when the key was never written.
    fn shared_get(&self, key: &str) -> Result<Option<Shared>, HostError>;
    /// Writes shared data if its version is still `cas`. A key that does
    /// not exist yet is written whatever `cas` says (Envoy's semantics):
    /// to create a key only if absent, pass a `cas` no value has.
    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<Written, HostError>;
    /// Defines a metric (once per VM), giving its id.
    fn define_metric(&mut self, kind: MetricKind, name: &str) -> Result<u32, HostError>;
    /// Adds to a counter or a gauge (a gauge may go down).
    fn increment_metric(&mut self, id: u32, by: i64) -> Result<(), HostError>;
    /// Records a histogram sample.
    fn record_metric(&mut self, id: u32, value: u64) -> Result<(), HostError>;

    /// The clock in nanoseconds since the Unix epoch; `None` when it
    /// cannot be read (or reads before the epoch).
    fn epoch_nanos(&self) -> Option<u64> {
        let since = self.now().ok()?.duration_since(UNIX_EPOCH).ok()?;
        u64::try_from(since.as_nanos()).ok()
    }

    /// Writes shared data read at version `read` (`None`: the key was
    /// absent), only if no other writer changed it since: a key that was
    /// absent is created only if it still is, with a version number no
    /// value has.
    fn shared_replace(
        &mut self,
        key: &str,
        value: &[u8],
        read: Option<u32>,
    ) -> Result<Written, HostError> {
        self.shared_set(key, value, Some(read.unwrap_or(CREATE_ONLY)))
    }
}

/// The version number no value has: writing with it creates a key only
/// if it is absent (see [`Proxy::shared_replace`]).
pub const CREATE_ONLY: u32 = u32::MAX;

/// What kind of metric a name is defined as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution of samples.
    Histogram,
}

/// What a stage may ask of the proxy for the request it is handling.
pub trait Host: Proxy {
    /// A property of the request or connection (`["source", "address"]`),
    /// as the raw bytes Envoy gives; `None` when it has none.
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError>;
    /// A header's first value, as bytes, or `None` when absent.
    fn header(&self, map: HeaderMap, name: &str) -> Result<Option<Vec<u8>>, HostError>;
    /// A whole header map, names lowercase, in the proxy's order.
    fn headers(&self, map: HeaderMap) -> Result<Headers, HostError>;
    /// Replaces every value of a header with one value.
    fn set_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError>;
    /// Adds a value to a header, keeping the values it has.
    fn add_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError>;
    /// Removes every value of a header.
    fn remove_header(&mut self, map: HeaderMap, name: &str) -> Result<(), HostError>;
    /// Makes Envoy pick the request's route again, after its headers or
    /// path changed.
    fn clear_route_cache(&mut self) -> Result<(), HostError>;
}

/// What happens to a request after a stage has seen its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Hand the request on: to the next stage, then the next filter.
    Continue,
    /// Answer the client now; the request goes no further.
    Respond(LocalResponse),
    /// Hold the request: the stage has dispatched a call and decides in
    /// `Stage::on_call_response`.
    Pause,
}

/// An answer a filter sends itself instead of the upstream's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Headers to send, beyond those Envoy adds.
    pub headers: Vec<(String, String)>,
    /// The body; may be empty.
    pub body: Vec<u8>,
}

impl LocalResponse {
    /// The error answer every meshwasm filter sends:
    /// `{"error": "<code>", "message": "<text>"}` as `application/json`.
    pub fn json_error(status: u16, error: &str, message: &str) -> Self {
        let body = serde_json::json!({ "error": error, "message": message }).to_string();
        Self {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.into_bytes(),
        }
    }

    /// Adds a header to the answer.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A filter's per-request logic. Each hook has a do-nothing default, so a
/// stage implements only the phases it cares about. Every hook gets the
/// callback's [`Request`] view, which the stages of a chain share.
pub trait Stage {
    /// The request headers have arrived.
    fn on_request_headers(&mut self, _request: &mut Request<'_>) -> Flow {
        Flow::Continue
    }

    /// The answer to a call this stage dispatched while holding the
    /// request ([`Flow::Pause`]) has come.
    fn on_call_response(
        &mut self,
        _request: &mut Request<'_>,
        _token: u32,
        _response: &CallResponse,
    ) -> Flow {
        Flow::Continue
    }

    /// The answer to a gRPC call this stage dispatched while holding the
    /// request ([`Flow::Pause`]) has come.
    fn on_grpc_response(
        &mut self,
        _request: &mut Request<'_>,
        _token: u32,
        _response: &GrpcResponse,
    ) -> Flow {
        Flow::Continue
    }

    /// The stages have handled the request headers, or a call's answer
    /// while the request was held, and `request` is that callback's view: a
    /// stage may keep what the view already knows
    /// ([`Request::known_header`]), at no host call, for a later phase.
    /// Adapters call it through [`request_phase`].
    fn on_request_seen(&mut self, _request: &Request<'_>) {}

    /// The response headers have arrived (from the upstream, or from a
    /// local response).
    fn on_response_headers(&mut self, _request: &mut Request<'_>) {}

    /// The exchange is over (answered, reset or refused); request and
    /// response properties are final.
    fn on_log(&mut self, _request: &mut Request<'_>) {}
}

/// Runs a request-phase hook (`on_request_headers`, `on_call_response`,
/// `on_grpc_response`), then [`Stage::on_request_seen`] with the same view:
/// what an adapter runs for each of them.
pub fn request_phase<S: Stage + ?Sized>(
    stage: &mut S,
    request: &mut Request<'_>,
    hook: impl FnOnce(&mut S, &mut Request<'_>) -> Flow,
) -> Flow {
    let flow = hook(stage, request);
    stage.on_request_seen(request);
    flow
}
