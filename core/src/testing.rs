//! An in-memory [`Host`] for unit-testing stages: set up headers, run the
//! stage, assert on what it left. No scripted sequence of host calls.

use crate::stage::{CallResponse, HeaderMap, Host, HostError, Outbound, OutboundCall};
use std::time::{Duration, SystemTime};

/// Request and response headers held in memory, names compared
/// case-insensitively as a proxy compares them; a settable clock; and a
/// record of the calls dispatched.
#[derive(Debug, Clone)]
pub struct FakeHost {
    request: Vec<(String, String)>,
    response: Vec<(String, String)>,
    /// What [`Outbound::now`] answers.
    pub now: SystemTime,
    /// Calls dispatched so far; a call's token is its index plus one.
    pub calls: Vec<SentCall>,
    /// Makes [`Outbound::dispatch`] fail, as when a cluster is unknown.
    pub refuse_calls: bool,
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

impl Outbound for FakeHost {
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
}

impl Host for FakeHost {
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
