//! The shipped Envoy configs stay in step with the code and with the
//! harness's secure sidecar settings.

use meshwasm_core::metrics::LABELS;
use meshwasm_e2e::{secure_sidecar_settings, workspace_root};
use serde_json::Value;
use std::path::PathBuf;

#[test]
fn every_metric_label_has_a_stats_tag_in_every_shipped_config() {
    let dir = workspace_root().join("envoy-config");
    let mut checked = 0;
    let bootstraps = [dir.clone(), dir.join("ecds")]
        .into_iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|entry| entry.unwrap().path());
    for path in bootstraps {
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            for label in LABELS {
                assert!(
                    text.contains(&format!("tag_name: {label}\n")),
                    "{} has no stats tag for `{label}`",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no configs under {}", dir.display());
}

/// Every Envoy config the project ships, templates included: the sidecars
/// under `envoy-config/` (and `ecds/`) and the demo mesh's under
/// `examples/mesh/`.
fn shipped_envoy_configs() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut paths: Vec<PathBuf> = [
        "envoy-config",
        "envoy-config/ecds",
        "envoy-config/native",
        "examples/mesh",
    ]
    .into_iter()
    .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
    .map(|entry| entry.unwrap().path())
    .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    .collect();
    paths.sort();
    paths
}

/// A template that parses: each `${NAME}` in a line becomes `0`, and a
/// line that is a placeholder alone (a block, such as `${STATS_TAGS}`) is
/// left out.
fn filled_in(template: &str) -> String {
    let mut lines = Vec::new();
    for line in template.lines() {
        let mut pieces = line.split("${");
        let mut filled = pieces.next().unwrap_or_default().to_owned();
        for piece in pieces {
            filled.push('0');
            filled.push_str(piece.split_once('}').map_or(piece, |(_, after)| after));
        }
        if filled.trim() != "0" || line.trim() == "0" {
            lines.push(filled);
        }
    }
    lines.join("\n")
}

/// Every HTTP connection manager config anywhere in `value`.
fn connection_managers(value: &Value, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            let type_url = map.get("@type").and_then(Value::as_str).unwrap_or("");
            if type_url.ends_with(".HttpConnectionManager") {
                found.push(value.clone());
            }
            map.values().for_each(|v| connection_managers(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| connection_managers(v, found)),
        _ => {}
    }
}

#[test]
fn every_shipped_listener_has_the_secure_sidecar_settings() {
    let mut checked = 0;
    for path in shipped_envoy_configs() {
        let text = filled_in(&std::fs::read_to_string(&path).unwrap());
        let config: Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let mut managers = Vec::new();
        connection_managers(&config, &mut managers);
        for hcm in &managers {
            // Trusted proxies are each config's own business.
            let hops = hcm["xff_num_trusted_hops"].as_u64().unwrap_or(0);
            let wanted = secure_sidecar_settings(u32::try_from(hops).unwrap());
            for (name, value) in wanted.as_object().unwrap() {
                assert_eq!(
                    &hcm[name.as_str()],
                    value,
                    "{}: {} of listener {}",
                    path.display(),
                    name,
                    hcm["stat_prefix"]
                );
            }
            checked += 1;
        }
    }
    // 9 under envoy-config/ (four filters, the chain, four modules, both
    // again by ECDS, and the native chain), 3 in the demo mesh.
    assert_eq!(checked, 12, "HTTP connection managers found");
}
