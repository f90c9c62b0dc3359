//! The metrics filter's work on one request: note when it started, and
//! record it when it is over.

use crate::labels::{self, Admitted, CappedLabel, NONE, OTHER};
use crate::series::SeriesKey;
use crate::{Metrics, Overflow};
use meshwasm_core::{Flow, HeaderMap, Host, Stage};
use std::rc::Rc;
use std::time::SystemTime;

/// The metrics filter's state for one request.
#[derive(Debug)]
pub struct MetricsStage {
    filter: Rc<Metrics>,
    started: Option<SystemTime>,
    method: &'static str,
}

/// An integer property (Envoy sends int64, little-endian).
fn int_property(host: &dyn Host, path: &[&str]) -> Option<i64> {
    let bytes = host.property(path).ok()??;
    Some(i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// A string property, trying each name in turn (newer Envoys rename some).
fn text_property(host: &dyn Host, paths: &[&[&str]]) -> Option<String> {
    paths.iter().find_map(|path| {
        let bytes = host.property(path).ok()??;
        String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
    })
}

impl MetricsStage {
    /// A stage for one request.
    pub fn new(filter: Rc<Metrics>) -> Self {
        Self {
            filter,
            started: None,
            method: "OTHER",
        }
    }

    /// A capped label's value: the request's, `none`, or `other`.
    fn capped(
        &self,
        host: &mut dyn Host,
        label: &CappedLabel,
        value: Option<String>,
        which: Overflow,
    ) -> String {
        let Some(value) = value else {
            return NONE.to_owned();
        };
        match label.admit(host, &value) {
            Admitted::Yes(v) => v,
            Admitted::Overflow => {
                self.filter.count_overflow(host, which);
                OTHER.to_owned()
            }
        }
    }
}

impl Stage for MetricsStage {
    fn on_request_headers(&mut self, host: &mut dyn Host) -> Flow {
        self.started = host.now().ok();
        let method = host.header(HeaderMap::Request, ":method").ok().flatten();
        self.method = labels::method(method.as_deref().unwrap_or_default());
        self.filter.in_flight(host, self.method, 1);
        Flow::Continue
    }

    fn on_log(&mut self, host: &mut dyn Host) {
        let Some(started) = self.started else {
            return;
        };
        let filter = Rc::clone(&self.filter);
        filter.in_flight(host, self.method, -1);
        let code = int_property(host, &["response", "code"])
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(0);
        let route = text_property(host, &[&["xds", "route_name"], &["route_name"]]);
        let cluster = text_property(host, &[&["xds", "cluster_name"], &["cluster_name"]]);
        let consumer = filter
            .consumer_header
            .as_ref()
            .and_then(|h| host.header(HeaderMap::Request, h.as_str()).ok().flatten());
        let extras = filter
            .extras
            .iter()
            .map(|extra| {
                match host
                    .header(HeaderMap::Request, extra.header.as_str())
                    .ok()
                    .flatten()
                {
                    None => NONE.to_owned(),
                    Some(v) if extra.values.contains(&v) => v,
                    Some(_) => OTHER.to_owned(),
                }
            })
            .collect();
        let key = SeriesKey {
            method: self.method,
            code,
            route: self.capped(host, &filter.route, route, Overflow::Route),
            cluster: self.capped(host, &filter.cluster, cluster, Overflow::Cluster),
            consumer: self.capped(host, &filter.consumer, consumer, Overflow::Consumer),
            extras,
        };
        let names: Vec<&str> = filter.extras.iter().map(|e| e.name.as_str()).collect();
        let ids = match filter.series.ids(host, &filter.prefix, &names, &key) {
            Ok(Some(ids)) => Ok(ids),
            Ok(None) => {
                filter.count_overflow(host, Overflow::Series);
                filter
                    .series
                    .overflow_ids(host, &filter.prefix, &names, &key)
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
        let elapsed = host
            .now()
            .ok()
            .and_then(|now| now.duration_since(started).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let size = |path: &[&str]| {
            int_property(host, path)
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0)
        };
        let (request_bytes, response_bytes) = (
            size(&["request", "total_size"]),
            size(&["response", "total_size"]),
        );
        let results = [
            host.increment_metric(ids.requests, 1),
            host.record_metric(ids.duration, elapsed),
            host.record_metric(ids.request_bytes, request_bytes),
            host.record_metric(ids.response_bytes, response_bytes),
        ];
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            log::warn!("meshwasm metrics: cannot record: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
