//! Prints what the e2e tests use, for `tools/bench.py`, so the bench and
//! the tests share one source:
//!
//! - `fixture token <key> <alg> <issuer> <audience> <subject>`: a token
//!   signed by fixture key `<key>` (`rsa-a`, `ec256`, ...) with `<alg>`
//!   (`RS256`, `ES256`, ...), its `kid` the key's name, claims `{iss, aud,
//!   sub, iat, exp: in a day}`;
//! - `fixture sidecar-settings`: the secure settings of Envoy's HTTP
//!   connection manager (`secure_sidecar_settings`, clients connecting
//!   directly), as JSON.

#![allow(clippy::print_stdout)] // What it prints is its output.

use jsonwebtoken::Algorithm;
use meshwasm_e2e::secure_sidecar_settings;
use meshwasm_e2e::tokens::{mint, now};
use serde_json::json;
use std::process::ExitCode;
use std::str::FromStr;

const USAGE: &str = "usage: fixture token <key> <alg> <issuer> <audience> <subject>\n       fixture sidecar-settings";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["token", key, alg, issuer, audience, subject] => {
            let Ok(alg) = Algorithm::from_str(alg) else {
                eprintln!("fixture: unknown algorithm `{alg}`");
                return ExitCode::from(2);
            };
            let now = now();
            let claims = json!({
                "iss": issuer, "aud": audience, "sub": subject, "iat": now, "exp": now + 86_400,
            });
            println!("{}", mint(key, alg, &claims));
        }
        ["sidecar-settings"] => println!("{}", secure_sidecar_settings(0)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
