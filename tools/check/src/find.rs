//! Finding meshwasm configurations in the files users roll out: Istio
//! `WasmPlugin` manifests and Envoy configs (bootstrap, listeners, ECDS
//! resources), in YAML or JSON; in Envoy configs, both the Wasm filters
//! and the native build's dynamic-module filters.

use crate::module::Module;
use serde::Deserialize;
use serde_json::Value;

/// The `@type` of Envoy's Wasm HTTP filter configuration.
const WASM_FILTER: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
/// The `@type` of Envoy's dynamic-module HTTP filter configuration (the
/// native build, `docs/native.md`).
const NATIVE_FILTER: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";
/// The `@type` Envoy wants a Wasm plugin's `configuration` in.
const STRING_VALUE: &str = "type.googleapis.com/google.protobuf.StringValue";

/// One module configuration found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Where in the file: the document and the path to the filter.
    pub place: String,
    /// The module that will read it.
    pub module: Module,
    /// The configuration as the module receives it (empty: none given).
    pub json: Vec<u8>,
    /// Whether the native build reads it (a dynamic-module filter).
    pub native: bool,
}

/// What a file holds: the configurations for our modules, and the problems
/// that keep one from being checked at all.
#[derive(Debug, Default)]
pub struct Findings {
    /// Configurations for meshwasm modules.
    pub found: Vec<Found>,
    /// A configuration that cannot be given to a module (where, why).
    pub unreadable: Vec<(String, String)>,
    /// Wasm filters configured by extension config discovery (where, and
    /// the resource file when it is a file): check those files instead.
    pub discovered: Vec<(String, Option<String>)>,
}

/// Reads every YAML (or JSON) document in `text` and finds the meshwasm
/// module configurations in each.
pub fn in_text(text: &str) -> Result<Findings, String> {
    let mut findings = Findings::default();
    let documents: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(text)
        .map(serde_yaml::Value::deserialize)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not YAML or JSON: {e}"))?;
    let several = documents.len() > 1;
    for (index, document) in documents.into_iter().enumerate() {
        if document.is_null() {
            continue;
        }
        let document: Value = serde_json::to_value(document)
            .map_err(|e| format!("document {index}: cannot be read as JSON: {e}"))?;
        let prefix = if several {
            format!("document {index}: ")
        } else {
            String::new()
        };
        if document.get("kind").and_then(Value::as_str) == Some("WasmPlugin") {
            wasm_plugin(&document, &prefix, &mut findings);
        } else {
            envoy(&document, &mut format!("{prefix}$"), &mut findings);
        }
    }
    Ok(findings)
}

/// An Istio `WasmPlugin`: the module from `spec.url`, the configuration
/// from `spec.pluginConfig` (which Istio hands over as JSON).
fn wasm_plugin(manifest: &Value, prefix: &str, findings: &mut Findings) {
    let text = |pointer: &str| manifest.pointer(pointer).and_then(Value::as_str);
    let place = format!(
        "{prefix}WasmPlugin {}/{}",
        text("/metadata/namespace").unwrap_or("default"),
        text("/metadata/name").unwrap_or("?")
    );
    let Some(module) = text("/spec/url").and_then(Module::from_reference) else {
        return;
    };
    let json = match manifest.pointer("/spec/pluginConfig") {
        None | Some(Value::Null) => Vec::new(),
        Some(config) => config.to_string().into_bytes(),
    };
    findings.found.push(Found {
        place,
        module,
        json,
        native: false,
    });
}

/// Walks an Envoy config for Wasm HTTP filters whose module is ours.
fn envoy(value: &Value, path: &mut String, findings: &mut Findings) {
    match value {
        Value::Object(object) => {
            match object.get("@type").and_then(Value::as_str) {
                Some(WASM_FILTER) => {
                    if let Some(plugin) = object.get("config") {
                        wasm_filter(plugin, path, findings);
                    }
                    return;
                }
                Some(NATIVE_FILTER) => {
                    native_filter(value, path, findings);
                    return;
                }
                _ => {}
            }
            if let Some(discovery) = object.get("config_discovery") {
                if discovers_wasm(discovery) {
                    let file = discovery
                        .pointer("/config_source/path_config_source/path")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    findings.discovered.push((path.clone(), file));
                }
            }
            for (key, child) in object {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                envoy(child, path, findings);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                envoy(child, path, findings);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Whether an extension config discovery entry can deliver a Wasm filter
/// (or a native one).
fn discovers_wasm(discovery: &Value) -> bool {
    discovery
        .get("type_urls")
        .and_then(Value::as_array)
        .is_some_and(|urls| {
            urls.iter()
                .any(|u| matches!(u.as_str(), Some(WASM_FILTER | NATIVE_FILTER)))
        })
}

/// One dynamic-module filter: ours if its module is `meshwasm_<name>`
/// (`libmeshwasm_<name>.so`), its configuration in `filter_config`.
fn native_filter(filter: &Value, path: &str, findings: &mut Findings) {
    let module = filter
        .pointer("/dynamic_module_config/name")
        .and_then(Value::as_str)
        .and_then(Module::from_reference);
    if let Some(module) = module {
        let name = filter.get("filter_name").and_then(Value::as_str);
        record(findings, path, name, module, true, filter, "filter_config");
    }
}

/// One Wasm filter's `PluginConfig`: ours if its code is `meshwasm_<name>.wasm`.
fn wasm_filter(plugin: &Value, path: &str, findings: &mut Findings) {
    let code = plugin.pointer("/vm_config/code");
    let reference = code
        .and_then(|c| c.pointer("/local/filename"))
        .or_else(|| code.and_then(|c| c.pointer("/remote/http_uri/uri")))
        .and_then(Value::as_str);
    if let Some(module) = reference.and_then(Module::from_reference) {
        let name = plugin.get("name").and_then(Value::as_str);
        record(findings, path, name, module, false, plugin, "configuration");
    }
}

/// Records one of our filters, `name` at `path`, with the configuration
/// in `filter`'s `field`: found, or unreadable when it is not a
/// `StringValue`.
fn record(
    findings: &mut Findings,
    path: &str,
    name: Option<&str>,
    module: Module,
    native: bool,
    filter: &Value,
    field: &str,
) {
    let place = match name {
        Some(name) => format!("{path} ({name})"),
        None => path.to_owned(),
    };
    match string_value(filter.get(field)) {
        Some(json) => findings.found.push(Found {
            place,
            module,
            json,
            native,
        }),
        None => findings.unreadable.push((
            place,
            format!("`{field}` must be a {STRING_VALUE} holding the JSON"),
        )),
    }
}

/// The JSON an Envoy `Any` holds as a `StringValue`: empty when absent (no
/// configuration given), `None` when it is of another type.
fn string_value(any: Option<&Value>) -> Option<Vec<u8>> {
    match any {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(any) => match (any.get("@type").and_then(Value::as_str), any.get("value")) {
            (Some(STRING_VALUE), Some(Value::String(json))) => Some(json.clone().into_bytes()),
            (Some(STRING_VALUE), None) => Some(Vec::new()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_our_filters_in_an_envoy_config_and_skips_others() {
        let text = r#"
static_resources:
  listeners:
    - filter_chains:
        - filters:
            - typed_config:
                http_filters:
                  - name: ours
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        name: chain
                        vm_config: { code: { local: { filename: /m/meshwasm_chain.wasm } } }
                        configuration:
                          "@type": type.googleapis.com/google.protobuf.StringValue
                          value: '{"metrics": {}}'
                  - name: theirs
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        vm_config: { code: { local: { filename: /m/other.wasm } } }
                  - name: bytes
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        vm_config: { code: { remote: { http_uri: { uri: "https://x/meshwasm_auth.wasm" } } } }
                        configuration: { "@type": type.googleapis.com/google.protobuf.BytesValue, value: e30= }
"#;
        let findings = in_text(text).unwrap();
        assert_eq!(
            findings.found,
            vec![Found {
                place: "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config (chain)".into(),
                module: Module::Chain,
                json: br#"{"metrics": {}}"#.to_vec(),
                native: false,
            }]
        );
        assert_eq!(findings.unreadable.len(), 1);
        assert!(findings.unreadable[0].1.contains("StringValue"));
    }

    #[test]
    fn finds_the_native_builds_filters() {
        let text = r#"
http_filters:
  - name: ours
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter
      dynamic_module_config: { name: meshwasm_rate_limit, do_not_close: true }
      filter_name: meshwasm
      filter_config:
        "@type": type.googleapis.com/google.protobuf.StringValue
        value: '{"rules": []}'
  - name: theirs
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter
      dynamic_module_config: { name: other }
      filter_name: x
"#;
        let findings = in_text(text).unwrap();
        assert_eq!(
            findings.found,
            vec![Found {
                place: "$.http_filters[0].typed_config (meshwasm)".into(),
                module: Module::RateLimit,
                json: br#"{"rules": []}"#.to_vec(),
                native: true,
            }]
        );
    }

    #[test]
    fn finds_wasm_plugins_in_a_multi_document_file() {
        let text = r#"
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: limits, namespace: shop }
spec:
  url: oci://ghcr.io/example/meshwasm-rate-limit:0.1.0
  pluginConfig: { rules: [] }
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: other, namespace: shop }
spec: { url: oci://ghcr.io/example/something-else:1 }
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: stats, namespace: shop }
spec: { url: oci://ghcr.io/example/meshwasm-metrics:0.1.0 }
"#;
        let findings = in_text(text).unwrap();
        let found: Vec<(&str, Module, &[u8])> = findings
            .found
            .iter()
            .map(|f| (f.place.as_str(), f.module, f.json.as_slice()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "document 0: WasmPlugin shop/limits",
                    Module::RateLimit,
                    &br#"{"rules":[]}"#[..]
                ),
                (
                    "document 2: WasmPlugin shop/stats",
                    Module::Metrics,
                    &b""[..]
                ),
            ]
        );
    }

    #[test]
    fn text_that_is_not_yaml_is_refused() {
        assert!(in_text("a: [unclosed").is_err());
    }
}
