//! A meshwasm filter for testing the native build, never deployed.
//!
//! Its stage does nothing, so in Envoy it costs what the native adapter
//! costs around any filter (`tools/bench.py` measures it as the
//! `empty-dm` row). A request with `x-panic: request`, `response` or
//! `log` makes it panic in that phase: the e2e tests
//! (`tests/tests/native.rs`) check that the adapter catches the panic at
//! Envoy's boundary, answers 500 while the request is still on its way, and
//! that Envoy and later requests are unharmed.
//!
//! With `{"counters": N}` it also adds 1 to a counter with two labels N
//! times per request: the benchmarks' `metric-records-dm` row, which
//! measures what one labelled metric update costs in Envoy's
//! dynamic-module ABI.
//!
//! Filter code never panics (the workspace lints deny it); this crate
//! panics on purpose.

use meshwasm_core::metrics::CounterFamily;
use meshwasm_core::request::Request;
use meshwasm_core::{ConfigError, Filter, Flow, Stage, Validate};
use serde::Deserialize;
use std::rc::Rc;

/// The most counter updates per request a probe may be asked for.
pub const MAX_COUNTERS: u32 = 100;

/// The probe.
#[derive(Debug)]
pub struct Probe {
    counters: u32,
    /// `meshwasm_probe_updates_total{phase, kind}`.
    updates: CounterFamily,
}

/// The probe's configuration: `{}`, or how many counter updates to make
/// per request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Counter updates per request (0 to [`MAX_COUNTERS`]).
    #[serde(default)]
    counters: u32,
}

impl Validate for ProbeConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.counters > MAX_COUNTERS {
            return Err(ConfigError::new(
                "counters",
                format!("at most {MAX_COUNTERS} updates per request"),
            ));
        }
        Ok(())
    }
}

/// The probe's stage.
#[derive(Debug)]
pub struct ProbeStage(Rc<Probe>);

impl ProbeStage {
    /// Panics if the request asks for a panic in `phase`.
    #[allow(clippy::panic)] // The point of this filter.
    fn maybe_panic(request: &Request<'_>, phase: &str) {
        if matches!(request.header("x-panic"), Ok(Some(asked)) if asked == phase.as_bytes()) {
            panic!("meshwasm probe: asked to panic in {phase}");
        }
    }
}

impl Stage for ProbeStage {
    fn on_request_headers(&mut self, request: &mut Request<'_>) -> Flow {
        Self::maybe_panic(request, "request");
        for _ in 0..self.0.counters {
            self.0.updates.increment(request, &["request", "probe"]);
        }
        Flow::Continue
    }

    fn on_response_headers(&mut self, request: &mut Request<'_>) {
        Self::maybe_panic(request, "response");
    }

    fn on_log(&mut self, request: &mut Request<'_>) {
        Self::maybe_panic(request, "log");
    }
}

impl Filter for Probe {
    const NAME: &'static str = "probe";
    type Config = ProbeConfig;
    type Stage = ProbeStage;

    fn new(config: ProbeConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            counters: config.counters,
            updates: CounterFamily::new("meshwasm_probe_updates_total", &["phase", "kind"]),
        })
    }

    fn stage(self: &Rc<Self>) -> ProbeStage {
        ProbeStage(Rc::clone(self))
    }
}

#[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
meshwasm_core::export_native_filter!(Probe);
