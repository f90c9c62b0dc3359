//! The proxy-wasm side: reads from and writes to Envoy, and drives a
//! [`Filter`]'s stages. Nothing here decides anything.
//!
//! It calls `proxy_wasm::hostcalls` directly rather than the SDK's context
//! helpers, which `unwrap` host results (a header that is not UTF-8 would
//! trap the VM there).

use crate::config::{self, ConfigError, MAX_CONFIG_BYTES};
use crate::filter::Filter;
use crate::stage::{
    Flow, HeaderMap, Host, HostError, LocalResponse, Stage, MAX_HEADER_VALUE_BYTES,
};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, Status};
use std::rc::Rc;

/// Registers `F` as this module's only root context. Called from
/// [`export_filter!`](crate::export_filter) when the VM starts.
pub fn start<F: Filter>() {
    // Debug and trace lines are not even formatted in the hot path; Envoy
    // filters what it prints with `--component-log-level wasm:...`.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| Box::new(Root::<F> { filter: None }));
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

/// The per-plugin root context: holds the configured filter.
struct Root<F> {
    filter: Option<Rc<F>>,
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
        F::new(config::parse(&bytes)?)
    }
}

impl<F: Filter> Context for Root<F> {}

impl<F: Filter> RootContext for Root<F> {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        match Self::configure(plugin_configuration_size) {
            Ok(filter) => {
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
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// The per-request context: hands each phase to the stage.
struct Http<S> {
    stage: S,
}

impl<S> Context for Http<S> {}

impl<S: Stage> HttpContext for Http<S> {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match self.stage.on_request_headers(&mut ProxyHost) {
            Flow::Continue => Action::Continue,
            Flow::Respond(answer) => {
                send(&answer);
                Action::Pause
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.stage.on_response_headers(&mut ProxyHost);
        Action::Continue
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

/// [`Host`] over the current HTTP context's host calls.
struct ProxyHost;

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
    fn header(&self, map: HeaderMap, name: &str) -> Result<Option<String>, HostError> {
        let Some(bytes) =
            hostcalls::get_map_value_bytes(map_type(map), name).map_err(host_error)?
        else {
            return Ok(None);
        };
        if bytes.len() > MAX_HEADER_VALUE_BYTES {
            return Err(HostError::TooLarge {
                header: name.to_owned(),
                len: bytes.len(),
            });
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| HostError::NotUtf8 {
                header: name.to_owned(),
            })
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
}
