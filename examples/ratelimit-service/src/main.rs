//! meshwasm-ratelimit-service: an example Envoy rate limit service.
//!
//! It answers `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`
//! (gRPC over HTTP/2) from the limits of a limitador limits file, with the
//! counters in Redis. Counting and storage are limitador's; this is the thin
//! RLS front. See README.md beside this crate.

mod limits;
mod service;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitServiceServer;
use limitador::storage::redis::AsyncRedisStorage;
use limitador::AsyncRateLimiter;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: meshwasm-ratelimit-service --listen ADDR --redis URL --limits FILE

An example Envoy rate limit service (envoy.service.ratelimit.v3, gRPC) on
Kuadrant's limitador engine, with the counters in Redis.

  --listen ADDR   address to serve gRPC on, e.g. 127.0.0.1:8081 (port 0: any
                  free port); once bound, prints `listening on ADDR` to stdout
  --redis URL     Redis for the counters: redis://HOST:PORT[/DB]
                  (redis://:PASSWORD@HOST:PORT, rediss:// for TLS)
  --limits FILE   limits in limitador's YAML format, the file Limitador
                  server reads (see limits.yaml beside this crate)
  --help          this text

The RLS request's domain is the limits' namespace; its descriptors are bound
as `descriptors` in the limits' CEL (descriptors[0].tenant == 'acme').
Logs go to stderr: a line at startup and one per error.";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Help,
    Run(Config),
}

#[derive(Debug, PartialEq)]
struct Config {
    listen: SocketAddr,
    redis: String,
    limits: String,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut listen = None;
    let mut redis = None;
    let mut limits = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value)),
            _ => (arg.clone(), None),
        };
        let slot = match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--listen" => &mut listen,
            "--redis" => &mut redis,
            "--limits" => &mut limits,
            _ => return Err(format!("unknown argument `{arg}`")),
        };
        let value = match inline {
            Some(value) => value.to_string(),
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        if slot.replace(value).is_some() {
            return Err(format!("{flag} given twice"));
        }
    }
    let listen = listen.ok_or("--listen is required")?;
    let listen = listen
        .parse()
        .map_err(|_| format!("--listen: `{listen}` is not an address like 127.0.0.1:8081"))?;
    Ok(Command::Run(Config {
        listen,
        redis: redis.ok_or("--redis is required")?,
        limits: limits.ok_or("--limits is required")?,
    }))
}

/// One line to stderr.
fn log(message: &str) {
    eprintln!("meshwasm-ratelimit-service: {message}");
}

/// The URL without its password, for the logs.
fn redacted(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((_, host)) = rest.rsplit_once('@') {
            return format!("{scheme}://***@{host}");
        }
    }
    url.to_string()
}

fn main() -> ExitCode {
    // One line per panic, like every other log line (limitador panics on a
    // condition it cannot evaluate; the request gets INTERNAL).
    std::panic::set_hook(Box::new(|info| {
        log(&format!("panic: {}", info.to_string().replace('\n', " ")));
    }));
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            // `--help | head` closes stdout early: not an error.
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(config)) => config,
        Err(e) => {
            log(&e);
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let limits = match limits::load(&config.limits) {
        Ok(limits) => limits,
        Err(e) => {
            log(&e.to_string());
            return ExitCode::from(2);
        }
    };
    let redis = match redis::Client::open(config.redis.as_str()) {
        Ok(client) => client,
        Err(e) => {
            log(&format!(
                "--redis: `{}` is not a Redis URL: {e}",
                redacted(&config.redis)
            ));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, redis, limits)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log(&e);
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, redis: redis::Client, limits: limits::Limits) -> Result<(), String> {
    let storage = connect(redis, &config.redis).await;
    let limiter = AsyncRateLimiter::new_with_storage(Box::new(storage));
    let count = limits.limits.len();
    for limit in limits.limits {
        limiter.add_limit(limit);
    }
    let service = service::RateLimiter::new(limiter, &limits.descriptors_needed);

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    log(&format!(
        "{count} limit(s) in {} namespace(s) from {}, counters in Redis at {}, gRPC on {local}",
        limits.descriptors_needed.len(),
        config.limits,
        redacted(&config.redis),
    ));
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {local}")
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
    }

    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(RateLimitServiceServer::new(service))
        .serve_with_incoming_shutdown(incoming, shutdown())
        .await
        .map_err(|e| format!("gRPC server failed: {e}"))?;
    log("stopped");
    Ok(())
}

/// Redis with short timeouts, so that a check fails fast while it is down;
/// the connection manager reconnects on the next check after a failure.
/// At startup, waits for Redis: any error is retried every second (and logged
/// every 30 tries): the service may start before its Redis.
async fn connect(client: redis::Client, url: &str) -> AsyncRedisStorage {
    let manager_config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(service::STORAGE_TIMEOUT)
        .set_response_timeout(service::STORAGE_TIMEOUT)
        .set_number_of_retries(1);
    let mut attempts: u32 = 0;
    loop {
        let connected = match redis::aio::ConnectionManager::new_with_config(
            client.clone(),
            manager_config.clone(),
        )
        .await
        {
            Ok(manager) => AsyncRedisStorage::new_with_conn_manager(manager).await,
            Err(e) => Err(e),
        };
        match connected {
            Ok(storage) => {
                if attempts > 0 {
                    log("connected to Redis");
                }
                return storage;
            }
            Err(e) => {
                if attempts.is_multiple_of(30) {
                    log(&format!(
                        "cannot reach Redis at {}: {e}; retrying every second",
                        redacted(url)
                    ));
                }
                attempts = attempts.saturating_add(1);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// SIGINT or SIGTERM.
async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Command, String> {
        parse_args(line.split_whitespace().map(String::from))
    }

    #[test]
    fn reads_the_three_flags() {
        let expected = Command::Run(Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            redis: "redis://127.0.0.1:6379".into(),
            limits: "limits.yaml".into(),
        });
        assert_eq!(
            args("--listen 127.0.0.1:0 --redis redis://127.0.0.1:6379 --limits limits.yaml"),
            Ok(expected)
        );
        assert!(matches!(
            args("--listen=127.0.0.1:0 --redis=redis://x --limits=l.yaml"),
            Ok(Command::Run(_))
        ));
        assert_eq!(args("--help"), Ok(Command::Help));
        assert_eq!(args("--listen 127.0.0.1:0 --help"), Ok(Command::Help));
    }

    #[test]
    fn says_what_is_wrong() {
        let e = args("--redis redis://x --limits l").unwrap_err();
        assert!(e.contains("--listen is required"), "{e}");
        let e = args("--listen localhost --redis redis://x --limits l").unwrap_err();
        assert!(e.contains("not an address"), "{e}");
        let e = args("--listen 127.0.0.1:0 --redis").unwrap_err();
        assert!(e.contains("--redis needs a value"), "{e}");
        let e = args("--listen 127.0.0.1:0 --listen 127.0.0.1:1").unwrap_err();
        assert!(e.contains("given twice"), "{e}");
        let e = args("--port 1").unwrap_err();
        assert!(e.contains("unknown argument `--port`"), "{e}");
    }

    #[test]
    fn hides_the_redis_password() {
        assert_eq!(
            redacted("redis://:secret@10.0.0.1:6379/0"),
            "redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(redacted("redis://user:p@ss@host:1"), "redis://***@host:1");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
