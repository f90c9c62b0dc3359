//! The metrics filter's work on one request: note when it started, and
//! record it when it is over.

use crate::filter::{Metrics, Overflow};
use crate::labels::{self, Admitted, CappedLabel, NONE, OTHER};
use crate::series::SeriesKey;
use meshwasm_core::request::Request;
use meshwasm_core::{Flow, Proxy, Stage};
use std::rc::Rc;
use std::time::SystemTime;

/// The metrics filter's state for one request.
#[derive(Debug)]
pub struct MetricsStage {
    filter: Rc<Metrics>,
    started: Option<SystemTime>,
    /// The method, once known: read at the start when the in-flight gauge
    /// needs it, kept from the request phase when another stage had read
    /// it, read at the end otherwise.
    method: Option<&'static str>,
    /// The consumer header's value, when the request phase's view knew it
    /// (another stage read or wrote it): then the end reads nothing.
    consumer: Option<Option<String>>,
}

/// An integer property (Envoy sends int64, little-endian).
fn int_property(request: &Request<'_>, path: &[&str]) -> Option<i64> {
    let bytes = request.property(path).ok()??;
    Some(i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// A string property, trying each name in turn (newer Envoys rename some).
fn text_property(request: &Request<'_>, paths: &[&[&str]]) -> Option<String> {
    paths.iter().find_map(|path| {
        let bytes = request.property(path).ok()??;
        String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
    })
}

impl MetricsStage {
    /// A stage for one request.
    pub fn new(filter: Rc<Metrics>) -> Self {
        Self {
            filter,
            started: None,
            method: None,
            consumer: None,
        }
    }

    /// A capped label's value: the request's, `none`, or `other`.
    fn capped(
        &self,
        request: &mut Request<'_>,
        label: &CappedLabel,
        value: Option<String>,
        which: Overflow,
    ) -> String {
        let Some(value) = value else {
            return NONE.to_owned();
        };
        match label.admit(request, &value) {
            Admitted::Yes(v) => v,
            Admitted::Overflow => {
                self.filter.count_overflow(request, which);
                OTHER.to_owned()
            }
            Admitted::Unavailable => OTHER.to_owned(),
        }
    }
}

impl Stage for MetricsStage {
    fn on_request_headers(&mut self, request: &mut Request<'_>) -> Flow {
        self.started = request.now().ok();
        if self.filter.in_flight.is_some() {
            let method = labels::method(&request.method().unwrap_or_default());
            self.method = Some(method);
            self.filter.in_flight(request, method, 1);
        }
        Flow::Continue
    }

    /// Keeps the method and the consumer when the request phase's view
    /// knows them (in a chain, auth has read the request and written the
    /// consumer), so the end of the exchange need not read the headers.
    fn on_request_seen(&mut self, request: &Request<'_>) {
        if self.method.is_none() {
            if let Some(method) = request.known_header(":method") {
                self.method = Some(labels::method(&String::from_utf8_lossy(
                    method.unwrap_or_default(),
                )));
            }
        }
        if let Some(header) = &self.filter.consumer_header {
            if let Some(value) = request.known_header(header.as_str()) {
                self.consumer = Some(value.map(|v| String::from_utf8_lossy(v).into_owned()));
            }
        }
    }

    fn on_log(&mut self, request: &mut Request<'_>) {
        let Some(started) = self.started else {
            return;
        };
        let filter = Rc::clone(&self.filter);
        let method = match self.method {
            Some(method) => {
                filter.in_flight(request, method, -1);
                method
            }
            None => labels::method(&request.method().unwrap_or_default()),
        };
        let code = int_property(request, &["response", "code"])
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(0);
        let route = text_property(request, &[&["xds", "route_name"], &["route_name"]]);
        let cluster = text_property(request, &[&["xds", "cluster_name"], &["cluster_name"]]);
        let consumer = match self.consumer.take() {
            Some(known) => known,
            None => filter
                .consumer_header
                .as_ref()
                .and_then(|h| request.header_text(h.as_str()).ok().flatten())
                .map(std::borrow::Cow::into_owned),
        };
        let extras = filter
            .extras
            .iter()
            .map(
                |extra| match request.header_text(extra.header.as_str()).ok().flatten() {
                    None => NONE.to_owned(),
                    Some(v) if extra.values.iter().any(|known| *known == v) => v.into_owned(),
                    Some(_) => OTHER.to_owned(),
                },
            )
            .collect();
        let key = SeriesKey {
            method,
            code,
            route: self.capped(request, &filter.route, route, Overflow::Route),
            cluster: self.capped(request, &filter.cluster, cluster, Overflow::Cluster),
            consumer: self.capped(request, &filter.consumer, consumer, Overflow::Consumer),
            extras,
        };
        let names: Vec<&str> = filter.extras.iter().map(|e| e.name.as_str()).collect();
        let ids = match filter.series.ids(request, &filter.prefix, &names, &key) {
            Ok(Some(ids)) => Ok(ids),
            Ok(None) => {
                filter.count_overflow(request, Overflow::Series);
                filter
                    .series
                    .overflow_ids(request, &filter.prefix, &names, &key)
            }
            Err(e) => Err(e),
        };
        let ids = match ids {
            Ok(ids) => ids,
            Err(e) => {
                log::warn!("meshwasm metrics: cannot define a series: {e}");
                return;
            }
        };
        let elapsed = request
            .now()
            .ok()
            .and_then(|now| now.duration_since(started).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let sizes = ids.sizes.map(|(request_bytes, response_bytes)| {
            let size = |path: &[&str]| {
                int_property(request, path)
                    .and_then(|v| u64::try_from(v).ok())
                    .unwrap_or(0)
            };
            [
                (request_bytes, size(&["request", "total_size"])),
                (response_bytes, size(&["response", "total_size"])),
            ]
        });
        let recorded = request
            .increment_metric(ids.requests, 1)
            .and_then(|()| request.record_metric(ids.duration, elapsed))
            .and_then(|()| {
                sizes
                    .into_iter()
                    .flatten()
                    .try_for_each(|(id, value)| request.record_metric(id, value))
            });
        if let Err(e) = recorded {
            log::warn!("meshwasm metrics: cannot record: {e}");
        }
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
