//! Envoy's dynamic-module C ABI, as far as meshwasm uses it: our own
//! declarations of the published header
//! (`source/extensions/dynamic_modules/abi/abi.h`, ABI `v0.2.0`, Envoy
//! 1.40), each callback behind a safe wrapper. This is the only module of
//! the workspace that may use `unsafe`.
//!
//! # The handles, and why the wrappers are safe
//!
//! Envoy hands the module opaque pointers: a filter configuration's
//! ([`ConfigEnvoy`]), a stream's ([`FilterEnvoy`]), and back the pointers
//! the module gave it ([`ModulePtr`]). Their types have private fields and
//! no constructor, so safe code can only hold handles Envoy passed to an
//! event hook. The adapter keeps to Envoy's rules for them: a
//! [`FilterEnvoy`] is used on its worker thread, between the stream's
//! `on_http_filter_new` and `on_http_filter_destroy`; a [`ConfigEnvoy`] is
//! used to define metrics inside `on_http_filter_config_new` only. Under
//! those rules every callback below is sound to call with any arguments
//! safe code can build: buffers are passed with their lengths, output
//! arrays are sized by Envoy's own count first, and what Envoy returns is
//! copied out before the next call (its buffers live only until a setter
//! is called or the hook returns). The wrappers, and the casts between the
//! module's pointers and its own types, are private to this crate; the
//! types are public only for [`export_native_filter!`](crate::export_native_filter)'s
//! signatures.
//!
//! # Version check
//!
//! [`ABI_VERSION`] is what the module reports from
//! `envoy_dynamic_module_on_program_init`. Envoy 1.40 only warns when it
//! differs from its own ("... is deprecated. Please recompile ..."), so the
//! module checks for itself. Every callback it imports is resolved when
//! Envoy loads it (a missing one fails the load: `undefined symbol:
//! envoy_dynamic_module_callback_...`), and [`check_envoy`] looks for
//! callbacks that ABI `v0.2.0` added, refusing to load (naming the one
//! missing and the Envoy version this build is for) in an older Envoy. A
//! newer Envoy whose callbacks changed signature cannot be told apart by
//! name: that is why the native build is one build per Envoy minor
//! version.

use std::ffi::{c_char, c_void, CStr};
use std::marker::PhantomData;

/// The ABI version this module is written against.
pub const ABI_VERSION: &CStr = c"v0.2.0";

/// The Envoy minor version whose ABI this is.
pub const ENVOY_VERSION: &str = "1.40";

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/// `envoy_dynamic_module_type_{envoy,module}_buffer`: bytes and a length.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawBuffer {
    ptr: *const c_char,
    length: usize,
}

impl RawBuffer {
    const NULL: Self = Self {
        ptr: std::ptr::null(),
        length: 0,
    };

    /// A buffer over `bytes`, valid while `bytes` is.
    fn of(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr().cast(),
            length: bytes.len(),
        }
    }

    /// Copies the bytes out. A null buffer reads as empty.
    ///
    /// # Safety
    ///
    /// `ptr` must point to `length` readable bytes (or be null).
    unsafe fn to_vec(self) -> Vec<u8> {
        if self.ptr.is_null() || self.length == 0 {
            return Vec::new();
        }
        // SAFETY: the caller guarantees `length` readable bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.length) }.to_vec()
    }
}

/// `envoy_dynamic_module_type_{envoy,module}_http_header`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawHeader {
    key_ptr: *const c_char,
    key_length: usize,
    value_ptr: *const c_char,
    value_length: usize,
}

impl RawHeader {
    const NULL: Self = Self {
        key_ptr: std::ptr::null(),
        key_length: 0,
        value_ptr: std::ptr::null(),
        value_length: 0,
    };

    fn of(name: &str, value: &[u8]) -> Self {
        Self {
            key_ptr: name.as_ptr().cast(),
            key_length: name.len(),
            value_ptr: value.as_ptr().cast(),
            value_length: value.len(),
        }
    }

    /// Copies the header out: name lowercase (as Envoy keeps it), value
    /// as bytes.
    ///
    /// # Safety
    ///
    /// Both pointers must point to their lengths of readable bytes (or be
    /// null).
    unsafe fn copy_out(self) -> (String, Vec<u8>) {
        // SAFETY: forwarded from the caller.
        let (name, value) = unsafe {
            (
                RawBuffer {
                    ptr: self.key_ptr,
                    length: self.key_length,
                }
                .to_vec(),
                RawBuffer {
                    ptr: self.value_ptr,
                    length: self.value_length,
                }
                .to_vec(),
            )
        };
        (String::from_utf8_lossy(&name).to_ascii_lowercase(), value)
    }
}

/// A stream's `DynamicModuleHttpFilter` in Envoy
/// (`envoy_dynamic_module_type_http_filter_envoy_ptr`). Not `Send`: it is
/// used on its worker thread only.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct FilterEnvoy(*mut c_void);

/// A filter configuration's `DynamicModuleHttpFilterConfig` in Envoy
/// (`envoy_dynamic_module_type_http_filter_config_envoy_ptr`), used inside
/// `on_http_filter_config_new` only.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct ConfigEnvoy(*mut c_void);

/// A pointer the module gave Envoy (its configuration or a stream's
/// state), passed back to the hooks.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct ModulePtr(*const c_void);

/// What `envoy_dynamic_module_on_program_init` returns: the ABI version,
/// or null to refuse to load.
#[repr(transparent)]
pub struct AbiVersion(*const c_char);

/// A buffer Envoy passes to a hook (a name, a configuration), valid for
/// the hook's duration.
#[repr(C)]
pub struct EnvoyBytes {
    raw: RawBuffer,
}

impl EnvoyBytes {
    /// Copies the bytes out.
    pub fn to_vec(&self) -> Vec<u8> {
        // SAFETY: Envoy passes a buffer of `length` readable bytes (or
        // null), valid until the hook returns, which outlives `&self`.
        unsafe { self.raw.to_vec() }
    }
}

/// Headers Envoy passes to a hook (a callout's answer): a pointer to an
/// array, whose length comes as the hook's next argument.
#[repr(transparent)]
pub struct EnvoyHeaders(*const RawHeader);

impl EnvoyHeaders {
    /// Copies the headers out: names lowercase, values as bytes.
    pub fn to_vec(&self, count: usize) -> Vec<(String, Vec<u8>)> {
        if self.0.is_null() {
            return Vec::new();
        }
        // SAFETY: Envoy passes an array of `count` headers (the argument
        // that follows this one), valid until the hook returns.
        let headers = unsafe { std::slice::from_raw_parts(self.0, count) };
        headers
            .iter()
            // SAFETY: each header's buffers are Envoy's, valid as above.
            .map(|h| unsafe { h.copy_out() })
            .collect()
    }
}

/// Body chunks Envoy passes to a hook: a pointer to an array of buffers,
/// whose length comes as the hook's next argument.
#[repr(transparent)]
pub struct EnvoyChunks(*const RawBuffer);

impl EnvoyChunks {
    /// Appends the chunks to `out`, stopping once it holds `limit` bytes;
    /// whether anything was left out.
    pub fn append_to(&self, count: usize, out: &mut Vec<u8>, limit: usize) -> bool {
        if self.0.is_null() {
            return false;
        }
        // SAFETY: Envoy passes an array of `count` buffers (the argument
        // that follows this one), valid until the hook returns.
        let chunks = unsafe { std::slice::from_raw_parts(self.0, count) };
        let mut cut = false;
        for chunk in chunks {
            // SAFETY: each chunk is Envoy's, valid as above.
            let bytes = unsafe { chunk.to_vec() };
            let room = limit.saturating_sub(out.len());
            if bytes.len() > room {
                cut = true;
            }
            out.extend(bytes.into_iter().take(room));
        }
        cut
    }
}

/// Which header map (`envoy_dynamic_module_type_http_header_type`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderType {
    /// The request headers.
    Request = 0,
    /// The response headers.
    Response = 2,
}

/// Log levels (`envoy_dynamic_module_type_log_level`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Trace.
    Trace = 0,
    /// Debug.
    Debug = 1,
    /// Info.
    Info = 2,
    /// Warn.
    Warn = 3,
    /// Error.
    Error = 4,
    /// Critical.
    Critical = 5,
}

/// Request and connection attributes the filters read
/// (`envoy_dynamic_module_type_attribute_id`; the numbers are the enum's).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    /// `request.total_size`.
    RequestTotalSize = 14,
    /// `response.code`.
    ResponseCode = 15,
    /// `response.total_size`.
    ResponseTotalSize = 22,
    /// `source.address` (`ip:port`).
    SourceAddress = 24,
    /// `xds.cluster_name`.
    XdsClusterName = 57,
    /// `xds.route_name`.
    XdsRouteName = 61,
}

/// What a metric is defined as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A counter.
    Counter,
    /// A gauge.
    Gauge,
    /// A histogram.
    Histogram,
}

/// Why Envoy refused a callout (`envoy_dynamic_module_type_http_callout_init_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalloutRefused(pub u32);

impl std::fmt::Display for CalloutRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.0 {
            1 => "MissingRequiredHeaders",
            2 => "ClusterNotFound",
            3 => "DuplicateCalloutId",
            4 => "CannotCreateRequest",
            _ => "unknown",
        };
        write!(f, "{why} ({})", self.0)
    }
}

/// Envoy refused a header operation (the phase has no such map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// Header statuses a hook returns (`..._headers_status`).
pub const CONTINUE: u32 = 0;
/// Stop iteration: the request is held or answered locally.
pub const STOP_ITERATION: u32 = 1;
/// A callout's result (`envoy_dynamic_module_type_http_callout_result`):
/// an answer came.
pub const CALLOUT_SUCCESS: u32 = 0;

// ---------------------------------------------------------------------------
// Callbacks Envoy exports
// ---------------------------------------------------------------------------

/// Declares the callbacks in one `extern` block.
macro_rules! callbacks {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        extern "C" {
            $(fn $name($($arg: $ty),*) $(-> $ret)?;)*
        }
    };
}

callbacks! {
    fn envoy_dynamic_module_callback_log(level: u32, message: RawBuffer);
    fn envoy_dynamic_module_callback_log_enabled(level: u32) -> bool;
    fn envoy_dynamic_module_callback_http_get_header(
        filter: FilterEnvoy,
        header_type: u32,
        key: RawBuffer,
        result: *mut RawBuffer,
        index: usize,
        optional_size: *mut usize,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_get_headers_size(filter: FilterEnvoy, header_type: u32) -> usize;
    fn envoy_dynamic_module_callback_http_get_headers(
        filter: FilterEnvoy,
        header_type: u32,
        result: *mut RawHeader,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_header(
        filter: FilterEnvoy,
        header_type: u32,
        key: RawBuffer,
        value: RawBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_add_header(
        filter: FilterEnvoy,
        header_type: u32,
        key: RawBuffer,
        value: RawBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_send_response(
        filter: FilterEnvoy,
        status_code: u32,
        headers: *mut RawHeader,
        headers_size: usize,
        body: RawBuffer,
        details: RawBuffer,
    );
    fn envoy_dynamic_module_callback_http_clear_route_cache(filter: FilterEnvoy);
    fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter: FilterEnvoy,
        attribute: u32,
        result: *mut RawBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_filter_get_attribute_int(
        filter: FilterEnvoy,
        attribute: u32,
        result: *mut u64,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_filter_http_callout(
        filter: FilterEnvoy,
        callout_id_out: *mut u64,
        cluster: RawBuffer,
        headers: *mut RawHeader,
        headers_size: usize,
        body: RawBuffer,
        timeout_milliseconds: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_continue_decoding(filter: FilterEnvoy);
    fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: ConfigEnvoy,
        name: RawBuffer,
        label_names: *mut RawBuffer,
        label_names_length: usize,
        id_out: *mut usize,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_config_define_gauge(
        config: ConfigEnvoy,
        name: RawBuffer,
        label_names: *mut RawBuffer,
        label_names_length: usize,
        id_out: *mut usize,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_config_define_histogram(
        config: ConfigEnvoy,
        name: RawBuffer,
        label_names: *mut RawBuffer,
        label_names_length: usize,
        id_out: *mut usize,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter: FilterEnvoy,
        id: usize,
        label_values: *mut RawBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_increment_gauge(
        filter: FilterEnvoy,
        id: usize,
        label_values: *mut RawBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_decrement_gauge(
        filter: FilterEnvoy,
        id: usize,
        label_values: *mut RawBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_record_histogram_value(
        filter: FilterEnvoy,
        id: usize,
        label_values: *mut RawBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;
}

extern "C" {
    /// glibc's `dlsym`; `RTLD_DEFAULT` (null) searches the process.
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

// ---------------------------------------------------------------------------
// Safe wrappers
// ---------------------------------------------------------------------------

/// Callbacks the ABI `v0.2.0` of Envoy 1.40 has and the `v0.1.0` one
/// lacks: if the running Envoy has none of them, it is older than this
/// build.
const V0_2_0_MARKERS: &[&CStr] = &[
    c"envoy_dynamic_module_callback_http_get_timing_info",
    c"envoy_dynamic_module_callback_http_filter_get_generic_secret",
];

/// Checks that the running Envoy has the ABI this module is built for, as
/// far as a module can tell: a callback this module imports that Envoy
/// lacks already made the load fail (`undefined symbol: ...`); this looks
/// for the callbacks [`ABI_VERSION`] added. The first one missing, if any.
pub(crate) fn check_envoy() -> Result<(), &'static CStr> {
    for name in V0_2_0_MARKERS {
        // SAFETY: `dlsym` with RTLD_DEFAULT (null) and a NUL-terminated
        // name only looks the symbol up.
        let found = unsafe { dlsym(std::ptr::null_mut(), name.as_ptr()) };
        if found.is_null() {
            return Err(name);
        }
    }
    Ok(())
}

/// The version to report from `on_program_init`.
pub(crate) fn abi_version() -> AbiVersion {
    AbiVersion(ABI_VERSION.as_ptr())
}

/// What `on_program_init` returns to refuse to load.
pub(crate) fn refuse_to_load() -> AbiVersion {
    AbiVersion(std::ptr::null())
}

/// Logs under Envoy's `dynamic_modules` logger.
pub(crate) fn log(level: Level, message: &str) {
    // SAFETY: a buffer over a live `&str`.
    unsafe { envoy_dynamic_module_callback_log(level as u32, RawBuffer::of(message.as_bytes())) }
}

/// Whether Envoy would print a line at `level`.
pub(crate) fn log_enabled(level: Level) -> bool {
    // SAFETY: takes a plain integer.
    unsafe { envoy_dynamic_module_callback_log_enabled(level as u32) }
}

/// A header's first value, copied; `None` when absent. (Envoy answers an
/// absent header and a map the phase does not have alike: `false`.)
pub(crate) fn get_header(filter: FilterEnvoy, map: HeaderType, name: &str) -> Option<Vec<u8>> {
    let mut value = RawBuffer::NULL;
    // SAFETY: `filter` is live (module invariant); the key is a live
    // buffer; the output is valid for writes, and the optional count may
    // be null.
    let found = unsafe {
        envoy_dynamic_module_callback_http_get_header(
            filter,
            map as u32,
            RawBuffer::of(name.as_bytes()),
            &mut value,
            0,
            std::ptr::null_mut(),
        )
    };
    if !found || value.ptr.is_null() {
        return None;
    }
    // SAFETY: Envoy set `value` to its buffer, valid until a setter is
    // called; it is copied at once.
    Some(unsafe { value.to_vec() })
}

/// A whole header map, copied: names lowercase, values as bytes.
pub(crate) fn get_headers(
    filter: FilterEnvoy,
    map: HeaderType,
) -> Result<Vec<(String, Vec<u8>)>, Refused> {
    // SAFETY: `filter` is live (module invariant).
    let size = unsafe { envoy_dynamic_module_callback_http_get_headers_size(filter, map as u32) };
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut raw = vec![RawHeader::NULL; size];
    // SAFETY: `raw` has room for the `size` headers Envoy just counted.
    let ok = unsafe {
        envoy_dynamic_module_callback_http_get_headers(filter, map as u32, raw.as_mut_ptr())
    };
    if !ok {
        return Err(Refused);
    }
    // SAFETY: Envoy filled `raw` with its buffers, valid until a setter
    // is called; they are copied at once.
    Ok(raw.into_iter().map(|h| unsafe { h.copy_out() }).collect())
}

/// Replaces every value of a header (`None`: removes it).
pub(crate) fn set_header(
    filter: FilterEnvoy,
    map: HeaderType,
    name: &str,
    value: Option<&str>,
) -> bool {
    let value = value.map_or(RawBuffer::NULL, |v| RawBuffer::of(v.as_bytes()));
    // SAFETY: `filter` is live; the buffers are live (or null, which
    // removes the header).
    unsafe {
        envoy_dynamic_module_callback_http_set_header(
            filter,
            map as u32,
            RawBuffer::of(name.as_bytes()),
            value,
        )
    }
}

/// Adds a value to a header.
pub(crate) fn add_header(filter: FilterEnvoy, map: HeaderType, name: &str, value: &str) -> bool {
    // SAFETY: `filter` is live; the buffers are live.
    unsafe {
        envoy_dynamic_module_callback_http_add_header(
            filter,
            map as u32,
            RawBuffer::of(name.as_bytes()),
            RawBuffer::of(value.as_bytes()),
        )
    }
}

/// Sends a local response.
pub(crate) fn send_response(
    filter: FilterEnvoy,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    details: &str,
) {
    let mut raw: Vec<RawHeader> = headers
        .iter()
        .map(|(n, v)| RawHeader::of(n, v.as_bytes()))
        .collect();
    // SAFETY: `filter` is live; `raw` points into `headers`, and the
    // other buffers into live slices, for the call's duration.
    unsafe {
        envoy_dynamic_module_callback_http_send_response(
            filter,
            u32::from(status),
            raw.as_mut_ptr(),
            raw.len(),
            RawBuffer::of(body),
            RawBuffer::of(details.as_bytes()),
        );
    }
}

/// Makes Envoy pick the route again.
pub(crate) fn clear_route_cache(filter: FilterEnvoy) {
    // SAFETY: `filter` is live.
    unsafe { envoy_dynamic_module_callback_http_clear_route_cache(filter) }
}

/// A string attribute, copied; `None` when Envoy has none.
pub(crate) fn attribute_string(filter: FilterEnvoy, attribute: Attribute) -> Option<Vec<u8>> {
    let mut value = RawBuffer::NULL;
    // SAFETY: `filter` is live; the output is valid for writes.
    let ok = unsafe {
        envoy_dynamic_module_callback_http_filter_get_attribute_string(
            filter,
            attribute as u32,
            &mut value,
        )
    };
    // SAFETY: Envoy set `value` to its buffer, valid for this hook.
    ok.then(|| unsafe { value.to_vec() })
}

/// An integer attribute; `None` when Envoy has none.
pub(crate) fn attribute_int(filter: FilterEnvoy, attribute: Attribute) -> Option<u64> {
    let mut value = 0u64;
    // SAFETY: `filter` is live; the output is valid for writes.
    let ok = unsafe {
        envoy_dynamic_module_callback_http_filter_get_attribute_int(
            filter,
            attribute as u32,
            &mut value,
        )
    };
    ok.then_some(value)
}

/// Sends an HTTP call through a cluster; its id, answered in
/// `on_http_filter_http_callout_done`.
pub(crate) fn http_callout(
    filter: FilterEnvoy,
    cluster: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout_ms: u64,
) -> Result<u64, CalloutRefused> {
    let mut raw: Vec<RawHeader> = headers
        .iter()
        .map(|(n, v)| RawHeader::of(n, v.as_bytes()))
        .collect();
    let mut id = 0u64;
    // SAFETY: `filter` is live; every buffer points into live data for
    // the call's duration (Envoy copies them); `id` is valid for writes.
    let result = unsafe {
        envoy_dynamic_module_callback_http_filter_http_callout(
            filter,
            &mut id,
            RawBuffer::of(cluster.as_bytes()),
            raw.as_mut_ptr(),
            raw.len(),
            RawBuffer::of(body),
            timeout_ms,
        )
    };
    if result == 0 {
        Ok(id)
    } else {
        Err(CalloutRefused(result))
    }
}

/// Lets a held request go on.
pub(crate) fn continue_decoding(filter: FilterEnvoy) {
    // SAFETY: `filter` is live.
    unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(filter) }
}

/// Defines a metric with labels (in `on_http_filter_config_new` only: Envoy
/// refuses it later, with `Frozen`); its id, or Envoy's result code.
pub(crate) fn define_metric(
    config: ConfigEnvoy,
    kind: Metric,
    name: &str,
    labels: &[&str],
) -> Result<usize, u32> {
    let mut raw: Vec<RawBuffer> = labels.iter().map(|l| RawBuffer::of(l.as_bytes())).collect();
    let mut id = 0usize;
    let define = match kind {
        Metric::Counter => envoy_dynamic_module_callback_http_filter_config_define_counter,
        Metric::Gauge => envoy_dynamic_module_callback_http_filter_config_define_gauge,
        Metric::Histogram => envoy_dynamic_module_callback_http_filter_config_define_histogram,
    };
    // SAFETY: `config` is live inside `on_http_filter_config_new`, where
    // this is called; the buffers point into live data; `id` is valid
    // for writes.
    let result = unsafe {
        define(
            config,
            RawBuffer::of(name.as_bytes()),
            raw.as_mut_ptr(),
            raw.len(),
            &mut id,
        )
    };
    if result == 0 {
        Ok(id)
    } else {
        Err(result)
    }
}

/// How a recorded metric changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Adds to a counter.
    Increment,
    /// Raises a gauge.
    Raise,
    /// Lowers a gauge.
    Lower,
    /// Records a histogram sample.
    Sample,
}

/// Records a value of metric `id` with these label values (as many as the
/// metric was defined with); Envoy's result code on failure.
pub(crate) fn record_metric(
    filter: FilterEnvoy,
    how: Record,
    id: usize,
    values: &[&str],
    value: u64,
) -> Result<(), u32> {
    let mut raw: Vec<RawBuffer> = values.iter().map(|v| RawBuffer::of(v.as_bytes())).collect();
    let record = match how {
        Record::Increment => envoy_dynamic_module_callback_http_filter_increment_counter,
        Record::Raise => envoy_dynamic_module_callback_http_filter_increment_gauge,
        Record::Lower => envoy_dynamic_module_callback_http_filter_decrement_gauge,
        Record::Sample => envoy_dynamic_module_callback_http_filter_record_histogram_value,
    };
    // SAFETY: `filter` is live; the buffers point into live data.
    let result = unsafe { record(filter, id, raw.as_mut_ptr(), raw.len(), value) };
    if result == 0 {
        Ok(())
    } else {
        Err(result)
    }
}

// ---------------------------------------------------------------------------
// The module's own pointers, handed to Envoy and back
// ---------------------------------------------------------------------------

/// Hands `value` to Envoy: it owns it until it gives it back to
/// [`take_box`].
pub(crate) fn into_module_ptr<T>(value: Box<T>) -> ModulePtr {
    ModulePtr(Box::into_raw(value).cast_const().cast())
}

/// The null pointer: a hook's refusal.
pub(crate) fn null_module_ptr() -> ModulePtr {
    ModulePtr(std::ptr::null())
}

/// A borrowed view of a value handed to Envoy with [`into_module_ptr`].
///
/// The value must be of type `T`, and the adapter only ever asks for the
/// type it stored under each hook's pointer (a stream's state, or a
/// configuration); it is only borrowed shared, so hooks re-entered while
/// another runs on the same stream never alias a `&mut`.
pub(crate) fn module_ref<T>(ptr: &ModulePtr, _: PhantomData<T>) -> Option<&T> {
    // SAFETY: `ptr` came from `into_module_ptr::<T>` (Envoy passes back
    // the pointer the module returned for this hook's object), and Envoy
    // does not call a hook after the matching destroy hook, which is the
    // only place the value is freed (`take_box`). The borrow lives only
    // for the hook's duration (tied to the borrow of `ptr`, an argument
    // of the hook).
    unsafe { ptr.0.cast::<T>().as_ref() }
}

/// Takes back ownership of a value handed to Envoy with
/// [`into_module_ptr`], in its destroy hook.
pub(crate) fn take_box<T>(ptr: ModulePtr, _: PhantomData<T>) -> Option<Box<T>> {
    if ptr.0.is_null() {
        return None;
    }
    // SAFETY: `ptr` came from `into_module_ptr::<T>`; Envoy calls the
    // destroy hook once, after every other hook of the object has
    // returned (it deletes filters in a later event-loop iteration), so
    // no borrow from `module_ref` is live.
    Some(unsafe { Box::from_raw(ptr.0.cast::<T>().cast_mut()) })
}
