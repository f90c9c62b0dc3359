//! An in-memory [`Host`] for unit-testing stages: set up headers, run the
//! stage, assert on what it left. No scripted sequence of host calls.

use crate::stage::{HeaderMap, Host, HostError};

/// Request and response headers held in memory, names compared
/// case-insensitively as a proxy compares them.
#[derive(Debug, Default, Clone)]
pub struct FakeHost {
    request: Vec<(String, String)>,
    response: Vec<(String, String)>,
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
            response: Vec::new(),
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

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned()))
        .collect()
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
