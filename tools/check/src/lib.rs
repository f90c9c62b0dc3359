//! `meshwasm check`: a configuration checked before rollout by the very
//! code the module runs in `on_configure` (parsing with unknown fields
//! refused, validation, construction), natively. It reads a module's JSON
//! configuration, Istio `WasmPlugin` manifests, or Envoy configs (every Wasm
//! filter whose module is `meshwasm_<name>.wasm`), and `meshwasm schema`
//! prints the JSON Schema of a module's configuration.

pub mod find;
pub mod module;

pub use module::{Module, UnknownModule};

use meshwasm_core::ConfigError;
use std::fmt;

/// What became of one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The module would accept it.
    Configured,
    /// The module would refuse it, for this reason.
    Refused(ConfigError),
    /// It cannot reach the module as written (see the reason).
    Unreadable(String),
    /// The filter is configured by extension config discovery: its
    /// configuration is elsewhere (in this file, when it is a file).
    Discovered(Option<String>),
}

/// One configuration checked: where it was, for which module, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Where in the file (empty for a file that is one configuration).
    pub place: String,
    /// The module that reads it; `None` where it could not be told.
    pub module: Option<Module>,
    /// Accepted, refused or unreadable.
    pub outcome: Outcome,
}

impl Checked {
    /// Whether nothing in it would be refused.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Configured | Outcome::Discovered(_))
    }
}

/// Prints as the module logs it (`meshwasm auth: invalid configuration:
/// field `api_key.consumers`: ...`), after the place.
impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.place.is_empty() {
            write!(f, "{}: ", self.place)?;
        }
        match self.module {
            Some(module) => write!(f, "meshwasm {module}: ")?,
            None => f.write_str("meshwasm: ")?,
        }
        match &self.outcome {
            Outcome::Configured => f.write_str("configured"),
            Outcome::Refused(err) => write!(f, "{err}"),
            Outcome::Unreadable(why) => f.write_str(why),
            Outcome::Discovered(Some(file)) => write!(
                f,
                "a Wasm filter configured by extension config discovery from {file}: check that file"
            ),
            Outcome::Discovered(None) => f.write_str(
                "a Wasm filter configured by extension config discovery: check its resources",
            ),
        }
    }
}

/// Why a file could not be checked at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// Not YAML or JSON.
    Syntax(String),
    /// No configuration for a meshwasm module in it.
    NothingFound,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Syntax(why) => f.write_str(why),
            FileError::NothingFound => f.write_str(
                "no meshwasm module configuration found (no WasmPlugin or Envoy Wasm filter \
                 whose module is meshwasm_<name>; for a bare configuration, name its module \
                 with --filter)",
            ),
        }
    }
}

impl std::error::Error for FileError {}

/// Checks one module's JSON configuration, as the module would.
pub fn check_config(module: Module, json: &[u8]) -> Checked {
    Checked {
        place: String::new(),
        module: Some(module),
        outcome: match module.check(json) {
            Ok(()) => Outcome::Configured,
            Err(err) => Outcome::Refused(err),
        },
    }
}

/// Checks one module's JSON configuration, as the module's native build
/// would (see [`Module::check_native`]).
pub fn check_native_config(module: Module, json: &[u8]) -> Checked {
    Checked {
        place: String::new(),
        module: Some(module),
        outcome: match module.check_native(json) {
            Ok(()) => Outcome::Configured,
            Err(err) => Outcome::Refused(err),
        },
    }
}

/// Checks every meshwasm configuration in a file of WasmPlugin manifests
/// or Envoy configs (YAML or JSON, one document or several).
pub fn check_manifests(text: &str) -> Result<Vec<Checked>, FileError> {
    let findings = find::in_text(text).map_err(FileError::Syntax)?;
    if findings.found.is_empty() && findings.unreadable.is_empty() && findings.discovered.is_empty()
    {
        return Err(FileError::NothingFound);
    }
    let checked = findings.found.into_iter().map(|found| {
        let checked = if found.native {
            check_native_config(found.module, &found.json)
        } else {
            check_config(found.module, &found.json)
        };
        Checked {
            place: found.place,
            ..checked
        }
    });
    let unreadable = findings.unreadable.into_iter().map(|(place, why)| Checked {
        place,
        module: None,
        outcome: Outcome::Unreadable(why),
    });
    let discovered = findings
        .discovered
        .into_iter()
        .map(|(place, file)| Checked {
            place,
            module: None,
            outcome: Outcome::Discovered(file),
        });
    Ok(checked.chain(unreadable).chain(discovered).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_the_module_logs_it() {
        let checked = check_config(Module::Auth, br#"{"api_key": {"consumers": []}}"#);
        assert!(!checked.is_ok());
        assert!(
            checked
                .to_string()
                .starts_with("meshwasm auth: invalid configuration: field `api_key.consumers`: "),
            "{checked}"
        );
    }

    #[test]
    fn an_empty_configuration_is_the_modules_defaults() {
        assert!(check_config(Module::Metrics, b"").is_ok());
        assert!(check_config(Module::Chain, b"{}").is_ok());
    }

    #[test]
    fn the_native_build_refuses_what_it_cannot_do() {
        let service = br#"{"service": {"cluster": "rls", "domain": "d"},
            "rules": [{"name": "a", "global": {"descriptor": [{"key": "k", "value": "v"}]}}]}"#;
        assert!(check_config(Module::RateLimit, service).is_ok());
        let checked = check_native_config(Module::RateLimit, service);
        assert!(
            checked
                .to_string()
                .contains("field `service`: the native build cannot call gRPC services"),
            "{checked}"
        );
        assert!(check_native_config(Module::Chain, b"{}").is_ok());
    }

    #[test]
    fn a_file_without_our_modules_is_an_error() {
        assert_eq!(
            check_manifests("kind: Deployment\nmetadata: {name: x}\n"),
            Err(FileError::NothingFound)
        );
    }

    #[test]
    fn each_plugin_in_a_file_is_checked() {
        let text = r#"
kind: WasmPlugin
metadata: { name: good, namespace: ns }
spec: { url: oci://r/meshwasm-metrics:1, pluginConfig: { prefix: shop } }
---
kind: WasmPlugin
metadata: { name: bad, namespace: ns }
spec: { url: oci://r/meshwasm-rate-limit:1, pluginConfig: { rules: [{ name: r, limit: { requests: 0, per: second } }] } }
"#;
        let lines: Vec<String> = check_manifests(text)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines[0],
            "document 0: WasmPlugin ns/good: meshwasm metrics: configured"
        );
        assert!(
            lines[1].starts_with(
                "document 1: WasmPlugin ns/bad: meshwasm rate-limit: invalid configuration: field `rules[0].limit.requests`"
            ),
            "{}",
            lines[1]
        );
    }
}
