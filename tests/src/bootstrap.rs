//! Envoy bootstrap configs for a test: a listener on a free port, the Wasm
//! filters under test, and named upstream clusters.

use crate::wasm_module;
use meshwasm_echo::Echo;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// A meshwasm module in the HTTP filter chain, configured as Envoy's
/// static configs and Istio configure it: the JSON configuration passed as
/// a `google.protobuf.StringValue`.
#[derive(Debug, Clone)]
pub struct WasmFilter {
    filter: String,
    configuration: String,
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
        }
    }

    fn to_json(&self) -> Value {
        let module = wasm_module(&self.filter);
        json!({
            "name": format!("meshwasm.{}", self.filter),
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": self.filter,
                    "root_id": self.filter,
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": self.configuration,
                    },
                    "vm_config": {
                        "vm_id": self.filter,
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": { "local": { "filename": module } },
                    },
                    "failure_policy": "FAIL_CLOSED",
                },
            },
        })
    }
}

/// A whole Envoy configuration for one test.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    filters: Vec<WasmFilter>,
    clusters: Vec<(String, SocketAddr)>,
    header_routes: Vec<(String, String, String)>,
    extra_labels: Vec<String>,
}

impl Bootstrap {
    /// Routes every request to `upstream`, through no filter yet.
    pub fn new(upstream: &Echo) -> Self {
        Self {
            filters: Vec::new(),
            clusters: vec![(upstream.name().to_owned(), upstream.addr())],
            header_routes: Vec::new(),
            extra_labels: Vec::new(),
        }
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

    /// The bootstrap as Envoy reads it. Ports are 0: Envoy picks free ones
    /// and the launcher asks the admin API which. Routes are named
    /// `default` and `to-<cluster>`; stats flush every second, so
    /// histograms show up quickly.
    pub fn to_json(&self) -> Value {
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
        let mut http_filters: Vec<Value> = self.filters.iter().map(WasmFilter::to_json).collect();
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
            .collect();
        let stats_tags: Vec<Value> = meshwasm_core::metrics::LABELS
            .iter()
            .copied()
            .chain(self.extra_labels.iter().map(String::as_str))
            .map(|label| {
                json!({ "tag_name": label, "regex": meshwasm_core::metrics::stats_tag_regex(label) })
            })
            .collect();
        json!({
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
                            "typed_config": {
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
                            },
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
