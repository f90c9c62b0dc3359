//! The `meshwasm` command as a user runs it: what it prints, how it exits.
// Helpers outside #[test] functions may fail a test by panicking.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use meshwasm_check::{check_config, Module};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn meshwasm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshwasm"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Files under `dir` (relative to the repository) ending in `ext`, sorted.
fn files(dir: &str, ext: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(ext))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    found.sort();
    found
}

#[test]
fn each_refused_config_exits_1_with_the_modules_own_words() {
    let refused = files("tools/check/tests/refused", ".json");
    assert!(refused.len() >= 20, "{refused:?}");
    for file in refused {
        let name = file.rsplit('/').next().unwrap();
        let module: Module = name.split_once("--").unwrap().0.parse().unwrap();
        let output = meshwasm(&["check", "--filter", module.name(), &file]);
        assert_eq!(output.status.code(), Some(1), "{file}");
        let bytes = std::fs::read(root().join(&file)).unwrap();
        let expected = format!("{file}: {}\n", check_config(module, &bytes));
        assert_eq!(stdout(&output), expected);
        assert!(expected.contains("invalid configuration"), "{expected}");
    }
}

#[test]
fn every_shipped_config_passes() {
    let mut shipped = files("envoy-config", ".yaml");
    for dir in [
        "envoy-config/ecds",
        "envoy-config/ecds/filters",
        "envoy-config/istio",
        "envoy-config/native",
    ] {
        shipped.extend(files(dir, ".yaml"));
    }
    let args: Vec<&str> = ["check"]
        .into_iter()
        .chain(shipped.iter().map(String::as_str))
        .collect();
    let output = meshwasm(&args);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let configured = text.lines().filter(|l| l.ends_with(": configured")).count();
    // Each of the five modules at least once, the chain in four places
    // (one of them the native build's).
    for module in Module::ALL {
        assert!(
            text.contains(&format!("meshwasm {module}: configured")),
            "{module} not checked:\n{text}"
        );
    }
    assert!(configured >= 15, "{text}");
}

#[test]
fn one_refused_plugin_fails_a_manifest_file() {
    let dir = std::env::temp_dir().join(format!("meshwasm-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plugins.yaml");
    std::fs::write(
        &file,
        "kind: WasmPlugin\nmetadata: {name: ok, namespace: ns}\n\
         spec: {url: oci://r/meshwasm/metrics:1}\n---\n\
         kind: WasmPlugin\nmetadata: {name: bad, namespace: ns}\n\
         spec: {url: oci://r/meshwasm/chain:1, pluginConfig: {metrics: {prefix: mesh-wasm}}}\n",
    )
    .unwrap();
    let output = meshwasm(&["check", file.to_str().unwrap()]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("document 0: WasmPlugin ns/ok: meshwasm metrics: configured"),
        "{text}"
    );
    assert!(
        text.contains(
            "document 1: WasmPlugin ns/bad: meshwasm chain: invalid configuration: field `metrics.prefix`"
        ),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn what_cannot_be_checked_exits_2() {
    for args in [
        &["check"][..],
        &["check", "--filter", "ratelimit", "Cargo.toml"],
        &["check", "no/such/file.yaml"],
        &["check", "Cargo.toml"],
        &["check", ".ci/run"],
        &["schema", "nope"],
        &["frobnicate"],
    ] {
        assert_eq!(meshwasm(args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn the_schemas_in_the_repository_are_up_to_date() {
    for module in Module::ALL {
        let output = meshwasm(&["schema", module.name()]);
        assert_eq!(output.status.code(), Some(0));
        let path = root().join(format!("schemas/{module}.schema.json"));
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == stdout(&output),
            "{} is out of date with the config types: run `make schemas`",
            path.display()
        );
    }
}

#[test]
fn every_filter_crate_is_a_module() {
    let mut crates: Vec<String> = std::fs::read_dir(root().join("filters"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    crates.sort();
    let mut modules: Vec<&str> = Module::ALL.iter().map(|m| m.name()).collect();
    modules.sort_unstable();
    assert_eq!(
        modules, crates,
        "a filter under filters/ that `meshwasm check` does not know"
    );
}
