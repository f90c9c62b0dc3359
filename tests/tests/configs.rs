//! The shipped Envoy configs stay in step with the code.

use meshwasm_core::metrics::LABELS;
use meshwasm_e2e::workspace_root;

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
