//! An in-memory [`Host`] for unit-testing stages: set up headers, run the
//! stage, assert on what it left. No scripted sequence of host calls.

pub mod json;

pub use json::prop_cases;

use crate::request::{Headers, Request};
use crate::stage::{
    CallResponse, GrpcCall, HeaderMap, Host, HostError, MetricKind, OutboundCall, Proxy, Shared,
    Written,
};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// Request and response headers held in memory, names compared
/// case-insensitively as a proxy compares them and values as bytes; a
/// settable clock; a record of the calls dispatched; and a count of every
/// host call made, by kind, as Envoy would have been asked.
#[derive(Debug, Clone)]
pub struct FakeHost {
    request: Headers,
    response: Headers,
    /// What [`Proxy::now`] answers.
    pub now: SystemTime,
    /// Calls dispatched so far; a call's token is its index plus one.
    pub calls: Vec<SentCall>,
    /// gRPC calls dispatched so far; tokens count on from the HTTP calls'.
    pub grpc_calls: Vec<SentGrpcCall>,
    /// Makes [`Proxy::dispatch`] and [`Proxy::dispatch_grpc`] fail, as
    /// when a cluster is unknown.
    pub refuse_calls: bool,
    /// Request and connection properties, by path joined with `.`.
    pub properties: HashMap<String, Vec<u8>>,
    /// How often the route cache was cleared.
    pub route_cache_cleared: usize,
    /// What every VM of the proxy shares: shared data and stats.
    pub process: Rc<RefCell<Process>>,
    /// Host calls made so far, by kind (`header`, `headers`, `property`, ...).
    host_calls: RefCell<BTreeMap<&'static str, usize>>,
}

/// A metric as the fake host keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// Its encoded name.
    pub name: String,
    /// Its kind.
    pub kind: MetricKind,
    /// A counter's or gauge's value.
    pub value: i64,
    /// A histogram's samples.
    pub samples: Vec<u64>,
}

/// Another worker's action on shared data, run at a chosen moment.
pub type OtherWorker = Box<dyn FnOnce(&mut Process)>;

/// What Envoy shares between the VMs of its workers: fake hosts made with
/// [`FakeHost::sharing`] see the same one, as workers of one Envoy do.
#[derive(Default)]
pub struct Process {
    data: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
    metrics: Vec<Metric>,
    /// Makes shared data calls fail, as a misbehaving host would.
    pub fail_shared_data: bool,
    /// Runs once, just before the next shared-data write: another worker
    /// acting between a read and a write.
    pub before_next_write: Option<OtherWorker>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("data", &self.data.len())
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl Process {
    /// Reads shared data as Envoy does.
    pub fn get(&self, key: &str) -> Option<Shared> {
        self.data.get(key).map(|(value, cas)| Shared {
            value: value.clone(),
            cas: *cas,
        })
    }

    /// Writes shared data as Envoy does: a missing key is written whatever
    /// `cas` says; an existing one only if `cas` is unset or matches.
    pub fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Written {
        if let Some((_, current)) = self.data.get(key) {
            if cas.is_some_and(|c| c != *current) {
                return Written::Conflict;
            }
        }
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.data
            .insert(key.to_owned(), (value.to_vec(), self.next_cas));
        Written::Yes
    }

    /// How many shared-data keys exist.
    pub fn keys(&self) -> usize {
        self.data.len()
    }
}

/// A call a stage dispatched, as the fake host recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCall {
    /// The cluster.
    pub cluster: String,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Option<Vec<u8>>,
    /// The timeout.
    pub timeout: Duration,
}

/// A gRPC call a stage dispatched, as the fake host recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentGrpcCall {
    /// The cluster.
    pub cluster: String,
    /// The service.
    pub service: String,
    /// The method.
    pub method: String,
    /// The request message.
    pub message: Vec<u8>,
    /// The timeout.
    pub timeout: Duration,
    /// The token its answer carries.
    pub token: u32,
}

impl SentCall {
    /// A header's first value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Default for FakeHost {
    fn default() -> Self {
        Self {
            request: Vec::new(),
            response: Vec::new(),
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            calls: Vec::new(),
            grpc_calls: Vec::new(),
            refuse_calls: false,
            properties: HashMap::new(),
            route_cache_cleared: 0,
            process: Rc::default(),
            host_calls: RefCell::default(),
        }
    }
}

impl FakeHost {
    /// A host with no headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// A host whose request carries these headers.
    pub fn with_request(headers: &[(&str, &str)]) -> Self {
        Self {
            request: raw(headers),
            ..Self::default()
        }
    }

    /// A host whose request carries these headers, values as raw bytes
    /// (not UTF-8, say, as HTTP/2 allows).
    pub fn with_raw_request(headers: &[(&str, &[u8])]) -> Self {
        Self {
            request: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_vec()))
                .collect(),
            ..Self::default()
        }
    }

    /// A host whose request carries this header map as a proxy holds it
    /// (names, then values as bytes), as generated by a property test.
    pub fn with_headers(headers: &[(String, Vec<u8>)]) -> Self {
        Self {
            request: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect(),
            ..Self::default()
        }
    }

    /// The view a stage gets of this host's request, as the adapter makes
    /// one per callback.
    pub fn view(&mut self) -> Request<'_> {
        Request::new(self)
    }

    /// Host calls made so far, by kind, and forgets them.
    pub fn take_host_calls(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.host_calls.borrow_mut())
    }

    /// The token of the call just recorded: HTTP and gRPC calls count on
    /// together, from 1.
    fn next_token(&self) -> Result<u32, HostError> {
        u32::try_from(self.calls.len() + self.grpc_calls.len())
            .map_err(|_| HostError::Status("too many calls".to_owned()))
    }

    fn called(&self, kind: &'static str) {
        *self.host_calls.borrow_mut().entry(kind).or_default() += 1;
    }

    /// A host for another request on the same proxy: it shares this one's
    /// shared data and stats, and its clock reads the same.
    pub fn sharing(&self, headers: &[(&str, &str)]) -> Self {
        Self {
            request: raw(headers),
            now: self.now,
            process: Rc::clone(&self.process),
            ..Self::default()
        }
    }

    /// A counter's value, by encoded name; 0 if never defined.
    pub fn counter(&self, name: &str) -> u64 {
        self.metric(name)
            .and_then(|m| u64::try_from(m.value).ok())
            .unwrap_or(0)
    }

    /// A metric, by encoded name.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        self.process
            .borrow()
            .metrics
            .iter()
            .find(|m| m.name == name)
            .cloned()
    }

    /// Every metric defined, in order.
    pub fn metrics(&self) -> Vec<Metric> {
        self.process.borrow().metrics.clone()
    }

    /// Every value of a header, in order, as text (bytes that are not
    /// UTF-8 as U+FFFD).
    pub fn values(&self, map: HeaderMap, name: &str) -> Vec<Cow<'_, str>> {
        self.map(map)
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v))
            .collect()
    }

    fn map(&self, map: HeaderMap) -> &Headers {
        match map {
            HeaderMap::Request => &self.request,
            HeaderMap::Response => &self.response,
        }
    }

    fn map_mut(&mut self, map: HeaderMap) -> &mut Headers {
        match map {
            HeaderMap::Request => &mut self.request,
            HeaderMap::Response => &mut self.response,
        }
    }
}

/// The answer a called service gives: a status, headers and a body.
pub fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> CallResponse {
    CallResponse {
        status: Some(status),
        headers: owned(headers),
        body: body.to_vec(),
        truncated: false,
    }
}

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned()))
        .collect()
}

/// Headers as a proxy holds them: names lowercase, values as bytes.
fn raw(headers: &[(&str, &str)]) -> Headers {
    headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect()
}

impl Proxy for FakeHost {
    fn now(&self) -> Result<SystemTime, HostError> {
        self.called("now");
        Ok(self.now)
    }

    fn dispatch(&mut self, call: &OutboundCall<'_>) -> Result<u32, HostError> {
        self.called("dispatch");
        if self.refuse_calls {
            return Err(HostError::Status("BadArgument".to_owned()));
        }
        self.calls.push(SentCall {
            cluster: call.cluster.to_owned(),
            headers: call
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: call.body.map(<[u8]>::to_vec),
            timeout: call.timeout,
        });
        self.next_token()
    }

    fn dispatch_grpc(&mut self, call: &GrpcCall<'_>) -> Result<u32, HostError> {
        self.called("dispatch_grpc");
        if self.refuse_calls {
            return Err(HostError::Status("ParseFailure".to_owned()));
        }
        let token = self.next_token()?.saturating_add(1);
        self.grpc_calls.push(SentGrpcCall {
            cluster: call.cluster.to_owned(),
            service: call.service.to_owned(),
            method: call.method.to_owned(),
            message: call.message.to_vec(),
            timeout: call.timeout,
            token,
        });
        Ok(token)
    }

    fn shared_get(&self, key: &str) -> Result<Option<Shared>, HostError> {
        self.called("shared_get");
        let process = self.process.borrow();
        if process.fail_shared_data {
            return Err(HostError::Status("InternalFailure".to_owned()));
        }
        Ok(process.get(key))
    }

    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<Written, HostError> {
        self.called("shared_set");
        let interleave = {
            let mut process = self.process.borrow_mut();
            if process.fail_shared_data {
                return Err(HostError::Status("InternalFailure".to_owned()));
            }
            process.before_next_write.take()
        };
        let mut process = self.process.borrow_mut();
        if let Some(other_worker) = interleave {
            other_worker(&mut process);
        }
        Ok(process.set(key, value, cas))
    }

    fn define_metric(&mut self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        self.called("define_metric");
        let mut process = self.process.borrow_mut();
        let at = match process.metrics.iter().position(|m| m.name == name) {
            Some(i) => i,
            None => {
                process.metrics.push(Metric {
                    name: name.to_owned(),
                    kind,
                    value: 0,
                    samples: Vec::new(),
                });
                process.metrics.len() - 1
            }
        };
        u32::try_from(at).map_err(|e| HostError::Status(e.to_string()))
    }

    fn increment_metric(&mut self, id: u32, by: i64) -> Result<(), HostError> {
        self.called("increment_metric");
        let mut process = self.process.borrow_mut();
        let metric = usize::try_from(id)
            .ok()
            .and_then(|i| process.metrics.get_mut(i))
            .filter(|m| m.kind != MetricKind::Histogram)
            .ok_or_else(|| HostError::Status("BadArgument".to_owned()))?;
        metric.value += by;
        Ok(())
    }

    fn record_metric(&mut self, id: u32, value: u64) -> Result<(), HostError> {
        self.called("record_metric");
        let mut process = self.process.borrow_mut();
        let metric = usize::try_from(id)
            .ok()
            .and_then(|i| process.metrics.get_mut(i))
            .filter(|m| m.kind == MetricKind::Histogram)
            .ok_or_else(|| HostError::Status("BadArgument".to_owned()))?;
        metric.samples.push(value);
        Ok(())
    }
}

impl Host for FakeHost {
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        self.called("property");
        Ok(self.properties.get(&path.join(".")).cloned())
    }

    /// The first value, as Envoy answers for a repeated header.
    fn header(&self, map: HeaderMap, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.called("header");
        Ok(self
            .map(map)
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone()))
    }

    fn headers(&self, map: HeaderMap) -> Result<Headers, HostError> {
        self.called("headers");
        Ok(self.map(map).clone())
    }

    fn set_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        self.called("set_header");
        let headers = self.map_mut(map);
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        headers.push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        Ok(())
    }

    fn add_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        self.called("add_header");
        self.map_mut(map)
            .push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        Ok(())
    }

    fn remove_header(&mut self, map: HeaderMap, name: &str) -> Result<(), HostError> {
        self.called("remove_header");
        self.map_mut(map)
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        Ok(())
    }

    fn clear_route_cache(&mut self) -> Result<(), HostError> {
        self.called("clear_route_cache");
        self.route_cache_cleared += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_behave_like_a_proxy_header_map() {
        let mut host = FakeHost::with_request(&[("X-A", "1"), ("x-a", "2")]);
        assert_eq!(
            host.header(HeaderMap::Request, "x-a").unwrap().as_deref(),
            Some(&b"1"[..]),
            "a repeated header reads as its first value, as in Envoy"
        );
        assert_eq!(host.values(HeaderMap::Request, "x-a"), ["1", "2"]);
        host.set_header(HeaderMap::Request, "X-A", "3").unwrap();
        assert_eq!(host.values(HeaderMap::Request, "x-a"), ["3"]);
        host.remove_header(HeaderMap::Request, "x-a").unwrap();
        assert_eq!(host.header(HeaderMap::Request, "x-a").unwrap(), None);
        assert_eq!(host.header(HeaderMap::Response, "x-a").unwrap(), None);
        let calls = host.take_host_calls();
        assert_eq!(calls.get("header"), Some(&3));
        assert_eq!(calls.get("set_header"), Some(&1));
        assert!(host.take_host_calls().is_empty());
    }
}
