//! The native side: the same [`Filter`]s and [`Stage`]s as a shared
//! library Envoy loads through its dynamic-module C ABI
//! (`envoy.extensions.filters.http.dynamic_modules`), beside the
//! proxy-wasm [`adapter`](crate::adapter). Nothing here decides anything:
//! it reads the same JSON configuration (the filter config string), builds
//! the same filter, hands each request phase to the stage through the same
//! [`Request`] view, and carries out what the stage decides.
//!
//! A filter crate's `lib.rs` exports it with one line:
//! `meshwasm_core::export_native_filter!(Auth);` (behind its `native`
//! feature), and `cargo build --profile native --features native` makes
//! `libmeshwasm_<name>.so`.
//!
//! # How it maps onto Envoy
//!
//! - **Configuration**: `on_http_filter_config_new` (main thread) parses,
//!   validates and builds the filter once, as the Wasm build's
//!   `on_configure` does, logging the same lines; a refused configuration
//!   makes Envoy refuse the filter. The metric families the filter
//!   declared while it was built are defined then ([`metrics`]).
//! - **Workers**: each Envoy worker thread builds its own filter from the
//!   configuration the first time it needs it, as each worker runs its own
//!   Wasm VM: per-worker caches (verified tokens, series ids, fetched
//!   keys) stay per worker and need no locks.
//! - **Requests**: a stream's stage lives from `on_http_filter_new` to
//!   `on_http_filter_destroy`; `request_headers`, `response_headers` and
//!   `stream_complete` (the Wasm build's `on_log`) each get a fresh
//!   [`Request`] view; calls the stage dispatched are answered in
//!   `http_callout_done`, and the held request resumes there.
//! - **Shared data** is process memory ([`shared`]), exact across workers.
//! - **Timers**: the ABI has none a filter configuration can set. What a
//!   Wasm filter does on its timer ([`Filter::on_tick`]: sweeping idle
//!   rate-limit slots, refreshing a key set) runs at the start of a
//!   request instead, at most once per period on each worker; when it
//!   sends calls (a key-set refresh), that one request waits for their
//!   answers (at most the calls' timeout) before its stage runs, so it
//!   already sees the new keys.
//! - **Panics** cannot unwind into Envoy: every hook runs inside
//!   [`std::panic::catch_unwind`] (the native profile unwinds). A panic is
//!   logged; a request still on its way is answered with a 500, the
//!   stream's stage is dropped, and the worker builds a fresh filter for
//!   the next request.

// The one module that may use `unsafe`: Envoy's C ABI.
#[allow(unsafe_code)]
pub mod abi;
mod metrics;
mod shared;

use crate::config::{ConfigError, MAX_CONFIG_BYTES};
use crate::filter::Filter;
use crate::request::{Headers, Plans, Request};
use crate::stage::{
    self, CallResponse, Flow, GrpcCall, HeaderMap, Host, HostError, LocalResponse, MetricKind,
    OutboundCall, Proxy, Shared, Stage, Written, MAX_CALL_BODY_BYTES, MAX_HEADER_VALUE_BYTES,
};
use abi::{
    AbiVersion, Attribute, ConfigEnvoy, EnvoyBytes, EnvoyChunks, EnvoyHeaders, FilterEnvoy,
    HeaderType, Level, ModulePtr,
};
use metrics::{Change, Families, WorkerSeries};
use shared::SharedStore;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

#[cfg(panic = "abort")]
compile_error!(
    "the native build catches panics at Envoy's boundary, which needs unwinding: \
     build it with `--profile native` (panic = \"unwind\")"
);

// ---------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------

/// Sends the `log` crate's lines to Envoy's `dynamic_modules` logger, at
/// `info` and above (as the Wasm build does).
struct EnvoyLogger;

impl log::Log for EnvoyLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warn,
            log::Level::Info => Level::Info,
            log::Level::Debug => Level::Debug,
            log::Level::Trace => Level::Trace,
        };
        if abi::log_enabled(level) {
            abi::log(level, &record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static LOGGER: EnvoyLogger = EnvoyLogger;

/// What a panic said.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Runs `work` at Envoy's boundary: a panic is logged and becomes `None`.
fn boundary<T>(filter: &str, hook: &str, work: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(value) => Some(value),
        Err(payload) => {
            log::error!(
                "meshwasm {filter}: panicked in {hook}: {}",
                panic_message(payload.as_ref())
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// A configured filter, as Envoy holds it: the JSON to build each worker's
/// filter from, and what all workers share.
pub struct Config<F> {
    /// Tells the workers' copies apart from other configurations'.
    id: u64,
    json: Vec<u8>,
    families: Families,
    store: Arc<SharedStore>,
    tick: Option<Duration>,
    /// Alive while the configuration is: workers drop their filters for a
    /// configuration Envoy destroyed.
    alive: Arc<()>,
    _filter: PhantomData<fn() -> F>,
}

/// Builds the filter from the configuration Envoy gives, as the Wasm
/// build's `on_configure` does.
fn configure<F: Filter>(
    envoy: ConfigEnvoy,
    name: &[u8],
    json: Vec<u8>,
) -> Result<Config<F>, ConfigError> {
    if json.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::new(
            "",
            format!(
                "{} bytes is larger than the {MAX_CONFIG_BYTES} bytes allowed",
                json.len()
            ),
        ));
    }
    let (built, families) = crate::metrics::collect_declared(|| F::configure(&json));
    let filter = built?;
    if let Some(refusal) = crate::filter::native_refusal(&filter) {
        return Err(refusal);
    }
    let families =
        Families::define(envoy, families).map_err(|reason| ConfigError::new("", reason))?;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    Ok(Config {
        id: NEXT.fetch_add(1, Ordering::Relaxed),
        tick: filter.tick_period(),
        json,
        families,
        store: SharedStore::named(&String::from_utf8_lossy(name)),
        alive: Arc::new(()),
        _filter: PhantomData,
    })
}

// ---------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------

/// One worker thread's copy of a configured filter, and what it learned.
struct Worker<F> {
    filter: RefCell<Option<Rc<F>>>,
    plans: Plans,
    series: WorkerSeries,
    /// When the filter's background work is next due.
    next_tick: Cell<Option<Instant>>,
    /// The last token handed out for a call.
    tokens: Cell<u32>,
}

/// A worker's filter for one configuration: the configuration's id, its
/// liveness, and the [`Worker`].
type WorkerSlot = (u64, Weak<()>, Rc<dyn Any>);

thread_local! {
    /// This worker's filters, by configuration.
    static WORKERS: RefCell<Vec<WorkerSlot>> = const { RefCell::new(Vec::new()) };
}

impl<F: Filter> Worker<F> {
    /// This thread's worker for `config`, made on first use.
    fn of(config: &Config<F>) -> Rc<Self> {
        WORKERS.with(|workers| {
            let mut workers = workers.borrow_mut();
            let found = workers
                .iter()
                .find(|(id, _, _)| *id == config.id)
                .and_then(|(_, _, worker)| Rc::clone(worker).downcast::<Self>().ok());
            if let Some(worker) = found {
                return worker;
            }
            // Forget the workers of configurations Envoy destroyed.
            workers.retain(|(_, alive, _)| alive.strong_count() > 0);
            let worker = Rc::new(Self {
                filter: RefCell::new(None),
                plans: Plans::one_by_one(),
                series: WorkerSeries::default(),
                next_tick: Cell::new(None),
                tokens: Cell::new(0),
            });
            workers.push((
                config.id,
                Arc::downgrade(&config.alive),
                Rc::clone(&worker) as Rc<dyn Any>,
            ));
            worker
        })
    }

    /// The worker's filter, built from the configuration on first use
    /// (and again after a panic dropped it).
    fn filter(&self, config: &Config<F>) -> Result<Rc<F>, ConfigError> {
        if let Some(filter) = &*self.filter.borrow() {
            return Ok(Rc::clone(filter));
        }
        let filter = Rc::new(F::configure(&config.json)?);
        *self.filter.borrow_mut() = Some(Rc::clone(&filter));
        Ok(filter)
    }

    /// Whether the filter's background work is due now; if so, the next
    /// time it will be.
    fn tick_due(&self, period: Duration) -> bool {
        let now = Instant::now();
        match self.next_tick.get() {
            Some(next) if now < next => false,
            _ => {
                self.next_tick.set(Some(now + period));
                true
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

/// Who sent a call, and so gets its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The stage ([`Stage::on_call_response`]).
    Stage,
    /// The filter's background work ([`Filter::on_call_response`]).
    Filter,
}

/// A call sent through Envoy and not yet answered.
#[derive(Debug, Clone, Copy)]
struct Call {
    envoy_id: u64,
    token: u32,
    owner: Owner,
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Its headers have not come yet.
    Before,
    /// Its headers came; it waits for the filter's background calls
    /// before its stage sees them.
    Ticking,
    /// The stage has it.
    Staged,
    /// It was answered, or let go: the stage's decision is carried out.
    Decided,
}

/// An answer that came while the stream was busy (Envoy answered a call
/// inside the call that sent it): handled once the stream is free.
struct Answer {
    envoy_id: u64,
    response: CallResponse,
}

/// One stream's state, handed to Envoy as the filter's module pointer.
/// Hooks borrow it shared; what changes sits in cells, so a hook Envoy
/// re-enters while another runs on the same stream never aliases.
pub struct Stream<F: Filter> {
    envoy: FilterEnvoy,
    config: Arc<Config<F>>,
    worker: Rc<Worker<F>>,
    filter: Option<Rc<F>>,
    stage: RefCell<Option<F::Stage>>,
    phase: Cell<Phase>,
    calls: RefCell<Vec<Call>>,
    waiting: RefCell<VecDeque<Answer>>,
    /// A hook is running the filter's code on this stream.
    busy: Cell<bool>,
    /// The request headers changed since the route was last picked.
    rerouted: Cell<bool>,
}

/// Marks a stream busy while it lives (a panic unwinding through it too).
struct Busy<'s>(&'s Cell<bool>);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// What a hook does once the stage has decided.
enum Act {
    /// Let the request go on.
    Continue,
    /// Answer it.
    Respond(LocalResponse),
    /// Keep holding it.
    Hold,
}

impl From<Flow> for Act {
    fn from(flow: Flow) -> Self {
        match flow {
            Flow::Continue => Act::Continue,
            Flow::Respond(answer) => Act::Respond(answer),
            Flow::Pause => Act::Hold,
        }
    }
}

/// The answer to a request when the filter failed.
fn internal_error() -> LocalResponse {
    LocalResponse::json_error(500, "internal_error", "the filter failed")
}

impl<F: Filter> Stream<F> {
    fn new(envoy: FilterEnvoy, config: Arc<Config<F>>) -> Self {
        let worker = Worker::of(&config);
        let filter = match worker.filter(&config) {
            Ok(filter) => Some(filter),
            Err(err) => {
                log::error!("meshwasm {}: {err}", F::NAME);
                None
            }
        };
        let stage = filter.as_ref().map(Filter::stage);
        Self {
            envoy,
            config,
            worker,
            filter,
            stage: RefCell::new(stage),
            phase: Cell::new(Phase::Before),
            calls: RefCell::new(Vec::new()),
            waiting: RefCell::new(VecDeque::new()),
            busy: Cell::new(false),
            rerouted: Cell::new(false),
        }
    }

    /// Makes Envoy pick the route again if the request headers changed,
    /// as Envoy does after a Wasm filter changes them.
    fn reroute(&self) {
        if self.rerouted.replace(false) {
            abi::clear_route_cache(self.envoy);
        }
    }

    /// Marks the stream busy; `None` if it already is (Envoy re-entered a
    /// hook from a callback the filter's code made).
    fn enter(&self) -> Option<Busy<'_>> {
        if self.busy.replace(true) {
            return None;
        }
        Some(Busy(&self.busy))
    }

    fn host(&self, owner: Owner) -> NativeHost<'_> {
        NativeHost {
            envoy: self.envoy,
            owner,
            rerouted: &self.rerouted,
            calls: &self.calls,
            tokens: &self.worker.tokens,
            families: &self.config.families,
            series: &self.worker.series,
            store: &self.config.store,
        }
    }

    fn pending(&self, owner: Owner) -> bool {
        self.calls.borrow().iter().any(|c| c.owner == owner)
    }

    /// Runs `work` on the stage, unless it has none (a panic dropped it,
    /// or the filter could not be built).
    fn with_stage<T>(&self, work: impl FnOnce(&mut F::Stage) -> T) -> Option<T> {
        let mut stage = self.stage.try_borrow_mut().ok()?;
        stage.as_mut().map(work)
    }

    /// The request headers came: the filter's background work first, if
    /// due, then the stage.
    fn request_headers(&self) -> Act {
        let Some(_busy) = self.enter() else {
            return Act::Continue;
        };
        let Some(filter) = self.filter.clone() else {
            self.phase.set(Phase::Decided);
            return Act::Respond(internal_error());
        };
        if let Some(period) = self.config.tick {
            if self.worker.tick_due(period) {
                filter.on_tick(&mut self.host(Owner::Filter));
                if self.pending(Owner::Filter) {
                    self.phase.set(Phase::Ticking);
                    let act = self.settle(Act::Hold);
                    self.reroute();
                    return act;
                }
            }
        }
        let act = self.run_stage();
        let act = self.settle(act);
        self.reroute();
        act
    }

    /// Hands the request headers to the stage.
    fn run_stage(&self) -> Act {
        self.phase.set(Phase::Staged);
        let plan = &self.worker.plans.request_headers;
        let mut host = self.host(Owner::Stage);
        self.with_stage(|stage| {
            Act::from(stage::request_phase(
                stage,
                &mut Request::planned(&mut host, Some(plan)),
                |stage, request| stage.on_request_headers(request),
            ))
        })
        .unwrap_or(Act::Continue)
    }

    /// Handles the answer to one call; what to do with the request then.
    fn answer(&self, envoy_id: u64, response: &CallResponse) -> Act {
        let call = {
            let mut calls = self.calls.borrow_mut();
            let Some(at) = calls.iter().position(|c| c.envoy_id == envoy_id) else {
                return Act::Hold;
            };
            calls.remove(at)
        };
        match call.owner {
            Owner::Filter => {
                if let Some(filter) = &self.filter {
                    filter.on_call_response(&mut self.host(Owner::Filter), call.token, response);
                }
                if self.phase.get() == Phase::Ticking && !self.pending(Owner::Filter) {
                    self.run_stage()
                } else {
                    Act::Hold
                }
            }
            Owner::Stage => {
                let plan = &self.worker.plans.call_response;
                let mut host = self.host(Owner::Stage);
                self.with_stage(|stage| {
                    Act::from(stage::request_phase(
                        stage,
                        &mut Request::planned(&mut host, Some(plan)),
                        |stage, request| stage.on_call_response(request, call.token, response),
                    ))
                })
                .unwrap_or(Act::Hold)
            }
        }
    }

    /// Takes the answers that came while the stream was busy, as long as
    /// the request is held.
    fn settle(&self, mut act: Act) -> Act {
        while matches!(act, Act::Hold) {
            let Some(next) = self.waiting.borrow_mut().pop_front() else {
                break;
            };
            act = self.answer(next.envoy_id, &next.response);
        }
        if !matches!(act, Act::Hold) {
            self.phase.set(Phase::Decided);
        }
        act
    }

    /// A call's answer came (`http_callout_done`): hands it on, or keeps
    /// it for later if the stream is busy; what to do with the request.
    fn callout_done(&self, envoy_id: u64, response: CallResponse) -> Act {
        let Some(_busy) = self.enter() else {
            self.waiting
                .borrow_mut()
                .push_back(Answer { envoy_id, response });
            return Act::Hold;
        };
        if self.phase.get() == Phase::Decided {
            // The request went on already: nothing to resume.
            self.answer(envoy_id, &response);
            return Act::Hold;
        }
        let act = self.answer(envoy_id, &response);
        let act = self.settle(act);
        self.reroute();
        act
    }

    fn response_headers(&self) {
        let Some(_busy) = self.enter() else {
            return;
        };
        let plan = &self.worker.plans.response_headers;
        let mut host = self.host(Owner::Stage);
        self.with_stage(|stage| {
            stage.on_response_headers(&mut Request::planned(&mut host, Some(plan)));
        });
    }

    fn complete(&self) {
        let Some(_busy) = self.enter() else {
            return;
        };
        let plan = &self.worker.plans.log;
        let mut host = self.host(Owner::Stage);
        self.with_stage(|stage| stage.on_log(&mut Request::planned(&mut host, Some(plan))));
    }

    /// After a panic: no more stage for this stream, and a fresh filter
    /// for the worker's next request.
    fn poison(&self) {
        if let Ok(mut stage) = self.stage.try_borrow_mut() {
            stage.take();
        }
        if let Ok(mut filter) = self.worker.filter.try_borrow_mut() {
            filter.take();
        }
    }

    /// Carries out `act` in a hook that may answer the request: Envoy's
    /// header status.
    fn carry_out_in_headers(&self, act: Act) -> u32 {
        match act {
            Act::Continue => abi::CONTINUE,
            Act::Respond(answer) => {
                send(self.envoy, &answer);
                abi::STOP_ITERATION
            }
            Act::Hold => abi::STOP_ITERATION,
        }
    }

    /// Carries out `act` for a held request.
    fn carry_out_later(&self, act: Act) {
        match act {
            Act::Continue => abi::continue_decoding(self.envoy),
            Act::Respond(answer) => send(self.envoy, &answer),
            Act::Hold => {}
        }
    }
}

/// Sends a local response.
fn send(envoy: FilterEnvoy, answer: &LocalResponse) {
    abi::send_response(
        envoy,
        answer.status,
        &answer.headers,
        &answer.body,
        "meshwasm",
    );
}

/// Reads a call's answer, bounded as the Wasm build reads it; no answer
/// (reset, timeout) reads as no status.
fn call_response(
    result: u32,
    headers: &EnvoyHeaders,
    headers_size: usize,
    chunks: &EnvoyChunks,
    chunks_size: usize,
) -> CallResponse {
    if result != abi::CALLOUT_SUCCESS {
        return CallResponse::default();
    }
    let headers: Vec<(String, String)> = headers
        .to_vec(headers_size)
        .into_iter()
        .filter(|(_, v)| v.len() <= MAX_HEADER_VALUE_BYTES)
        .filter_map(|(n, v)| Some((n, String::from_utf8(v).ok()?)))
        .collect();
    let status = headers
        .iter()
        .find(|(n, _)| n == ":status")
        .and_then(|(_, v)| v.parse().ok());
    let mut body = Vec::new();
    let truncated = chunks.append_to(chunks_size, &mut body, MAX_CALL_BODY_BYTES);
    CallResponse {
        status,
        headers,
        body,
        truncated,
    }
}

// ---------------------------------------------------------------------------
// The host
// ---------------------------------------------------------------------------

/// [`Host`] over one stream's callbacks, one for one: what to read and
/// when is the [`Request`] view's business.
struct NativeHost<'s> {
    envoy: FilterEnvoy,
    owner: Owner,
    rerouted: &'s Cell<bool>,
    calls: &'s RefCell<Vec<Call>>,
    tokens: &'s Cell<u32>,
    families: &'s Families,
    series: &'s WorkerSeries,
    store: &'s SharedStore,
}

fn header_type(map: HeaderMap) -> HeaderType {
    match map {
        HeaderMap::Request => HeaderType::Request,
        HeaderMap::Response => HeaderType::Response,
    }
}

fn refused(what: &str) -> HostError {
    HostError::Status(format!("Envoy refused {what}"))
}

impl Proxy for NativeHost<'_> {
    fn now(&self) -> Result<SystemTime, HostError> {
        Ok(SystemTime::now())
    }

    fn dispatch(&mut self, call: &OutboundCall<'_>) -> Result<u32, HostError> {
        let timeout = u64::try_from(call.timeout.as_millis()).unwrap_or(u64::MAX);
        let envoy_id = abi::http_callout(
            self.envoy,
            call.cluster,
            &call.headers,
            call.body.unwrap_or_default(),
            timeout,
        )
        .map_err(|why| HostError::Status(format!("callout refused: {why}")))?;
        let token = self.tokens.get().wrapping_add(1).max(1);
        self.tokens.set(token);
        self.calls.borrow_mut().push(Call {
            envoy_id,
            token,
            owner: self.owner,
        });
        Ok(token)
    }

    fn dispatch_grpc(&mut self, _call: &GrpcCall<'_>) -> Result<u32, HostError> {
        Err(HostError::Status(
            "the native build has no gRPC calls (Envoy's dynamic-module ABI has none)".to_owned(),
        ))
    }

    fn shared_get(&self, key: &str) -> Result<Option<Shared>, HostError> {
        Ok(self.store.get(key))
    }

    fn shared_set(
        &mut self,
        key: &str,
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<Written, HostError> {
        Ok(self.store.set(key, value, cas))
    }

    fn define_metric(&mut self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        self.series.define(self.families, kind, name)
    }

    fn increment_metric(&mut self, id: u32, by: i64) -> Result<(), HostError> {
        self.series.record(self.envoy, id, Change::Add(by))
    }

    fn record_metric(&mut self, id: u32, value: u64) -> Result<(), HostError> {
        self.series.record(self.envoy, id, Change::Sample(value))
    }
}

impl NativeHost<'_> {
    /// Notes a change to `map`: the route is picked again after the
    /// callback if it was the request's.
    fn changed(&self, map: HeaderMap) {
        if map == HeaderMap::Request {
            self.rerouted.set(true);
        }
    }
}

/// An integer property as proxy-wasm gives it: 8 bytes, little-endian.
fn int_property(value: Option<u64>) -> Option<Vec<u8>> {
    value.map(|v| v.to_le_bytes().to_vec())
}

impl Host for NativeHost<'_> {
    /// The properties the filters read, from Envoy's attributes; others
    /// are absent.
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        let string = |attribute| Ok(abi::attribute_string(self.envoy, attribute));
        let int = |attribute| Ok(int_property(abi::attribute_int(self.envoy, attribute)));
        match path {
            ["source", "address"] => string(Attribute::SourceAddress),
            ["response", "code"] => int(Attribute::ResponseCode),
            ["request", "total_size"] => int(Attribute::RequestTotalSize),
            ["response", "total_size"] => int(Attribute::ResponseTotalSize),
            ["xds", "route_name"] | ["route_name"] => string(Attribute::XdsRouteName),
            ["xds", "cluster_name"] | ["cluster_name"] => string(Attribute::XdsClusterName),
            _ => Ok(None),
        }
    }

    fn header(&self, map: HeaderMap, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(abi::get_header(self.envoy, header_type(map), name))
    }

    fn headers(&self, map: HeaderMap) -> Result<Headers, HostError> {
        abi::get_headers(self.envoy, header_type(map))
            .map_err(|abi::Refused| refused("a header map read"))
    }

    fn set_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        self.changed(map);
        abi::set_header(self.envoy, header_type(map), name, Some(value))
            .then_some(())
            .ok_or_else(|| refused("a header write"))
    }

    fn add_header(&mut self, map: HeaderMap, name: &str, value: &str) -> Result<(), HostError> {
        self.changed(map);
        abi::add_header(self.envoy, header_type(map), name, value)
            .then_some(())
            .ok_or_else(|| refused("a header write"))
    }

    fn remove_header(&mut self, map: HeaderMap, name: &str) -> Result<(), HostError> {
        self.changed(map);
        abi::set_header(self.envoy, header_type(map), name, None)
            .then_some(())
            .ok_or_else(|| refused("a header removal"))
    }

    fn clear_route_cache(&mut self) -> Result<(), HostError> {
        abi::clear_route_cache(self.envoy);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The hooks, as the exported entry points call them
// ---------------------------------------------------------------------------

/// The event hooks [`export_native_filter!`](crate::export_native_filter)
/// exports, each run at the panic boundary.
#[doc(hidden)]
pub mod hooks {
    use super::*;

    fn stream<F: Filter>(module: &ModulePtr) -> Option<&Stream<F>> {
        abi::module_ref(module, PhantomData::<Stream<F>>)
    }

    fn config<F: Filter>(module: &ModulePtr) -> Option<&Arc<Config<F>>> {
        abi::module_ref(module, PhantomData::<Arc<Config<F>>>)
    }

    /// `envoy_dynamic_module_on_program_init`.
    pub fn program_init<F: Filter>() -> AbiVersion {
        boundary(F::NAME, "program init", || {
            let _ = log::set_logger(&LOGGER);
            log::set_max_level(log::LevelFilter::Info);
            match abi::check_envoy() {
                Ok(()) => abi::abi_version(),
                Err(missing) => {
                    abi::log(
                        Level::Critical,
                        &format!(
                            "meshwasm {}: this build is for Envoy {} (dynamic-module ABI {}); \
                             this Envoy lacks {}: it is older. Use the build made for it.",
                            F::NAME,
                            abi::ENVOY_VERSION,
                            abi::ABI_VERSION.to_string_lossy(),
                            missing.to_string_lossy(),
                        ),
                    );
                    abi::refuse_to_load()
                }
            }
        })
        .unwrap_or_else(abi::refuse_to_load)
    }

    /// `envoy_dynamic_module_on_http_filter_config_new`.
    pub fn config_new<F: Filter>(
        envoy: ConfigEnvoy,
        name: &EnvoyBytes,
        config: &EnvoyBytes,
    ) -> ModulePtr {
        boundary(F::NAME, "configuration", || {
            match configure::<F>(envoy, &name.to_vec(), config.to_vec()) {
                Ok(config) => {
                    log::info!("meshwasm {}: configured", F::NAME);
                    abi::into_module_ptr(Box::new(Arc::new(config)))
                }
                Err(err) => {
                    log::error!("meshwasm {}: {err}", F::NAME);
                    abi::null_module_ptr()
                }
            }
        })
        .unwrap_or_else(abi::null_module_ptr)
    }

    /// `envoy_dynamic_module_on_http_filter_config_destroy`.
    pub fn config_destroy<F: Filter>(module: ModulePtr) {
        boundary(F::NAME, "configuration destroy", || {
            drop(abi::take_box(module, PhantomData::<Arc<Config<F>>>));
        });
    }

    /// `envoy_dynamic_module_on_http_filter_per_route_config_new`: refused.
    pub fn per_route_config_new<F: Filter>() -> ModulePtr {
        boundary(F::NAME, "per-route configuration", || {
            log::error!(
                "meshwasm {}: per-route configuration is not supported: configure the filter \
                 once, and use its rules to tell routes apart",
                F::NAME
            );
        });
        abi::null_module_ptr()
    }

    /// `envoy_dynamic_module_on_http_filter_new`.
    pub fn filter_new<F: Filter>(module: &ModulePtr, envoy: FilterEnvoy) -> ModulePtr {
        boundary(F::NAME, "stream start", || {
            let Some(config) = config::<F>(module) else {
                return abi::null_module_ptr();
            };
            abi::into_module_ptr(Box::new(Stream::<F>::new(envoy, Arc::clone(config))))
        })
        .unwrap_or_else(abi::null_module_ptr)
    }

    /// `envoy_dynamic_module_on_http_filter_request_headers`.
    pub fn request_headers<F: Filter>(module: &ModulePtr) -> u32 {
        let Some(stream) = stream::<F>(module) else {
            return abi::CONTINUE;
        };
        match boundary(F::NAME, "request headers", || stream.request_headers()) {
            Some(act) => stream.carry_out_in_headers(act),
            None => {
                stream.poison();
                send(stream.envoy, &internal_error());
                abi::STOP_ITERATION
            }
        }
    }

    /// `envoy_dynamic_module_on_http_filter_response_headers`.
    pub fn response_headers<F: Filter>(module: &ModulePtr) -> u32 {
        if let Some(stream) = stream::<F>(module) {
            if boundary(F::NAME, "response headers", || stream.response_headers()).is_none() {
                stream.poison();
            }
        }
        abi::CONTINUE
    }

    /// `envoy_dynamic_module_on_http_filter_stream_complete`.
    pub fn stream_complete<F: Filter>(module: &ModulePtr) {
        if let Some(stream) = stream::<F>(module) {
            if boundary(F::NAME, "stream complete", || stream.complete()).is_none() {
                stream.poison();
            }
        }
    }

    /// `envoy_dynamic_module_on_http_filter_destroy`.
    pub fn destroy<F: Filter>(module: ModulePtr) {
        boundary(F::NAME, "stream destroy", || {
            drop(abi::take_box(module, PhantomData::<Stream<F>>));
        });
    }

    /// `envoy_dynamic_module_on_http_filter_http_callout_done`.
    pub fn callout_done<F: Filter>(
        module: &ModulePtr,
        envoy_id: u64,
        result: u32,
        headers: &EnvoyHeaders,
        headers_size: usize,
        chunks: &EnvoyChunks,
        chunks_size: usize,
    ) {
        let Some(stream) = stream::<F>(module) else {
            return;
        };
        let act = boundary(F::NAME, "call answer", || {
            let response = call_response(result, headers, headers_size, chunks, chunks_size);
            stream.callout_done(envoy_id, response)
        });
        match act {
            Some(act) => stream.carry_out_later(act),
            None => {
                stream.poison();
                if stream.phase.get() != Phase::Decided {
                    stream.phase.set(Phase::Decided);
                    send(stream.envoy, &internal_error());
                }
            }
        }
    }
}

/// Declares the module's entry points for a [`Filter`] in the native
/// build: one line in the filter crate's `lib.rs`, beside
/// [`export_filter!`](crate::export_filter). Every
/// `envoy_dynamic_module_on_*` hook Envoy 1.40 looks up is exported; those
/// for features meshwasm does not use (bodies, trailers, streamed calls,
/// scheduling, watermarks) do nothing.
#[macro_export]
macro_rules! export_native_filter {
    ($filter:ty) => {
        // `no_mangle`: Envoy finds the hooks by their names. The hooks
        // only pass Envoy's opaque arguments on to the adapter.
        #[allow(unsafe_code)]
        const _: () = {
            use $crate::native::abi::{
                AbiVersion, ConfigEnvoy, EnvoyBytes, EnvoyChunks, EnvoyHeaders, FilterEnvoy,
                ModulePtr,
            };
            use $crate::native::hooks;

            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_program_init() -> AbiVersion {
                hooks::program_init::<$filter>()
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
                envoy: ConfigEnvoy,
                name: EnvoyBytes,
                config: EnvoyBytes,
            ) -> ModulePtr {
                hooks::config_new::<$filter>(envoy, &name, &config)
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: ModulePtr) {
                hooks::config_destroy::<$filter>(config)
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_new(
                _name: EnvoyBytes,
                _config: EnvoyBytes,
            ) -> ModulePtr {
                hooks::per_route_config_new::<$filter>()
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_destroy(
                _config: ModulePtr,
            ) {
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_new(
                config: ModulePtr,
                envoy: FilterEnvoy,
            ) -> ModulePtr {
                hooks::filter_new::<$filter>(&config, envoy)
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
                _envoy: FilterEnvoy,
                filter: ModulePtr,
                _end_of_stream: bool,
            ) -> u32 {
                hooks::request_headers::<$filter>(&filter)
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
                _end_of_stream: bool,
            ) -> u32 {
                0
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
            ) -> u32 {
                0
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
                _envoy: FilterEnvoy,
                filter: ModulePtr,
                _end_of_stream: bool,
            ) -> u32 {
                hooks::response_headers::<$filter>(&filter)
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
                _end_of_stream: bool,
            ) -> u32 {
                0
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
            ) -> u32 {
                0
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
                _envoy: FilterEnvoy,
                filter: ModulePtr,
            ) {
                hooks::stream_complete::<$filter>(&filter)
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter: ModulePtr) {
                hooks::destroy::<$filter>(filter)
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
                _envoy: FilterEnvoy,
                filter: ModulePtr,
                callout_id: u64,
                result: u32,
                headers: EnvoyHeaders,
                headers_size: usize,
                body_chunks: EnvoyChunks,
                body_chunks_size: usize,
            ) {
                hooks::callout_done::<$filter>(
                    &filter,
                    callout_id,
                    result,
                    &headers,
                    headers_size,
                    &body_chunks,
                    body_chunks_size,
                )
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
                _stream_id: u64,
                _headers: EnvoyHeaders,
                _headers_size: usize,
                _end_stream: bool,
            ) {
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
                _stream_id: u64,
                _data: EnvoyChunks,
                _data_count: usize,
                _end_stream: bool,
            ) {
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
                _stream_id: u64,
                _trailers: EnvoyHeaders,
                _trailers_size: usize,
            ) {
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
                _stream_id: u64,
            ) {
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
                _stream_id: u64,
                _reason: u32,
            ) {
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
                _event_id: u64,
            ) {
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
            ) {
            }
            #[no_mangle]
            extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
                _envoy: FilterEnvoy,
                _filter: ModulePtr,
            ) {
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_stops_at_the_boundary() {
        assert_eq!(boundary("test", "a hook", || 7), Some(7));
        #[allow(clippy::panic)]
        let caught = boundary("test", "a hook", || -> u8 { panic!("on purpose") });
        assert_eq!(caught, None);
        let message = catch_unwind(|| std::panic::panic_any(String::from("owned")))
            .err()
            .map(|payload| panic_message(payload.as_ref()).to_owned());
        assert_eq!(message.as_deref(), Some("owned"));
    }

    #[test]
    fn integer_properties_read_as_proxy_wasm_gives_them() {
        assert_eq!(int_property(Some(200)), Some(200i64.to_le_bytes().to_vec()));
        assert_eq!(int_property(None), None);
    }
}
