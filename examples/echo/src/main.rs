//! `meshwasm-echo [--listen ADDR] [--name NAME]`: runs the echo service
//! until killed. See the library docs for what it answers.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:8081".to_owned();
    let mut name = "echo".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--name", Some(v)) => name = v,
            _ => {
                eprintln!("usage: meshwasm-echo [--listen ADDR] [--name NAME]");
                return ExitCode::from(2);
            }
        }
    }
    match meshwasm_echo::Echo::start(&name, &listen) {
        Ok(echo) => {
            println!(
                "meshwasm-echo `{}` listening on http://{}",
                echo.name(),
                echo.addr()
            );
            loop {
                std::thread::park();
            }
        }
        Err(err) => {
            eprintln!("meshwasm-echo: cannot listen on {listen}: {err}");
            ExitCode::FAILURE
        }
    }
}
