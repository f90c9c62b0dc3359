//! An in-memory [`Host`] for unit-testing stages: set up headers, run the
//! stage, assert on what it left. No scripted sequence of host calls.

use crate::stage::{
    CallResponse, HeaderMap, Host, HostError, MetricKind, OutboundCall, Proxy, Shared, Written,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// Request and response headers held in memory, names compared
/// case-insensitively as a proxy compares them; a settable clock; and a
/// record of the calls dispatched.
#[derive(Debug, Clone)]
pub struct FakeHost {
    request: Vec<(String, String)>,
    response: Vec<(String, String)>,
    /// What [`Proxy::now`] answers.
    pub now: SystemTime,
    /// Calls dispatched so far; a call's token is its index plus one.
    pub calls: Vec<SentCall>,
    /// Makes [`Proxy::dispatch`] fail, as when a cluster is unknown.
    pub refuse_calls: bool,
    /// Request and connection properties, by path joined with `.`.
    pub properties: HashMap<String, Vec<u8>>,
    /// How often the route cache was cleared.
    pub route_cache_cleared: usize,
    /// What every VM of the proxy shares: shared data and stats.
    pub process: Rc<RefCell<Process>>,
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
            refuse_calls: false,
            properties: HashMap::new(),
            route_cache_cleared: 0,
            process: Rc::default(),
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
            request: owned(headers),
            ..Self::default()
        }
    }

    /// A host for another request on the same proxy: it shares this one's
    /// shared data and stats, and its clock reads the same.
    pub fn sharing(&self, headers: &[(&str, &str)]) -> Self {
        Self {
            request: owned(headers),
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

    /// Every value of a header, in order.
    pub fn values(&self, map: HeaderMap, name: &str) -> Vec<&str> {
        self.map(map)
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn map(&self, map: HeaderMap) -> &Vec<(String, String)> {
        match map {
            HeaderMap::Request => &self.request,
            HeaderMap::Response => &self.response,
        }
    }

    fn map_mut(&mut self, map: HeaderMap) -> &mut Vec<(String, String)> {
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

impl Proxy for FakeHost {
    fn now(&self) -> Result<SystemTime, HostError> {
        Ok(self.now)
    }

    fn dispatch(&mut self, call: &OutboundCall<'_>) -> Result<u32, HostError> {
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
        u32::try_from(self.calls.len()).map_err(|_| HostError::Status("too many calls".to_owned()))
    }

    fn shared_get(&self, key: &str) -> Result<Option<Shared>, HostError> {
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
        Ok(self.properties.get(&path.join(".")).cloned())
    }

    fn header(&self, map: HeaderMap, name: &str) -> Result<Option<String>, HostError> {
        let values = self.values(map, name);
        Ok((!values.is_empty()).then(|| values.join(",")))
    }

    fn set_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        self.remove_header(map, name)?;
        self.add_header(map, name, value)
    }

    fn add_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        self.map_mut(map)
            .push((name.to_ascii_lowercase(), value.to_owned()));
        Ok(())
    }

    fn remove_header(&mut self, map: HeaderMap, name: &str) -> Result<(), HostError> {
        self.map_mut(map)
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        Ok(())
    }

    fn clear_route_cache(&mut self) -> Result<(), HostError> {
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
            Some("1,2")
        );
        host.set_header(HeaderMap::Request, "X-A", "3").unwrap();
        assert_eq!(host.values(HeaderMap::Request, "x-a"), ["3"]);
        host.remove_header(HeaderMap::Request, "x-a").unwrap();
        assert_eq!(host.header(HeaderMap::Request, "x-a").unwrap(), None);
        assert_eq!(host.header(HeaderMap::Response, "x-a").unwrap(), None);
    }
}
