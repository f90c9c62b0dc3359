//! The JSON Schemas describe what the modules accept: every shipped
//! configuration passes its schema, and a configuration the module refuses
//! for its shape (an unknown field, a wrong type, a value outside a set) is
//! refused by the schema too. (Rules across fields, such as unique names,
//! are the module's alone: `meshwasm check` runs those.)
// Helpers outside #[test] functions may fail a test by panicking.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use meshwasm_check::{check_config, Module, Outcome};
use serde_json::Value;
use shipped::root;

mod shipped;

fn validator(module: Module) -> jsonschema::Validator {
    let path = root().join(format!("schemas/{module}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn every_shipped_configuration_passes_its_schema() {
    let mut checked = 0;
    for (path, found) in shipped::configurations() {
        let json: Value = if found.json.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&found.json).unwrap()
        };
        let errors: Vec<String> = validator(found.module)
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {}: {errors:?}",
            path.display(),
            found.place
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} configurations found");
}

#[test]
fn what_the_module_refuses_for_its_shape_the_schema_refuses() {
    let dir = root().join("tools/check/tests/refused");
    let mut shape_errors = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let module: Module = name.split_once("--").unwrap().0.parse().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let Outcome::Refused(err) = check_config(module, &bytes).outcome else {
            panic!("{name}: accepted");
        };
        let shape = [
            "unknown field",
            "invalid type",
            "unknown variant",
            "set exactly one",
            "must be a JSON object",
        ]
        .iter()
        .any(|s| err.reason().contains(s));
        if !shape {
            continue;
        }
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            !validator(module).is_valid(&json),
            "{name}: the module refuses it ({err}) but the schema accepts it"
        );
        shape_errors += 1;
    }
    assert!(
        shape_errors >= 8,
        "only {shape_errors} shape errors in the corpus"
    );
}
