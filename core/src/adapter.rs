//! The proxy-wasm side: reads from and writes to Envoy, and drives a
//! [`Filter`]'s stages. Nothing here decides anything.
//!
//! It calls `proxy_wasm::hostcalls` directly rather than the SDK's context
//! helpers, which `unwrap` host results (a header that is not UTF-8 would
//! trap the VM there).

use crate::config::{ConfigError, MAX_CONFIG_BYTES};
use crate::filter::Filter;
use crate::request::{Headers, Plans, Request};
use crate::stage::{
    self, CallResponse, Flow, GrpcCall, GrpcResponse, HeaderMap, Host, HostError, LocalResponse,
    MetricKind, OutboundCall, Proxy, Shared, Stage, Written, MAX_CALL_BODY_BYTES,
    MAX_HEADER_VALUE_BYTES,
};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};
use std::rc::Rc;
use std::time::SystemTime;

/// Registers `F` as this module's only root context. Called from
/// [`export_filter!`](crate::export_filter) when the VM starts.
pub fn start<F: Filter>() {
    // Debug and trace lines are not even formatted in the hot path; Envoy
    // filters what it prints with `--component-log-level wasm:...`.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| {
        Box::new(Root::<F> {
            filter: None,
            plans: Rc::default(),
        })
    });
}

/// Declares the module's entry point for a [`Filter`]: one line in the
/// filter crate's `lib.rs`.
#[macro_export]
macro_rules! export_filter {
    ($filter:ty) => {
        const _: () = {
            $crate::proxy_wasm::main! {{
                $crate::adapter::start::<$filter>();
            }}
        };
    };
}

/// The per-plugin root context: holds the configured filter, and what its
/// requests taught about reading headers.
struct Root<F> {
    filter: Option<Rc<F>>,
    plans: Rc<Plans>,
}

impl<F: Filter> Root<F> {
    fn configure(size: usize) -> Result<F, ConfigError> {
        if size > MAX_CONFIG_BYTES {
            return Err(ConfigError::new(
                "",
                format!("{size} bytes is larger than the {MAX_CONFIG_BYTES} bytes allowed"),
            ));
        }
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size)
            .map_err(|status| ConfigError::new("", format!("could not read it: {status:?}")))?
            .unwrap_or_default();
        F::configure(&bytes)
    }
}

impl<F: Filter> Context for Root<F> {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body_size: usize, _: usize) {
        if let Some(filter) = &self.filter {
            filter.on_call_response(
                &mut ProxyHost,
                token,
                &read_call_response(headers, body_size),
            );
        }
    }
}

impl<F: Filter> RootContext for Root<F> {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        match Self::configure(plugin_configuration_size) {
            Ok(filter) => {
                if let Some(period) = filter.tick_period() {
                    if let Err(status) = hostcalls::set_tick_period(period) {
                        log::error!("meshwasm {}: cannot set a timer: {status:?}", F::NAME);
                        return false;
                    }
                }
                log::info!("meshwasm {}: configured", F::NAME);
                self.filter = Some(Rc::new(filter));
                true
            }
            Err(err) => {
                log::error!("meshwasm {}: {err}", F::NAME);
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let filter = self.filter.as_ref()?;
        Some(Box::new(Http {
            stage: filter.stage(),
            plans: Rc::clone(&self.plans),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn on_tick(&mut self) {
        if let Some(filter) = &self.filter {
            filter.on_tick(&mut ProxyHost);
        }
    }
}

/// The per-request context: hands each phase to the stage, with a fresh
/// [`Request`] view per callback (other filters may have changed the
/// request since the last one).
struct Http<S> {
    stage: S,
    plans: Rc<Plans>,
}

impl<S: Stage> Context for Http<S> {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body_size: usize, _: usize) {
        let response = read_call_response(headers, body_size);
        let flow = stage::request_phase(
            &mut self.stage,
            &mut Request::planned(&mut ProxyHost, Some(&self.plans.call_response)),
            |stage, request| stage.on_call_response(request, token, &response),
        );
        resume(flow);
    }

    fn on_grpc_call_response(&mut self, token: u32, status: u32, size: usize) {
        let response = read_grpc_response(status, size);
        let flow = stage::request_phase(
            &mut self.stage,
            &mut Request::planned(&mut ProxyHost, Some(&self.plans.call_response)),
            |stage, request| stage.on_grpc_response(request, token, &response),
        );
        resume(flow);
    }
}

/// Carries out a held request's fate once its call was answered.
fn resume(flow: Flow) {
    match flow {
        Flow::Continue => {
            if let Err(status) = hostcalls::resume_http_request() {
                log::error!("meshwasm: could not resume a request: {status:?}");
            }
        }
        Flow::Respond(answer) => send(&answer),
        Flow::Pause => {}
    }
}

impl<S: Stage> HttpContext for Http<S> {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match stage::request_phase(
            &mut self.stage,
            &mut Request::planned(&mut ProxyHost, Some(&self.plans.request_headers)),
            |stage, request| stage.on_request_headers(request),
        ) {
            Flow::Continue => Action::Continue,
            Flow::Respond(answer) => {
                send(&answer);
                Action::Pause
            }
            Flow::Pause => Action::Pause,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.stage.on_response_headers(&mut Request::planned(
            &mut ProxyHost,
            Some(&self.plans.response_headers),
        ));
        Action::Continue
    }

    fn on_log(&mut self) {
        self.stage
            .on_log(&mut Request::planned(&mut ProxyHost, Some(&self.plans.log)));
    }
}

/// Sends a local response. If Envoy refuses it, the request stays paused
/// (and times out) rather than slipping through to the upstream.
fn send(answer: &LocalResponse) {
    let headers = answer
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if let Err(status) =
        hostcalls::send_http_response(u32::from(answer.status), headers, Some(&answer.body))
    {
        log::error!(
            "meshwasm: could not send a {} response: {status:?}",
            answer.status
        );
    }
}

/// Reads the answer to an outbound call, bounded; no answer at all
/// (timeout, failure) reads as no status.
fn read_call_response(num_headers: usize, body_size: usize) -> CallResponse {
    if num_headers == 0 {
        return CallResponse::default();
    }
    let headers: Vec<(String, String)> = hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| v.len() <= MAX_HEADER_VALUE_BYTES)
        .filter_map(|(n, v)| Some((n.to_ascii_lowercase(), String::from_utf8(v).ok()?)))
        .collect();
    let status = headers
        .iter()
        .find(|(n, _)| n == ":status")
        .and_then(|(_, v)| v.parse().ok());
    let read = body_size.min(MAX_CALL_BODY_BYTES);
    let body = if read == 0 {
        Vec::new()
    } else {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, read)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    CallResponse {
        status,
        headers,
        body,
        truncated: body_size > read,
    }
}

/// Reads the answer to a gRPC call, bounded: the message only when the
/// status is OK.
fn read_grpc_response(status: u32, size: usize) -> GrpcResponse {
    let read = size.min(MAX_CALL_BODY_BYTES);
    let message = if status != 0 || read == 0 {
        Vec::new()
    } else {
        hostcalls::get_buffer(BufferType::GrpcReceiveBuffer, 0, read)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    GrpcResponse {
        status,
        message,
        truncated: status == 0 && size > read,
    }
}

/// [`Host`] over the current context's host calls, one for one: what to
/// read and when is the [`Request`] view's business.
#[derive(Debug, Clone, Copy)]
struct ProxyHost;

impl Proxy for ProxyHost {
    fn now(&self) -> Result<SystemTime, HostError> {
        hostcalls::get_current_time().map_err(host_error)
    }

    fn dispatch(&mut self, call: &OutboundCall<'_>) -> Result<u32, HostError> {
        hostcalls::dispatch_http_call(
            call.cluster,
            call.headers.clone(),
            call.body,
            Vec::new(),
            call.timeout,
        )
        .map_err(host_error)
    }

    fn dispatch_grpc(&mut self, call: &GrpcCall<'_>) -> Result<u32, HostError> {
        hostcalls::dispatch_grpc_call(
            call.cluster,
            call.service,
            call.method,
            Vec::new(),
            Some(call.message),
            call.timeout,
        )
        .map_err(host_error)
    }

    fn shared_get(&self, key: &str) -> Result<Option<Shared>, HostError> {
        match hostcalls::get_shared_data(key).map_err(host_error)? {
            (Some(value), Some(cas)) => Ok(Some(Shared { value, cas })),
            (None, Some(cas)) => Ok(Some(Shared {
                value: Vec::new(),
                cas,
            })),
            _ => Ok(None),
        }
    }

    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<Written, HostError> {
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(Written::Yes),
            Err(Status::CasMismatch) => Ok(Written::Conflict),
            Err(status) => Err(host_error(status)),
        }
    }

    fn define_metric(&mut self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Histogram => MetricType::Histogram,
        };
        hostcalls::define_metric(kind, name).map_err(host_error)
    }

    fn increment_metric(&mut self, id: u32, by: i64) -> Result<(), HostError> {
        hostcalls::increment_metric(id, by).map_err(host_error)
    }

    fn record_metric(&mut self, id: u32, value: u64) -> Result<(), HostError> {
        hostcalls::record_metric(id, value).map_err(host_error)
    }
}

fn map_type(map: HeaderMap) -> MapType {
    match map {
        HeaderMap::Request => MapType::HttpRequestHeaders,
        HeaderMap::Response => MapType::HttpResponseHeaders,
    }
}

fn host_error(status: Status) -> HostError {
    HostError::Status(format!("{status:?}"))
}

impl Host for ProxyHost {
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        hostcalls::get_property(path.to_vec()).map_err(host_error)
    }

    fn header(&self, map: HeaderMap, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        hostcalls::get_map_value_bytes(map_type(map), name).map_err(host_error)
    }

    fn headers(&self, map: HeaderMap) -> Result<Headers, HostError> {
        hostcalls::get_map_bytes(map_type(map)).map_err(host_error)
    }

    fn set_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        hostcalls::set_map_value(map_type(map), name, Some(value)).map_err(host_error)
    }

    fn add_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        hostcalls::add_map_value(map_type(map), name, value).map_err(host_error)
    }

    fn remove_header(&mut self, map: HeaderMap, name: &str) -> Result<(), HostError> {
        hostcalls::set_map_value(map_type(map), name, None).map_err(host_error)
    }

    fn clear_route_cache(&mut self) -> Result<(), HostError> {
        hostcalls::call_foreign_function("clear_route_cache", None)
            .map(drop)
            .map_err(host_error)
    }
}
