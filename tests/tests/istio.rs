//! meshwasm's Istio manifests (`envoy-config/istio/*.yaml`: one
//! `WasmPlugin` per filter, and `chain.yaml` with all four in the chain
//! module) in a real Envoy, in the shape Istio gives a `WasmPlugin`
//! (istio/istio `pilot/pkg/model/extensions.go`, and from 1.30 on the
//! `TrafficExtension` it is translated into):
//!
//! - the filter arrives through ECDS, not inline, under Istio's names for
//!   the HTTP filter, its ECDS resource and the Wasm plugin; each test runs
//!   with both releases' names ([`Naming`]);
//! - its `configuration` is a `google.protobuf.StringValue` holding the
//!   JSON of `pluginConfig`, which passes here unchanged;
//! - its `root_id` is `pluginName`;
//! - `vm_id` is left empty (Istio sets runtime, code and environment, never
//!   a VM id), so filters with the same module and VM configuration share a
//!   VM, and every plugin shares one shared-data namespace;
//! - `failStrategy` becomes `failure_policy` (`FAIL_OPEN` -> `FAIL_OPEN`,
//!   `FAIL_RELOAD` -> `FAIL_RELOAD`, `FAIL_CLOSE` -> `FAIL_CLOSED`; unset
//!   is left unset, which Envoy treats as `FAIL_CLOSED`).
//!
//! So a manifest that passes here configures, names and loads as it will in
//! a sidecar. `make istio-validate` checks the same files against Istio's
//! CRD schemas.

use jsonwebtoken::Algorithm;
use meshwasm_core::metrics::LABELS;
use meshwasm_e2e::tokens::{jwks, mint, now};
use meshwasm_e2e::{workspace_root, Answer, Bootstrap, Echo, Envoy, Reply, WasmFilter, FILTERS};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Where every OCI image of the manifests comes from.
const IMAGE_PREFIX: &str = "oci://registry.example.com/meshwasm/";

/// Every manifest, by the module its image holds: one per filter, and the
/// chain module with all four.
const MANIFESTS: [&str; 5] = ["auth", "rate-limit", "header-router", "metrics", "chain"];

/// How an Istio release names what it generates for the `WasmPlugin`
/// `<ns>/<name>`: the HTTP filter and its ECDS resource (one name), and the
/// Wasm plugin inside it (`config.name`, which Envoy's Wasm log lines and
/// stats carry).
#[derive(Debug, Clone, Copy)]
enum Naming {
    /// Istio 1.26 to 1.29: `extensions.istio.io/wasmplugin/<ns>.<name>`,
    /// plugin `<ns>.<name>`.
    WasmPlugin,
    /// Istio 1.30 and later: istiod translates each `WasmPlugin` into a
    /// `TrafficExtension` named `<name>~istio-translated-wasmplugin`, so
    /// `extensions.istio.io/trafficextension/<ns>.<name>~istio-translated-wasmplugin`,
    /// plugin `<ns>.<name>~istio-translated-wasmplugin`.
    TrafficExtension,
}

/// Both, for every test that starts Envoy.
const NAMINGS: [Naming; 2] = [Naming::WasmPlugin, Naming::TrafficExtension];

impl Naming {
    /// The Wasm plugin's name.
    fn plugin(self, namespace: &str, name: &str) -> String {
        match self {
            Self::WasmPlugin => format!("{namespace}.{name}"),
            Self::TrafficExtension => format!("{namespace}.{name}~istio-translated-wasmplugin"),
        }
    }

    /// The HTTP filter's and its ECDS resource's name.
    fn resource(self, namespace: &str, name: &str) -> String {
        let kind = match self {
            Self::WasmPlugin => "wasmplugin",
            Self::TrafficExtension => "trafficextension",
        };
        format!(
            "extensions.istio.io/{kind}/{}",
            self.plugin(namespace, name)
        )
    }
}

/// The demo API key of consumer `storefront` in `auth.yaml` (which holds
/// only its SHA-256).
const STOREFRONT_KEY: &str = "storefront-demo-key-change-me";

/// The fields of a `WasmPlugin` spec in Istio's CRD. The schema check
/// (`make istio-validate`) lets unknown fields through where the API
/// server's strict field validation would refuse them; this catches a
/// misspelt `failStrategy` before a cluster does.
const SPEC_FIELDS: &[&str] = &[
    "selector",
    "targetRef",
    "targetRefs",
    "url",
    "sha256",
    "imagePullPolicy",
    "imagePullSecret",
    "verificationKey",
    "pluginConfig",
    "pluginName",
    "phase",
    "priority",
    "failStrategy",
    "vmConfig",
    "match",
    "type",
];

/// One `WasmPlugin` manifest.
struct Plugin {
    /// The file it was read from.
    file: String,
    /// `metadata.name`.
    name: String,
    /// `metadata.namespace`.
    namespace: String,
    /// The meshwasm filter its image holds (`auth`, `rate-limit`, ...).
    filter: String,
    /// The whole manifest, as JSON.
    manifest: Value,
}

impl Plugin {
    /// Reads `envoy-config/istio/<filter>.yaml`.
    fn load(filter: &str) -> Self {
        let path = workspace_root().join(format!("envoy-config/istio/{filter}.yaml"));
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let manifest: Value =
            serde_json::to_value(yaml).unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
        let text_at = |pointer: &str| {
            manifest
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{file}: no {pointer}"))
                .to_owned()
        };
        let url = text_at("/spec/url");
        let image = url
            .strip_prefix(IMAGE_PREFIX)
            .unwrap_or_else(|| panic!("{file}: url {url} is not under {IMAGE_PREFIX}"));
        let module = image.split(':').next().unwrap_or_default().to_owned();
        Self {
            name: text_at("/metadata/name"),
            namespace: text_at("/metadata/namespace"),
            filter: module,
            file,
            manifest,
        }
    }

    fn spec(&self, field: &str) -> Option<&Value> {
        self.manifest.get("spec").and_then(|s| s.get(field))
    }

    fn spec_text(&self, field: &str) -> Option<&str> {
        self.spec(field).and_then(Value::as_str)
    }

    /// `pluginConfig` as JSON (`{}` when absent), exactly as Istio
    /// serializes it into the filter's configuration.
    fn plugin_config(&self) -> Value {
        self.spec("pluginConfig")
            .cloned()
            .unwrap_or_else(|| json!({}))
    }

    /// The filter as Istio generates it for this plugin, under `naming`.
    fn wasm_filter(&self, naming: Naming) -> WasmFilter {
        let filter = WasmFilter::new(&self.filter, self.plugin_config())
            .via_ecds()
            .named(&naming.resource(&self.namespace, &self.name))
            .plugin_named(&naming.plugin(&self.namespace, &self.name))
            .root_id(self.spec_text("pluginName").unwrap_or_default())
            .vm_id("");
        match self.spec_text("failStrategy") {
            None | Some("FAIL_CLOSE") => filter,
            Some("FAIL_OPEN") => filter.fail_open(),
            Some("FAIL_RELOAD") => filter.fail_reload(),
            Some(other) => panic!("{}: failStrategy {other} is not tested here", self.file),
        }
    }

    /// The same manifest with `spec.<field>` set to `value`.
    fn with_spec(&self, field: &str, value: Value) -> Self {
        let mut manifest = self.manifest.clone();
        manifest["spec"][field] = value;
        Self {
            file: self.file.clone(),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            filter: self.filter.clone(),
            manifest,
        }
    }

    /// Where Istio puts the plugin: phases in chain order (AUTHN, then
    /// Istio's authentication, AUTHZ, Istio's RBAC, STATS, then the
    /// default phase), and within a phase higher priority first (unset is
    /// the lowest), then by name.
    fn chain_position(&self) -> (u8, i64, String) {
        let phase = match self.spec_text("phase") {
            Some("AUTHN") => 0,
            Some("AUTHZ") => 1,
            Some("STATS") => 2,
            None | Some("UNSPECIFIED_PHASE") => 3,
            Some(other) => panic!("{}: unknown phase {other}", self.file),
        };
        let priority = self
            .spec("priority")
            .map(|p| {
                p.as_i64()
                    .unwrap_or_else(|| panic!("{}: priority {p}", self.file))
            })
            .unwrap_or(i64::from(i32::MIN));
        (phase, -priority, self.name.clone())
    }
}

/// Starts Envoy with the plugins, in this order and named as `naming`
/// says, in front of `bootstrap`'s upstreams, and checks that each one's
/// module took its configuration.
fn start(plugins: &[&Plugin], bootstrap: Bootstrap, naming: Naming) -> Envoy {
    let bootstrap = plugins
        .iter()
        .fold(bootstrap, |b, p| b.filter(p.wasm_filter(naming)));
    let envoy = Envoy::start(&bootstrap).unwrap_or_else(|e| panic!("{e}"));
    for plugin in plugins {
        let line = format!("meshwasm {}: configured", plugin.filter);
        assert!(envoy.log().contains(&line), "no `{line}` in Envoy's log");
    }
    envoy
}

/// Asks until `check` holds (a counter a worker just bumped).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn upstream_saw(answer: &Answer, header: &str) -> Option<String> {
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()["headers"][header].as_str().map(str::to_owned)
}

/// The rate-limit rule for POST requests in a rate-limit configuration
/// (from `file`), and how many such requests a fresh consumer may make at
/// once (`requests + burst`).
fn post_rule(config: &Value, file: &str) -> (String, u64) {
    let rules = config["rules"].as_array().cloned().unwrap_or_default();
    let rule = rules
        .iter()
        .find(|r| {
            r["match"]["methods"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m == "POST"))
        })
        .unwrap_or_else(|| panic!("{file}: no rule for POST"));
    let limit = &rule["limit"];
    let allowed = limit["requests"].as_u64().unwrap_or(0) + limit["burst"].as_u64().unwrap_or(0);
    (
        rule["name"].as_str().unwrap_or_default().to_owned(),
        allowed,
    )
}

#[test]
fn every_manifest_is_a_wasm_plugin_for_the_orders_sidecar() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    for filter in MANIFESTS {
        let p = Plugin::load(filter);
        let file = &p.file;
        assert_eq!(
            p.manifest["apiVersion"], "extensions.istio.io/v1alpha1",
            "{file}"
        );
        assert_eq!(p.manifest["kind"], "WasmPlugin", "{file}");
        assert_eq!(p.namespace, "shop", "{file}");
        assert_eq!(p.filter, filter, "{file}: image of another filter");
        assert_eq!(p.spec_text("pluginName"), Some(filter), "{file}");
        assert_eq!(
            p.spec("selector"),
            Some(&json!({ "matchLabels": { "app": "orders" } })),
            "{file}"
        );
        assert_eq!(
            p.spec_text("imagePullPolicy"),
            Some("IfNotPresent"),
            "{file}"
        );
        assert_eq!(p.spec_text("type"), Some("HTTP"), "{file}");
        let matches = p.spec("match").and_then(Value::as_array).cloned();
        assert!(
            matches
                .unwrap_or_default()
                .iter()
                .all(|m| m["mode"] == "SERVER"),
            "{file}: not inbound only"
        );
        let spec = p.manifest["spec"].as_object().cloned().unwrap_or_default();
        for field in spec.keys() {
            assert!(
                SPEC_FIELDS.contains(&field.as_str()),
                "{file}: `spec.{field}` is not a WasmPlugin field"
            );
        }
    }
}

#[test]
fn auth_from_its_manifest_refuses_strangers_and_names_consumers() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    for naming in NAMINGS {
        let auth = Plugin::load("auth");
        let digest = format!("{:x}", Sha256::digest(STOREFRONT_KEY));
        let consumers = auth.plugin_config()["api_key"]["consumers"].clone();
        assert!(
            consumers
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["key_sha256"] == digest.as_str())),
            "{}: the storefront demo key is not among {consumers}",
            auth.file
        );
        // The JWKS endpoint, under the cluster name the manifest uses (Istio's
        // outbound cluster of the in-mesh Keycloak).
        let provider = auth.plugin_config()["jwt"]["providers"][0].clone();
        let jwks_cluster = provider["remote_jwks"]["cluster"]
            .as_str()
            .unwrap_or_default();
        let keycloak = Echo::start(jwks_cluster, "127.0.0.1:0").unwrap();
        let jwks_path = provider["remote_jwks"]["path"].as_str().unwrap_or_default();
        keycloak.reply(jwks_path, Reply::json(&jwks(&["rsa-a"])));
        let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
        let envoy = start(
            &[&auth],
            Bootstrap::new(&backend).cluster(&keycloak),
            naming,
        );

        let refused = envoy.get("/orders", &[]);
        assert_eq!(refused.status, 401, "{refused:?}");
        assert!(refused
            .header("www-authenticate")
            .is_some_and(|w| w.contains("ApiKey")));
        assert_eq!(envoy.get("/orders", &[("x-api-key", "guess")]).status, 401);
        let spoofed = envoy.get(
            "/orders",
            &[
                ("x-api-key", STOREFRONT_KEY),
                ("x-meshwasm-consumer", "backoffice"),
            ],
        );
        assert_eq!(
            upstream_saw(&spoofed, "x-meshwasm-consumer").as_deref(),
            Some("storefront")
        );
        assert_eq!(
            upstream_saw(&spoofed, "x-api-key"),
            None,
            "the key went upstream"
        );
        assert_eq!(envoy.get("/healthz", &[]).status, 200);
        // DELETE is for backoffice only.
        let delete = envoy.request("DELETE", "/orders/1", &[("x-api-key", STOREFRONT_KEY)], b"");
        assert_eq!(delete.status, 403, "{delete:?}");

        // The admin API wants a token from the manifest's issuer with the
        // admin scope; an API key is not enough.
        let token = |scope: &str| {
            let claims = json!({
                "iss": provider["issuer"], "aud": provider["audiences"][0], "sub": "ops-alice",
                "exp": now() + 600, "scope": scope,
            });
            format!("Bearer {}", mint("rsa-a", Algorithm::RS256, &claims))
        };
        let admin = envoy.get(
            "/orders/admin/stats",
            &[("authorization", &token("orders.admin"))],
        );
        assert_eq!(
            upstream_saw(&admin, "x-meshwasm-consumer").as_deref(),
            Some("ops-alice")
        );
        assert!(keycloak.received().iter().all(|r| r.path == jwks_path));
        let reader = envoy.get(
            "/orders/admin/stats",
            &[("authorization", &token("orders.read"))],
        );
        assert_eq!(reader.status, 403, "{reader:?}");
        let by_key = envoy.get("/orders/admin/stats", &[("x-api-key", STOREFRONT_KEY)]);
        assert_eq!(by_key.status, 401, "{by_key:?}");
    }
}

#[test]
fn rate_limit_from_its_manifest_holds_its_limit() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    for naming in NAMINGS {
        let rate_limit = Plugin::load("rate-limit");
        let (rule, allowed) = post_rule(&rate_limit.plugin_config(), &rate_limit.file);
        assert!(
            (1..=50).contains(&allowed),
            "{rule}: {allowed} is too many to test"
        );
        let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
        let envoy = start(&[&rate_limit], Bootstrap::new(&backend), naming);

        let alice = [("x-meshwasm-consumer", "alice")];
        for n in 0..allowed {
            let answer = envoy.request("POST", "/orders", &alice, b"{}");
            assert_eq!(answer.status, 200, "request {n}: {answer:?}");
        }
        let limited = envoy.request("POST", "/orders", &alice, b"{}");
        assert_eq!(limited.status, 429, "{limited:?}");
        assert!(limited.header("retry-after").is_some(), "{limited:?}");
        assert_eq!(limited.json()["error"], "rate_limited");
        // Keyed by consumer: bob has his own bucket, and reads are not limited
        // by the POST rule.
        let bob = [("x-meshwasm-consumer", "bob")];
        assert_eq!(envoy.request("POST", "/orders", &bob, b"{}").status, 200);
        assert_eq!(envoy.get("/orders", &alice).status, 200);
        assert_eq!(backend.received().len() as u64, allowed + 2);
    }
}

#[test]
fn header_router_from_its_manifest_rewrites_and_assigns_variants() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    for naming in NAMINGS {
        let router = Plugin::load("header-router");
        let config = router.plugin_config();
        let variants: Vec<Value> = config["rules"]
            .as_array()
            .and_then(|rules| rules.iter().find_map(|r| r["split"]["targets"].as_array()))
            .map(|targets| targets.iter().map(|t| t["value"].clone()).collect())
            .unwrap_or_default();
        assert!(!variants.is_empty(), "{}: no split", router.file);
        let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
        let envoy = start(&[&router], Bootstrap::new(&backend), naming);

        let headers = [
            ("x-meshwasm-consumer", "storefront"),
            ("x-orders-variant", "forged"),
        ];
        let answer = envoy.get("/api/v1/orders/42?expand=items", &headers);
        assert_eq!(answer.status, 200, "{answer:?}");
        let seen = answer.json();
        assert_eq!(seen["path"], "/orders/42");
        assert_eq!(seen["query"], "expand=items");
        assert_eq!(seen["headers"]["x-api-version"], "v1");
        assert_eq!(
            answer.header("link"),
            Some("</orders/42>; rel=\"successor-version\"")
        );
        let variant = seen["headers"]["x-orders-variant"].clone();
        assert!(variants.contains(&variant), "variant {variant}");
        // Sticky per consumer, on any path; current paths are not rewritten.
        let again = envoy.get("/orders/43", &headers).json();
        assert_eq!(again["path"], "/orders/43");
        assert_eq!(again["headers"]["x-orders-variant"], variant);
        assert_eq!(again["headers"].get("x-api-version"), None);
    }
}

#[test]
fn metrics_from_its_manifest_shows_up_in_prometheus() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    for naming in NAMINGS {
        let metrics = Plugin::load("metrics");
        let prefix = metrics.plugin_config()["prefix"]
            .as_str()
            .unwrap_or("meshwasm")
            .to_owned();
        let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
        let envoy = start(&[&metrics], Bootstrap::new(&backend), naming);

        let answer = envoy.get("/orders", &[("x-meshwasm-consumer", "storefront")]);
        assert_eq!(answer.status, 200, "{answer:?}");
        let requests = format!("{prefix}_requests_total");
        let labels = [
            ("method", "GET"),
            ("code", "200"),
            ("code_class", "2xx"),
            ("route", "default"),
            ("cluster", "backend"),
            ("consumer", "storefront"),
        ];
        eventually("the request is counted", || {
            envoy.counter(&requests, &labels) == 1.0
        });
    }
}

/// What the orders sidecar does with all four filters, whether as four
/// plugins or as the chain module: a stranger refused, the legacy path
/// rewritten for a known consumer with a variant assigned, the POST limit
/// (`allowed` requests) held, and metrics counting every answer, auth's and
/// rate-limit's refusals included, with the consumer auth named.
fn serves_the_orders_api(envoy: &Envoy, allowed: u64) {
    let key = [("x-api-key", STOREFRONT_KEY)];

    assert_eq!(envoy.get("/orders", &[]).status, 401);
    let routed = envoy.get("/api/v1/orders/7", &key);
    assert_eq!(routed.status, 200, "{routed:?}");
    assert_eq!(routed.json()["path"], "/orders/7");
    assert_eq!(
        upstream_saw(&routed, "x-meshwasm-consumer").as_deref(),
        Some("storefront")
    );
    assert!(upstream_saw(&routed, "x-orders-variant").is_some());
    for n in 0..allowed {
        let answer = envoy.request("POST", "/orders", &key, b"{}");
        assert_eq!(answer.status, 200, "request {n}: {answer:?}");
    }
    assert_eq!(envoy.request("POST", "/orders", &key, b"{}").status, 429);

    let count = |labels: &[(&str, &str)]| envoy.counter("meshwasm_requests_total", labels);
    eventually("every answer is counted", || {
        count(&[("code", "401"), ("consumer", "none")]) == 1.0
            && count(&[("code", "429"), ("consumer", "storefront")]) == 1.0
            && envoy.counter(
                "meshwasm_auth_requests_total",
                &[
                    ("decision", "unauthorized"),
                    ("reason", "missing_credentials"),
                ],
            ) == 1.0
            && count(&[("code", "200"), ("consumer", "storefront")]) == (allowed + 1) as f64
    });
}

#[test]
fn all_four_run_in_the_order_istio_puts_them_and_metrics_sees_every_refusal() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    let mut plugins: Vec<Plugin> = FILTERS.iter().map(|f| Plugin::load(f)).collect();
    plugins.sort_by_key(Plugin::chain_position);
    let order: Vec<&str> = plugins.iter().map(|p| p.filter.as_str()).collect();
    assert_eq!(order, ["metrics", "auth", "rate-limit", "header-router"]);
    let (_, allowed) = post_rule(&plugins[2].plugin_config(), &plugins[2].file);
    for naming in NAMINGS {
        let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
        let envoy = start(
            &plugins.iter().collect::<Vec<_>>(),
            Bootstrap::new(&backend),
            naming,
        );
        serves_the_orders_api(&envoy, allowed);
    }
}

#[test]
fn the_chain_manifest_is_the_four_manifests_in_one_plugin() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    let chain = Plugin::load("chain");
    let config = chain.plugin_config();
    // The same four configurations, under the chain's part names.
    for (part, filter) in [
        ("metrics", "metrics"),
        ("auth", "auth"),
        ("rate_limit", "rate-limit"),
        ("header_router", "header-router"),
    ] {
        let alone = Plugin::load(filter);
        assert_eq!(
            config[part],
            alone.plugin_config(),
            "{}: `{part}` differs from {}",
            chain.file,
            alone.file
        );
    }
    // Where metrics alone sits: first in AUTHN, so it counts every refusal.
    let (phase, priority, _) = chain.chain_position();
    let (metrics_phase, metrics_priority, _) = Plugin::load("metrics").chain_position();
    assert_eq!(
        (phase, priority),
        (metrics_phase, metrics_priority),
        "{}: not where metrics.yaml sits",
        chain.file
    );
}

#[test]
fn the_chain_from_its_manifest_serves_as_the_four_do() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    let chain = Plugin::load("chain");
    let (_, allowed) = post_rule(&chain.plugin_config()["rate_limit"], &chain.file);
    for naming in NAMINGS {
        let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
        let envoy = start(&[&chain], Bootstrap::new(&backend), naming);
        serves_the_orders_api(&envoy, allowed);
    }
}

#[test]
fn a_refused_plugin_config_fails_every_request_whatever_the_fail_strategy() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    // A new sidecar whose first configuration the module refuses: Envoy
    // rejects the ECDS resource, so the filter has no configuration at all
    // and Envoy answers 500 (response flag NFCF) in its place, for every
    // fail strategy. `failStrategy` only covers a module that cannot be
    // fetched or a VM that fails; `meshwasm check` catches this before.
    let mut config = Plugin::load("chain").plugin_config();
    config["rate_limit"]["rules"][0]["limit"]["requests"] = json!(0);
    for strategy in ["FAIL_OPEN", "FAIL_CLOSE", "FAIL_RELOAD"] {
        let chain = Plugin::load("chain")
            .with_spec("failStrategy", json!(strategy))
            .with_spec("pluginConfig", config.clone());
        let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
        let bootstrap =
            Bootstrap::new(&backend).filter(chain.wasm_filter(Naming::TrafficExtension));
        let envoy = Envoy::start(&bootstrap).unwrap_or_else(|e| panic!("{strategy}: {e}"));
        let refusal =
            "meshwasm chain: invalid configuration: field `rate_limit.rules[0].limit.requests`";
        assert!(envoy.log().contains(refusal), "{strategy}: no `{refusal}`");
        for path in ["/healthz", "/orders"] {
            let answer = envoy.get(path, &[("x-api-key", STOREFRONT_KEY)]);
            assert_eq!(answer.status, 500, "{strategy} {path}: {answer:?}");
        }
        assert!(
            backend.received().is_empty(),
            "{strategy}: a request got through"
        );
    }
}

#[test]
fn the_istio_guide_lists_every_metric_label_in_extra_stat_tags() {
    meshwasm_e2e::wasm_only!("Istio delivers WasmPlugins, Wasm modules only");
    let path = workspace_root().join("docs/istio.md");
    let guide = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let lists: Vec<&str> = guide
        .lines()
        .filter(|l| l.contains("extraStatTags:"))
        .collect();
    assert!(!lists.is_empty(), "docs/istio.md sets no extraStatTags");
    for list in lists {
        for label in LABELS {
            let listed = list
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == *label);
            assert!(listed, "`{label}` is missing from `{}`", list.trim());
        }
    }
    assert!(guide.contains(r#"".*meshwasm_.*""#));
}
