//! Prints a token the e2e tests would mint: `mint <key> <alg> <issuer>
//! <audience> <subject>` signs `{iss, aud, sub, iat, exp: in a day}` with
//! fixture key `<key>` (`rsa-a`, `ec256`, ...) and `<alg>` (`RS256`,
//! `ES256`, ...), its `kid` the key's name. `tools/bench.py` mints its
//! tokens with it, so the bench and the tests share one signer.

#![allow(clippy::print_stdout)] // The token is the output.

use jsonwebtoken::Algorithm;
use meshwasm_e2e::tokens::{mint, now};
use serde_json::json;
use std::process::ExitCode;
use std::str::FromStr;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [key, alg, issuer, audience, subject] = args.as_slice() else {
        eprintln!("usage: mint <key> <alg> <issuer> <audience> <subject>");
        return ExitCode::from(2);
    };
    let Ok(alg) = Algorithm::from_str(alg) else {
        eprintln!("mint: unknown algorithm `{alg}`");
        return ExitCode::from(2);
    };
    let now = now();
    let claims = json!({
        "iss": issuer, "aud": audience, "sub": subject, "iat": now, "exp": now + 86_400,
    });
    println!("{}", mint(key, alg, &claims));
    ExitCode::SUCCESS
}
