//! The request as every stage sees it: one [`Request`] per callback, shared
//! by all the stages of a chain, that reads from the proxy lazily and
//! remembers what it read.
//!
//! Reads cost host calls, so the view makes as few as it can. How it reads
//! request headers depends on what a read costs the adapter (its
//! [`ReadPlan`]): in Wasm every host call crosses the sandbox, so the first
//! header is fetched alone and from the second on the whole map is read once
//! and answered from memory; natively a single read is a lookup while the
//! map is a copy of every header, so headers are read one by one (up to
//! [`SINGLE_READS`] of them, then the map). Writes go through the view too,
//! so a later stage sees what an earlier one changed.
//!
//! Values are bytes, read whole up to Envoy's own header limits: a value
//! that is not UTF-8 is matched as text with U+FFFD in place of the bytes
//! it cannot decode (so a `/admin/` prefix still matches `/admin/\xff`),
//! and keyed by its exact bytes (so two such values never share a key).

mod client;
mod parse;

pub use client::{client_address, ClientAddress};
pub use parse::{
    cookie, query_param, strip_prefix_ignore_case, without_cookie, without_query_param,
};

use crate::stage::{
    GrpcCall, HeaderMap, Host, HostError, MetricKind, OutboundCall, Proxy, Shared, Written,
};
use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::time::SystemTime;

/// A header map as read from the proxy: names lowercase, values as bytes,
/// in the proxy's order.
pub type Headers = Vec<(String, Vec<u8>)>;

/// The most request headers a view reads one by one before it reads the
/// whole map instead.
pub const SINGLE_READS: usize = 8;

/// How a view reads request headers in one kind of callback, and what it
/// learned there. The adapter keeps one per filter and callback kind.
///
/// The default (Wasm's) reads one header alone, then the whole map; once a
/// request needed the whole map, later ones read it at once instead of one
/// header first (one host call, not two). [`ReadPlan::one_by_one`] (native)
/// reads up to [`SINGLE_READS`] headers alone.
#[derive(Debug)]
pub struct ReadPlan {
    whole_map: Cell<bool>,
    singles: usize,
}

impl Default for ReadPlan {
    fn default() -> Self {
        Self {
            whole_map: Cell::new(false),
            singles: 1,
        }
    }
}

impl ReadPlan {
    /// A plan for an adapter whose single header reads are cheap: headers
    /// are read one by one, the map only past [`SINGLE_READS`] of them.
    pub fn one_by_one() -> Self {
        Self {
            whole_map: Cell::new(false),
            singles: SINGLE_READS,
        }
    }
}

/// A header read alone: its lowercase name and first value.
type Single = (String, Option<Vec<u8>>);

/// One callback's view of the request: its headers, the client address,
/// and the proxy behind it (as a [`Proxy`]).
pub struct Request<'h> {
    host: &'h mut dyn Host,
    plan: Option<&'h ReadPlan>,
    /// The proxy's clock, read once per callback.
    now: OnceCell<SystemTime>,
    /// Request headers the view knows without the map: read alone, or
    /// set or removed through it, in that order.
    singles: [OnceCell<Single>; SINGLE_READS],
    /// How many of `singles` were read from the proxy.
    reads: Cell<usize>,
    /// The whole request header map, read once the plan's single reads
    /// are used up (in Wasm, at the second header).
    map: OnceCell<Headers>,
    /// The client address, and the trusted hops it was found with.
    client: OnceCell<(u32, Option<ClientAddress>)>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("singles", &self.singles)
            .field("map", &self.map)
            .finish_non_exhaustive()
    }
}

/// Lossy text for bytes: borrowed when they are UTF-8.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

impl<'h> Request<'h> {
    /// A fresh view over `host`: nothing is read until asked for.
    pub fn new(host: &'h mut dyn Host) -> Self {
        Self::planned(host, None)
    }

    /// A fresh view over `host` that reads the way `plan` learned from
    /// earlier callbacks of its kind, and teaches it what this one read.
    pub fn planned(host: &'h mut dyn Host, plan: Option<&'h ReadPlan>) -> Self {
        Self {
            host,
            plan,
            now: OnceCell::new(),
            singles: Default::default(),
            reads: Cell::new(0),
            map: OnceCell::new(),
            client: OnceCell::new(),
        }
    }

    /// A request header's first value, as bytes; `None` when absent.
    pub fn header(&self, name: &str) -> Result<Option<&[u8]>, HostError> {
        if let Some(known) = self.known_header(name) {
            return Ok(known);
        }
        let singles = match self.plan {
            None => 1,
            Some(plan) if plan.whole_map.get() => 0,
            Some(plan) => plan.singles,
        };
        let free = self.singles.iter().find(|slot| slot.get().is_none());
        match free {
            Some(slot) if self.reads.get() < singles => {
                let value = self.host.header(HeaderMap::Request, name)?;
                self.reads.set(self.reads.get() + 1);
                let (_, value) = slot.get_or_init(|| (name.to_ascii_lowercase(), value));
                Ok(value.as_deref())
            }
            _ => self.read_map(name),
        }
    }

    /// What the view knows of a request header without asking the proxy:
    /// `Some` with its first value (or `None` when the request has none)
    /// once it was read or written in this callback, `None` otherwise.
    pub fn known_header(&self, name: &str) -> Option<Option<&[u8]>> {
        if let Some(map) = self.map.get() {
            return Some(find(map, name));
        }
        self.singles
            .iter()
            .map_while(OnceCell::get)
            .find(|(single, _)| single.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_deref())
    }

    /// Reads the whole request map, then finds a header in it.
    fn read_map(&self, name: &str) -> Result<Option<&[u8]>, HostError> {
        let map = self.host.headers(HeaderMap::Request)?;
        Ok(find(self.map.get_or_init(|| map), name))
    }

    /// Whether the view knows the request has no header `name`.
    fn known_absent(&self, name: &str) -> bool {
        matches!(self.known_header(name), Some(None))
    }

    /// A request header's first value as text (see the module's note on
    /// bytes that are not UTF-8); `None` when absent.
    pub fn header_text(&self, name: &str) -> Result<Option<Cow<'_, str>>, HostError> {
        Ok(self.header(name)?.map(text))
    }

    /// The method; empty when the request has none.
    pub fn method(&self) -> Result<Cow<'_, str>, HostError> {
        Ok(self.header_text(":method")?.unwrap_or_default())
    }

    /// The path, query included; empty when the request has none.
    pub fn path(&self) -> Result<Cow<'_, str>, HostError> {
        Ok(self.header_text(":path")?.unwrap_or_default())
    }

    /// The client's address past `trusted_hops` proxies (see
    /// [`client_address`]); remembered for the callback.
    pub fn client_address(
        &self,
        trusted_hops: u32,
    ) -> Result<Option<Cow<'_, ClientAddress>>, HostError> {
        if let Some((hops, address)) = self.client.get() {
            if *hops == trusted_hops {
                return Ok(address.as_ref().map(Cow::Borrowed));
            }
        }
        let xff = if trusted_hops > 0 {
            self.header("x-forwarded-for")?
        } else {
            None
        };
        let source = self.host.property(&["source", "address"])?;
        let address = client_address(xff, source.as_deref(), trusted_hops);
        match self.client.get() {
            // Another stage asked with other hops first: answer, do not keep.
            Some(_) => Ok(address.map(Cow::Owned)),
            None => Ok(self
                .client
                .get_or_init(|| (trusted_hops, address))
                .1
                .as_ref()
                .map(Cow::Borrowed)),
        }
    }

    /// A property of the request or connection, as the proxy gives it.
    pub fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        self.host.property(path)
    }

    /// Replaces every value of a header with one value.
    pub fn set_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        self.host.set_header(map, name, value)?;
        self.changed(map, name, Exact::Yes, |values| {
            values.clear();
            values.push(value.as_bytes().to_vec());
        });
        Ok(())
    }

    /// Adds a value to a header, keeping the values it has.
    pub fn add_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        self.host.add_header(map, name, value)?;
        self.changed(map, name, Exact::No, |values| {
            values.push(value.as_bytes().to_vec());
        });
        Ok(())
    }

    /// Removes every value of a header; no host call when the view knows
    /// the request has none.
    pub fn remove_header(&mut self, map: HeaderMap, name: &str) -> Result<(), HostError> {
        if map == HeaderMap::Request && self.known_absent(name) {
            return Ok(());
        }
        self.host.remove_header(map, name)?;
        self.changed(map, name, Exact::Yes, Vec::clear);
        Ok(())
    }

    /// Makes the proxy pick the request's route again.
    pub fn clear_route_cache(&mut self) -> Result<(), HostError> {
        self.host.clear_route_cache()
    }

    /// Keeps what the view remembers in step with a change the proxy
    /// made: `change` turns the header's values into the new ones. A header
    /// the view did not know is remembered when the change says all of its
    /// values (`exact`), in a free slot.
    fn changed(
        &mut self,
        map: HeaderMap,
        name: &str,
        exact: Exact,
        change: impl FnOnce(&mut Vec<Vec<u8>>),
    ) {
        if map != HeaderMap::Request {
            return;
        }
        if let Some(headers) = self.map.get_mut() {
            let mut values = take_values(headers, name);
            change(&mut values);
            let name = name.to_ascii_lowercase();
            headers.extend(values.into_iter().map(|v| (name.clone(), v)));
        } else if let Some((_, value)) = self
            .singles
            .iter_mut()
            .filter_map(OnceCell::get_mut)
            .find(|(single, _)| single.eq_ignore_ascii_case(name))
        {
            let mut values: Vec<Vec<u8>> = value.take().into_iter().collect();
            change(&mut values);
            *value = values.into_iter().next();
        } else if exact == Exact::Yes {
            if let Some(slot) = self.singles.iter_mut().find(|slot| slot.get().is_none()) {
                let mut values = Vec::new();
                change(&mut values);
                let _ = slot.set((name.to_ascii_lowercase(), values.into_iter().next()));
            }
        }
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            self.client.take();
        }
    }
}

/// Whether a write says every value a header has afterwards (a set or a
/// removal) or adds to values the view may not know (an addition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exact {
    Yes,
    No,
}

/// A header's first value in a map.
fn find<'m>(map: &'m Headers, name: &str) -> Option<&'m [u8]> {
    map.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Takes every value of a header out of a map, in order.
fn take_values(map: &mut Headers, name: &str) -> Vec<Vec<u8>> {
    let mut values = Vec::new();
    map.retain_mut(|(n, v)| {
        let hit = n.eq_ignore_ascii_case(name);
        if hit {
            values.push(std::mem::take(v));
        }
        !hit
    });
    values
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        if let Some(plan) = self.plan.filter(|_| self.map.get().is_some()) {
            plan.whole_map.set(true);
        }
    }
}

impl Proxy for Request<'_> {
    /// The proxy's clock, read once per callback: every stage of a chain
    /// sees the same instant.
    fn now(&self) -> Result<SystemTime, HostError> {
        if let Some(now) = self.now.get() {
            return Ok(*now);
        }
        let now = self.host.now()?;
        Ok(*self.now.get_or_init(|| now))
    }

    fn dispatch(&mut self, call: &OutboundCall<'_>) -> Result<u32, HostError> {
        self.host.dispatch(call)
    }

    fn dispatch_grpc(&mut self, call: &GrpcCall<'_>) -> Result<u32, HostError> {
        self.host.dispatch_grpc(call)
    }

    fn shared_get(&self, key: &str) -> Result<Option<Shared>, HostError> {
        self.host.shared_get(key)
    }

    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<Written, HostError> {
        self.host.shared_set(key, value, cas)
    }

    fn define_metric(&mut self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        self.host.define_metric(kind, name)
    }

    fn increment_metric(&mut self, id: u32, by: i64) -> Result<(), HostError> {
        self.host.increment_metric(id, by)
    }

    fn record_metric(&mut self, id: u32, value: u64) -> Result<(), HostError> {
        self.host.record_metric(id, value)
    }
}

/// A [`ReadPlan`] per kind of callback, kept by an adapter per filter.
#[cfg(any(target_arch = "wasm32", feature = "native"))]
#[derive(Debug, Default)]
pub(crate) struct Plans {
    pub(crate) request_headers: ReadPlan,
    pub(crate) call_response: ReadPlan,
    pub(crate) response_headers: ReadPlan,
    pub(crate) log: ReadPlan,
}

#[cfg(feature = "native")]
impl Plans {
    /// Plans that read headers one by one (see [`ReadPlan::one_by_one`]).
    pub(crate) fn one_by_one() -> Self {
        Self {
            request_headers: ReadPlan::one_by_one(),
            call_response: ReadPlan::one_by_one(),
            response_headers: ReadPlan::one_by_one(),
            log: ReadPlan::one_by_one(),
        }
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
