//! `meshwasm-echo [--listen ADDR] [--name NAME] [--forward ADDR]`: runs the
//! echo service (or, with `--forward`, a front end that passes requests on)
//! until killed. See the library docs for what it answers.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:8081".to_owned();
    let mut name = "echo".to_owned();
    let mut forward = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--name", Some(v)) => name = v,
            ("--forward", Some(v)) => match v.parse() {
                Ok(addr) => forward = Some(addr),
                Err(e) => {
                    eprintln!("meshwasm-echo: --forward {v}: {e}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("usage: meshwasm-echo [--listen ADDR] [--name NAME] [--forward ADDR]");
                return ExitCode::from(2);
            }
        }
    }
    let started = match forward {
        Some(next) => meshwasm_echo::Echo::forwarding(&name, &listen, next),
        None => meshwasm_echo::Echo::start(&name, &listen),
    };
    match started {
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
