//! Envoy bootstrap configs for a test: a listener on a free port, the
//! filters under test (Wasm modules, or the native build's libraries), and
//! named upstream clusters.

use crate::{build, native_module, wasm_module, Build};
use meshwasm_echo::Echo;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A meshwasm module in the HTTP filter chain, configured as Envoy's
/// static configs and Istio configure it: the JSON configuration passed as
/// a `google.protobuf.StringValue`. By default it is inline in the
/// bootstrap; [`WasmFilter::via_ecds`] delivers it through a file instead
/// (extension config discovery), as Istio delivers a `WasmPlugin`.
///
/// Under the native build ([`crate::build`]) the same filter is Envoy's
/// `DynamicModuleFilter` loading `libmeshwasm_<filter>.so`, with the same
/// JSON as its `filter_config` and the VM id as its `filter_name` (filters
/// of one name share data, as filters of one VM id do). The Wasm plugin's
/// name, root id and failure policy have no native counterpart.
#[derive(Debug, Clone)]
pub struct WasmFilter {
    filter: String,
    configuration: String,
    name: String,
    plugin_name: Option<String>,
    root_id: String,
    vm_id: String,
    failure_policy: &'static str,
    ecds: bool,
}

/// The type URL of Envoy's Wasm HTTP filter.
const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

/// The type URL of Envoy's dynamic-module HTTP filter.
const NATIVE_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";

/// The filter's type URL in the build under test.
fn type_url() -> &'static str {
    match build() {
        Build::Wasm => WASM_TYPE,
        Build::Native => NATIVE_TYPE,
    }
}

impl WasmFilter {
    /// The module of `filter` (`auth`, `rate-limit`, ...) with this
    /// configuration.
    pub fn new(filter: &str, configuration: Value) -> Self {
        Self::raw(filter, &configuration.to_string())
    }

    /// The module of `filter` with a configuration string as given, valid
    /// JSON or not.
    pub fn raw(filter: &str, configuration: &str) -> Self {
        Self {
            filter: filter.to_owned(),
            configuration: configuration.to_owned(),
            name: format!("meshwasm.{filter}"),
            plugin_name: None,
            root_id: filter.to_owned(),
            vm_id: filter.to_owned(),
            failure_policy: "FAIL_CLOSED",
            ecds: false,
        }
    }

    /// Names the filter (and its ECDS resource, and the Wasm plugin unless
    /// [`WasmFilter::plugin_named`] says otherwise).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Names the Wasm plugin inside the filter (`config.name`) apart from
    /// the filter, as Istio does (`shop.auth` in the filter
    /// `extensions.istio.io/wasmplugin/shop.auth`).
    pub fn plugin_named(mut self, name: &str) -> Self {
        self.plugin_name = Some(name.to_owned());
        self
    }

    /// Sets the plugin's root id.
    pub fn root_id(mut self, root_id: &str) -> Self {
        self.root_id = root_id.to_owned();
        self
    }

    /// Sets the VM id (filters with one VM id share a VM and its shared
    /// data).
    pub fn vm_id(mut self, vm_id: &str) -> Self {
        self.vm_id = vm_id.to_owned();
        self
    }

    /// Lets traffic through when the plugin fails to load (`FAIL_OPEN`).
    pub fn fail_open(mut self) -> Self {
        self.failure_policy = "FAIL_OPEN";
        self
    }

    /// Starts a new plugin instance for the next request after the VM
    /// failed at run time (`FAIL_RELOAD`; `FAIL_CLOSED` for other failures).
    pub fn fail_reload(mut self) -> Self {
        self.failure_policy = "FAIL_RELOAD";
        self
    }

    /// Delivers the configuration through a watched file (ECDS).
    pub fn via_ecds(mut self) -> Self {
        self.ecds = true;
        self
    }

    /// The same filter with another configuration.
    pub fn with_configuration(&self, configuration: Value) -> Self {
        self.with_raw_configuration(&configuration.to_string())
    }

    /// The same filter with another configuration string, valid JSON or not.
    pub fn with_raw_configuration(&self, configuration: &str) -> Self {
        Self {
            configuration: configuration.to_owned(),
            ..self.clone()
        }
    }

    /// The filter's extension config in the build under test.
    fn typed_config(&self) -> Value {
        match build() {
            Build::Wasm => self.wasm(),
            Build::Native => self.native(),
        }
    }

    /// The filter's dynamic-module extension config (the native build).
    fn native(&self) -> Value {
        json!({
            "@type": NATIVE_TYPE,
            "dynamic_module_config": { "name": native_module(&self.filter), "do_not_close": true },
            "filter_name": self.vm_id,
            "filter_config": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": self.configuration,
            },
        })
    }

    /// The filter's Wasm extension config.
    fn wasm(&self) -> Value {
        json!({
            "@type": WASM_TYPE,
            "config": {
                "name": self.plugin_name.as_deref().unwrap_or(&self.name),
                "root_id": self.root_id,
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": self.configuration,
                },
                "vm_config": {
                    "vm_id": self.vm_id,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": wasm_module(&self.filter) } },
                },
                "failure_policy": self.failure_policy,
            },
        })
    }

    /// Where an ECDS filter's resource file lives under `dir` (a `/` in
    /// the name, as in Istio's, becomes `_`).
    pub fn ecds_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("ecds-{}.json", self.name.replace('/', "_")))
    }

    /// The ECDS file: a discovery response with the filter's config.
    pub fn ecds_resource(&self) -> Value {
        json!({
            "resources": [{
                "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
                "name": self.name,
                "typed_config": self.typed_config(),
            }],
        })
    }

    fn http_filter(&self, dir: &Path) -> Value {
        if !self.ecds {
            return json!({ "name": self.name, "typed_config": self.typed_config() });
        }
        json!({
            "name": self.name,
            "config_discovery": {
                "config_source": {
                    "path_config_source": {
                        "path": self.ecds_path(dir),
                        "watched_directory": { "path": dir },
                    },
                    "resource_api_version": "V3",
                },
                "type_urls": [type_url()],
            },
        })
    }
}

/// The HTTP connection manager settings of a secure sidecar (docs/hardening.md,
/// "Secure sidecar settings"), which every shipped Envoy config has and
/// every test bootstrap has unless it asks for [`Bootstrap::envoy_defaults`]:
/// paths normalized before any filter sees them (dot segments, `//`,
/// percent-encoded letters; an escaped `/` or `\` answered with a redirect
/// to the unescaped path), the client's address taken from the connection
/// rather than from `x-forwarded-for`, and headers with `_` in their name
/// refused. `xff_num_trusted_hops`: proxies in front of Envoy whose
/// `x-forwarded-for` entries are trusted (0 when clients connect directly).
pub fn secure_sidecar_settings(xff_num_trusted_hops: u32) -> Value {
    json!({
        "normalize_path": true,
        "merge_slashes": true,
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
        "use_remote_address": true,
        "xff_num_trusted_hops": xff_num_trusted_hops,
        "common_http_protocol_options": { "headers_with_underscores_action": "REJECT_REQUEST" },
    })
}

/// A whole Envoy configuration for one test.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    filters: Vec<WasmFilter>,
    clusters: Vec<(String, SocketAddr)>,
    grpc_clusters: Vec<(String, SocketAddr)>,
    header_routes: Vec<(String, String, String)>,
    extra_labels: Vec<String>,
    envoy_defaults: bool,
    xff_num_trusted_hops: u32,
}

impl Bootstrap {
    /// Routes every request to `upstream`, through no filter yet.
    pub fn new(upstream: &Echo) -> Self {
        Self {
            filters: Vec::new(),
            clusters: vec![(upstream.name().to_owned(), upstream.addr())],
            grpc_clusters: Vec::new(),
            header_routes: Vec::new(),
            extra_labels: Vec::new(),
            envoy_defaults: false,
            xff_num_trusted_hops: 0,
        }
    }

    /// Leaves the listener at Envoy's defaults instead of
    /// [`secure_sidecar_settings`]: only for a test that shows what those
    /// settings close, or one that needs requests to reach the filters as
    /// clients sent them (paths not normalised).
    pub fn envoy_defaults(mut self) -> Self {
        self.envoy_defaults = true;
        self
    }

    /// Trusts `hops` proxies in front of Envoy: the client's address (what
    /// filters read as the source address) is the entry that many from the
    /// right of `x-forwarded-for`, as those proxies appended it.
    pub fn xff_num_trusted_hops(mut self, hops: u32) -> Self {
        self.xff_num_trusted_hops = hops;
        self
    }

    /// Adds a filter after those added before.
    pub fn filter(mut self, filter: WasmFilter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Makes a metric label beyond meshwasm's own (an extra label of the
    /// metrics filter) a Prometheus label.
    pub fn stats_label(mut self, label: &str) -> Self {
        self.extra_labels.push(label.to_owned());
        self
    }

    /// Adds `upstream` as a cluster of its own name that no route uses: a
    /// service the filters call (a JWKS endpoint, an authorization
    /// service).
    pub fn cluster(mut self, upstream: &Echo) -> Self {
        self.clusters
            .push((upstream.name().to_owned(), upstream.addr()));
        self
    }

    /// Adds a cluster `name` that speaks HTTP/2 to `addr`: a gRPC service
    /// the filters call (a rate limit service).
    pub fn grpc_cluster(mut self, name: &str, addr: SocketAddr) -> Self {
        self.grpc_clusters.push((name.to_owned(), addr));
        self
    }

    /// Adds `upstream` as a cluster of its own name, which requests reach
    /// when header `name` is `value` (checked after every filter ran).
    pub fn route_on_header(mut self, name: &str, value: &str, upstream: &Echo) -> Self {
        self.clusters
            .push((upstream.name().to_owned(), upstream.addr()));
        self.header_routes.push((
            name.to_owned(),
            value.to_owned(),
            upstream.name().to_owned(),
        ));
        self
    }

    /// The ECDS files the filters delivered that way need, under `dir`.
    pub fn ecds_files(&self, dir: &Path) -> Vec<(PathBuf, Value)> {
        self.filters
            .iter()
            .filter(|f| f.ecds)
            .map(|f| (f.ecds_path(dir), f.ecds_resource()))
            .collect()
    }

    /// The bootstrap as Envoy reads it, its files under `dir`. Ports are 0: Envoy picks free ones
    /// and the launcher asks the admin API which. Routes are named
    /// `default` and `to-<cluster>`; stats flush every second, so
    /// histograms show up quickly. The listener has the
    /// [`secure_sidecar_settings`] unless [`Bootstrap::envoy_defaults`] was
    /// asked for.
    pub fn to_json(&self, dir: &Path) -> Value {
        let default_cluster = self.clusters.first().map(|(n, _)| n.clone());
        let mut routes: Vec<Value> = self
            .header_routes
            .iter()
            .map(|(name, value, cluster)| {
                json!({
                    "name": format!("to-{cluster}"),
                    "match": {
                        "prefix": "/",
                        "headers": [{ "name": name, "string_match": { "exact": value } }],
                    },
                    "route": { "cluster": cluster },
                })
            })
            .collect();
        routes.push(json!({
            "name": "default",
            "match": { "prefix": "/" },
            "route": { "cluster": default_cluster },
        }));
        let mut http_filters: Vec<Value> =
            self.filters.iter().map(|f| f.http_filter(dir)).collect();
        http_filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
            },
        }));
        let clusters: Vec<Value> = self
            .clusters
            .iter()
            .map(|(name, addr)| cluster(name, *addr))
            .chain(self.grpc_clusters.iter().map(|(name, addr)| {
                let mut grpc = cluster(name, *addr);
                grpc["typed_extension_protocol_options"] = json!({
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "explicit_http_config": { "http2_protocol_options": {} },
                    },
                });
                grpc
            }))
            .collect();
        let stats_tags: Vec<Value> = meshwasm_core::metrics::LABELS
            .iter()
            .copied()
            .chain(self.extra_labels.iter().map(String::as_str))
            .map(|label| {
                json!({ "tag_name": label, "regex": meshwasm_core::metrics::stats_tag_regex(label) })
            })
            .collect();
        let mut connection_manager = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "ingress",
            "route_config": {
                "name": "local",
                "virtual_hosts": [{
                    "name": "all",
                    "domains": ["*"],
                    "routes": routes,
                }],
            },
            "http_filters": http_filters,
        });
        if !self.envoy_defaults {
            let settings = secure_sidecar_settings(self.xff_num_trusted_hops);
            for (name, value) in settings.as_object().into_iter().flatten() {
                connection_manager[name.as_str()] = value.clone();
            }
        }
        json!({
            "node": { "id": "meshwasm-e2e", "cluster": "meshwasm-e2e" },
            "admin": { "address": socket(([127, 0, 0, 1], 0).into()) },
            "stats_config": { "stats_tags": stats_tags },
            "stats_flush_interval": "1s",
            "static_resources": {
                "listeners": [{
                    "name": "ingress",
                    "address": socket(([127, 0, 0, 1], 0).into()),
                    "filter_chains": [{
                        "filters": [{
                            "name": "envoy.filters.network.http_connection_manager",
                            "typed_config": connection_manager,
                        }],
                    }],
                }],
                "clusters": clusters,
            },
        })
    }
}

fn socket(addr: SocketAddr) -> Value {
    json!({ "socket_address": { "address": addr.ip().to_string(), "port_value": addr.port() } })
}

fn cluster(name: &str, addr: SocketAddr) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": socket(addr) } }] }],
        },
    })
}
