//! The `meshwasm` command: `meshwasm check` and `meshwasm schema`.

use meshwasm_check::{check_config, check_manifests, Module};
use std::process::ExitCode;

const USAGE: &str = "\
usage: meshwasm check [--filter MODULE] FILE...
       meshwasm schema MODULE

check   Runs each configuration through the module's own parsing and
        validation. A FILE is a WasmPlugin manifest or an Envoy config
        (YAML or JSON; every Wasm filter whose module is meshwasm_<name> is
        checked), or, with --filter, one module's JSON configuration.
        Prints one line per configuration; exits 1 if any is refused, 2 if
        a file cannot be read or holds no meshwasm configuration.
schema  Prints the JSON Schema of a module's configuration.

MODULE is one of: auth, rate-limit, header-router, metrics, chain.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["check", rest @ ..] => check(rest),
        ["schema", name] => schema(name),
        ["--version" | "-V"] => {
            println!("meshwasm {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["--help" | "-h" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn module(name: &str) -> Result<Module, ExitCode> {
    name.parse().map_err(|err| {
        eprintln!("meshwasm: {err}");
        ExitCode::from(2)
    })
}

fn schema(name: &str) -> ExitCode {
    match module(name) {
        Ok(module) => match serde_json::to_string_pretty(&module.schema()) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("meshwasm: {err}");
                ExitCode::FAILURE
            }
        },
        Err(code) => code,
    }
}

fn check(args: &[&str]) -> ExitCode {
    let (filter, files) = match args {
        ["--filter", name, files @ ..] => match module(name) {
            Ok(module) => (Some(module), files),
            Err(code) => return code,
        },
        files => (None, files),
    };
    if files.is_empty() || files.iter().any(|f| f.starts_with("--")) {
        return usage();
    }
    let (mut refused, mut unchecked) = (false, false);
    for file in files {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(err) => {
                eprintln!("{file}: {err}");
                unchecked = true;
                continue;
            }
        };
        let checked = match filter {
            Some(module) => Ok(vec![check_config(module, &bytes)]),
            None => match std::str::from_utf8(&bytes) {
                Ok(text) => check_manifests(text).map_err(|e| e.to_string()),
                Err(err) => Err(format!("not UTF-8: {err}")),
            },
        };
        match checked {
            Ok(checked) => {
                for one in checked {
                    refused |= !one.is_ok();
                    println!("{file}: {one}");
                }
            }
            Err(err) => {
                eprintln!("{file}: {err}");
                unchecked = true;
            }
        }
    }
    match (unchecked, refused) {
        (true, _) => ExitCode::from(2),
        (false, true) => ExitCode::FAILURE,
        (false, false) => ExitCode::SUCCESS,
    }
}
