//! `meshwasm check` refuses what the modules refuse, with the same words:
//! every configuration under `tools/check/tests/refused/` is handed to the
//! module in a real Envoy (by ECDS, one Envoy per module) and to the
//! checker, and Envoy's log must show the very line the checker prints.

use meshwasm_check::{check_config, Module};
use meshwasm_e2e::{workspace_root, Bootstrap, Echo, Envoy, WasmFilter};
use std::time::{Duration, Instant};

/// The refused configurations for `module`: (file name, bytes).
fn refused(module: Module) -> Vec<(String, String)> {
    let dir = workspace_root().join("tools/check/tests/refused");
    let mut cases: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.split_once("--").map(|(m, _)| m) == Some(module.name())
        })
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    cases.sort();
    cases
}

fn module_refuses_what_the_checker_refuses(module: Module) {
    let cases = refused(module);
    assert!(cases.len() >= 3, "too few refused configs for {module}");
    let backend = Echo::start("backend", "127.0.0.1:0").unwrap();
    // A good configuration first: auth's turns requests without a key away,
    // which shows below that it is still the one serving.
    let (good, status) = match module {
        Module::Auth => (
            r#"{"api_key": {"consumers": [{"name": "a", "key": "k"}]}}"#,
            401,
        ),
        _ => ("{}", 200),
    };
    let filter = WasmFilter::raw(module.name(), good).via_ecds();
    let envoy = Envoy::start(&Bootstrap::new(&backend).filter(filter.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    for (name, config) in cases {
        let checked = check_config(module, config.as_bytes());
        assert!(!checked.is_ok(), "{name}: the checker accepted it");
        let line = checked.to_string();
        let before = envoy.log().matches(&line).count();
        envoy
            .update_ecds(&filter.with_raw_configuration(&config))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while envoy.log().matches(&line).count() == before {
            assert!(
                Instant::now() < deadline,
                "{name}: the module never logged the checker's line\n  {line}\nEnvoy's log:\n{}",
                envoy.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The last good configuration still serves.
    assert_eq!(envoy.get("/", &[]).status, status);
}

#[test]
fn auth() {
    module_refuses_what_the_checker_refuses(Module::Auth);
}

#[test]
fn rate_limit() {
    module_refuses_what_the_checker_refuses(Module::RateLimit);
}

#[test]
fn header_router() {
    module_refuses_what_the_checker_refuses(Module::HeaderRouter);
}

#[test]
fn metrics() {
    module_refuses_what_the_checker_refuses(Module::Metrics);
}

#[test]
fn chain() {
    module_refuses_what_the_checker_refuses(Module::Chain);
}
