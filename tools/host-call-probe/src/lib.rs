//! What a filter's host calls cost in Envoy, with no filter around them.
//!
//! Configured with the host calls of each kind to make in each phase, in
//! the form `tools/bench-configs/host-calls.json` gives them for a bench
//! row (`{"request": {"header": 1, "now": 1}, "response": {}, "log": {}}`),
//! the filter makes exactly those calls when the request's headers arrive,
//! when the response's arrive and when the exchange is logged, and does
//! nothing else. `tools/bench.py` runs it as `floor-<row>`: what the row's
//! host calls cost where the row makes them, beside the empty filter's
//! entry into the VM, measured rather than summed from prices taken one
//! kind at a time (twenty calls in a row cost less each than one call amid
//! a request's other work). The kinds are the ones the in-memory test host
//! counts (`meshwasm_core::testing`).
//!
//! It is built beside the filters (`make build`) and never deployed.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType, MetricType, Status};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Registers the probe's root context. Called when the VM starts.
pub fn start() {
    proxy_wasm::set_root_context(|_| Box::new(ProbeRoot::default()));
}

// The module's entry point (inside a `const` block, as
// `meshwasm_core::export_filter!` does, so that it needs no doc comment).
#[cfg(target_arch = "wasm32")]
const _: () = {
    proxy_wasm::main! {{
        start();
    }}
};

/// A kind of host call, named as `meshwasm_core::testing` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    /// Read one request header (`x-tenant`).
    Header,
    /// Read the whole request header map.
    Headers,
    /// Set a request header.
    SetHeader,
    /// Remove a request header.
    RemoveHeader,
    /// Ask Envoy to pick the route again.
    ClearRouteCache,
    /// Increment a counter.
    IncrementMetric,
    /// Record a histogram sample.
    RecordMetric,
    /// Read a property (the response code, route and cluster in turn, as
    /// metrics reads them).
    Property,
    /// Read the clock.
    Now,
    /// Read a shared-data key.
    SharedGet,
    /// Write a shared-data key.
    SharedSet,
}

/// The calls of each kind to make in one phase.
type Calls = BTreeMap<Kind, u32>;

/// The configuration: the calls of each phase.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    request: Calls,
    #[serde(default)]
    response: Calls,
    #[serde(default)]
    log: Calls,
}

/// What each request does: the configured calls, and the metrics they
/// update, defined at configuration.
#[derive(Debug)]
struct Plan {
    calls: Config,
    counter: u32,
    histogram: u32,
    /// Counts the calls that failed (the bench checks it stays at 0).
    failed: u32,
}

/// The root context: reads the configuration and defines the metrics.
#[derive(Default)]
struct ProbeRoot {
    plan: Option<Rc<Plan>>,
}

impl Context for ProbeRoot {}

impl RootContext for ProbeRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let calls: Config = match serde_json::from_slice(&bytes) {
            Ok(calls) => calls,
            Err(err) => {
                log::error!("host-call probe: bad configuration: {err}");
                return false;
            }
        };
        let counter = hostcalls::define_metric(MetricType::Counter, "probe_counter");
        let histogram = hostcalls::define_metric(MetricType::Histogram, "probe_histogram");
        let failed = hostcalls::define_metric(MetricType::Counter, "probe_failed_calls");
        match (counter, histogram, failed) {
            (Ok(counter), Ok(histogram), Ok(failed)) => {
                self.plan = Some(Rc::new(Plan {
                    calls,
                    counter,
                    histogram,
                    failed,
                }));
                true
            }
            _ => false,
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let plan = self.plan.clone()?;
        Some(Box::new(ProbeHttp { plan }))
    }
}

/// One request: makes the plan's calls in each phase.
struct ProbeHttp {
    plan: Rc<Plan>,
}

impl Context for ProbeHttp {}

impl HttpContext for ProbeHttp {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        make(&self.plan, &self.plan.calls.request);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        make(&self.plan, &self.plan.calls.response);
        Action::Continue
    }

    fn on_log(&mut self) {
        make(&self.plan, &self.plan.calls.log);
    }
}

/// Makes one phase's calls.
fn make(plan: &Plan, calls: &Calls) {
    for (&kind, &n) in calls {
        for i in 0..n {
            if call(plan, kind, i).is_err() {
                let _ = hostcalls::increment_metric(plan.failed, 1);
            }
        }
    }
}

/// Headers the probe sets, one per set call of a phase (the chain sets two
/// different headers).
const SET: [&str; 4] = ["x-probe-0", "x-probe-1", "x-probe-2", "x-probe-3"];
/// Properties the probe reads in turn: those metrics reads at the end.
const PROPERTIES: [[&str; 2]; 3] = [
    ["response", "code"],
    ["xds", "route_name"],
    ["xds", "cluster_name"],
];

/// Makes the `i`th call of a kind in a phase, as meshwasm's adapter makes it.
fn call(plan: &Plan, kind: Kind, i: u32) -> Result<(), Status> {
    const HEADERS: MapType = MapType::HttpRequestHeaders;
    let nth = usize::try_from(i).unwrap_or(usize::MAX);
    match kind {
        Kind::Header => drop(hostcalls::get_map_value_bytes(HEADERS, "x-tenant")?),
        Kind::Headers => drop(hostcalls::get_map_bytes(HEADERS)?),
        Kind::SetHeader => {
            let name = SET.get(nth % SET.len()).copied().unwrap_or("x-probe");
            hostcalls::set_map_value(HEADERS, name, Some("1"))?;
        }
        // First the API key the bench request carries (auth removes it),
        // then headers it does not have.
        Kind::RemoveHeader => {
            let name = if i == 0 {
                "x-api-key"
            } else {
                "x-probe-absent"
            };
            hostcalls::set_map_value(HEADERS, name, None)?;
        }
        Kind::ClearRouteCache => {
            drop(hostcalls::call_foreign_function("clear_route_cache", None)?);
        }
        Kind::IncrementMetric => hostcalls::increment_metric(plan.counter, 1)?,
        Kind::RecordMetric => hostcalls::record_metric(plan.histogram, u64::from(i))?,
        Kind::Property => {
            let path = PROPERTIES
                .get(nth % PROPERTIES.len())
                .copied()
                .unwrap_or_default();
            drop(hostcalls::get_property(path.to_vec())?);
        }
        Kind::Now => drop(hostcalls::get_current_time()?),
        Kind::SharedGet => drop(hostcalls::get_shared_data("probe")?),
        Kind::SharedSet => hostcalls::set_shared_data("probe", Some(b"1"), None)?,
    }
    Ok(())
}
