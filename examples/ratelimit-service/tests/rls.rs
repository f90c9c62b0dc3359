//! The service binary against a real redis-server, over gRPC with tonic's
//! client: what Envoy (or the rate-limit filter) sees.
//!
//! Each test starts its own redis-server (Debian's `redis-server`, on a free
//! loopback port, nothing saved) and its own service. Without redis-server
//! the tests fail, saying so: they are never skipped.

// The helpers are test code too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{rate_limit::Unit, Code};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_meshwasm-ratelimit-service");

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A redis-server of the test's own; killed when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    async fn start() -> Redis {
        let mut redis = Redis {
            port: free_port(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts it on the same port, empty, and waits until it answers.
    async fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): these tests need Debian's redis-server \
                     package (apt-get install redis-server; the Makefile installs it)"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").await.is_ok()
                    && stream.read_exact(&mut reply).await.is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGSTOP (`true`) or SIGCONT: a Redis that hangs, then resumes.
    fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().unwrap().id().unwrap();
        let signal = if paused { "-STOP" } else { "-CONT" };
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn stop(&mut self) {
        let mut child = self.child.take().expect("redis-server is not running");
        child.kill().await.unwrap();
    }
}

/// The service binary, on a port of its own choosing; killed when dropped.
struct Service {
    port: u16,
    _child: Child,
    _limits: TempFile,
}

impl Service {
    async fn start(redis: &Redis, limits: &str) -> Service {
        Service::start_with(&redis.url(), limits).await
    }

    async fn start_with(redis_url: &str, limits: &str) -> Service {
        let limits = TempFile::new("limits.yaml", limits);
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--redis", redis_url, "--limits"])
            .arg(&limits.0)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the service printed nothing in 30 s")
            .unwrap()
            .expect("the service closed stdout without printing its address");
        let port = line
            .strip_prefix("listening on 127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line `{line}`"))
            .parse()
            .unwrap();
        Service {
            port,
            _child: child,
            _limits: limits,
        }
    }

    async fn client(&self) -> RateLimitServiceClient<Channel> {
        RateLimitServiceClient::connect(format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap()
    }
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "meshwasm-rls-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn request(domain: &str, descriptors: &[&[(&str, &str)]], hits: u32) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.to_string(),
        descriptors: descriptors
            .iter()
            .map(|entries| RateLimitDescriptor {
                entries: entries
                    .iter()
                    .map(|(key, value)| Entry {
                        key: key.to_string(),
                        value: value.to_string(),
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        hits_addend: hits,
    }
}

async fn check(
    client: &mut RateLimitServiceClient<Channel>,
    request: &RateLimitRequest,
) -> RateLimitResponse {
    client
        .should_rate_limit(request.clone())
        .await
        .unwrap()
        .into_inner()
}

fn tenant(value: &str) -> RateLimitRequest {
    request("meshwasm", &[&[("tenant", value)]], 0)
}

const PER_TENANT_5: &str = "
- namespace: meshwasm
  max_value: 5
  seconds: 60
  conditions: []
  variables: [\"descriptors[0].tenant\"]
  name: per-tenant
";

#[tokio::test(flavor = "multi_thread")]
async fn five_per_minute_then_over_limit() {
    let redis = Redis::start().await;
    let service = Service::start(&redis, PER_TENANT_5).await;
    let mut client = service.client().await;

    for remaining in (0..5).rev() {
        let r = check(&mut client, &tenant("acme")).await;
        assert_eq!(r.overall_code, i32::from(Code::Ok));
        assert_eq!(r.statuses.len(), 1);
        let s = &r.statuses[0];
        assert_eq!(s.code, i32::from(Code::Ok));
        assert_eq!(s.limit_remaining, remaining);
        let limit = s.current_limit.as_ref().unwrap();
        assert_eq!(limit.requests_per_unit, 5);
        assert_eq!(limit.unit, i32::from(Unit::Minute));
        assert_eq!(limit.name, "per-tenant");
        let reset = s.duration_until_reset.unwrap();
        assert!(
            reset.seconds > 0 && reset.seconds <= 60,
            "{reset:?} until the reset"
        );
    }
    for _ in 0..3 {
        let r = check(&mut client, &tenant("acme")).await;
        assert_eq!(r.overall_code, i32::from(Code::OverLimit));
        let s = &r.statuses[0];
        assert_eq!(s.code, i32::from(Code::OverLimit));
        assert_eq!(s.limit_remaining, 0);
        assert_eq!(s.current_limit.as_ref().unwrap().requests_per_unit, 5);
        let reset = s.duration_until_reset.unwrap();
        assert!(reset.seconds > 0 && reset.seconds <= 60, "{reset:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_clients_are_counted_exactly() {
    let redis = Redis::start().await;
    let service = Service::start(
        &redis,
        "
- namespace: meshwasm
  max_value: 20
  seconds: 60
  conditions: []
  variables: [\"descriptors[0].tenant\"]
",
    )
    .await;

    // 10 tasks, each with its own connection, 5 requests each on it, all
    // at once.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(10));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = service.client().await;
        let start = std::sync::Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let requests: Vec<_> = (0..5)
                .map(|_| {
                    let mut client = client.clone();
                    tokio::spawn(async move { check(&mut client, &tenant("acme")).await })
                })
                .collect();
            let mut codes = Vec::new();
            for request in requests {
                codes.push(request.await.unwrap().overall_code);
            }
            codes
        }));
    }
    let mut ok = 0;
    let mut over = 0;
    for task in tasks {
        for code in task.await.unwrap() {
            match Code::try_from(code).unwrap() {
                Code::Ok => ok += 1,
                Code::OverLimit => over += 1,
                Code::Unknown => panic!("UNKNOWN answer"),
            }
        }
    }
    assert_eq!((ok, over), (20, 30));

    let r = check(&mut service.client().await, &tenant("acme")).await;
    assert_eq!(r.overall_code, i32::from(Code::OverLimit));
}

#[tokio::test(flavor = "multi_thread")]
async fn descriptor_values_and_constant_entries_count_separately() {
    let redis = Redis::start().await;
    let service = Service::start(
        &redis,
        "
# per tenant
- namespace: meshwasm
  max_value: 2
  seconds: 60
  conditions: []
  variables: [\"descriptors[0].tenant\"]
# one counter for every request whose second descriptor is the constant
# entry generic_key: expensive
- namespace: meshwasm
  max_value: 3
  seconds: 3600
  conditions: [\"descriptors[1].generic_key == 'expensive'\"]
  variables: []
",
    )
    .await;
    let mut client = service.client().await;

    for value in ["a", "b"] {
        for _ in 0..2 {
            let r = check(&mut client, &tenant(value)).await;
            assert_eq!(r.overall_code, i32::from(Code::Ok), "tenant {value}");
        }
        let r = check(&mut client, &tenant(value)).await;
        assert_eq!(r.overall_code, i32::from(Code::OverLimit), "tenant {value}");
    }

    // The constant limit counts across tenants; each descriptor gets the
    // status of its own limit.
    let expensive = |t: &'static str| {
        request(
            "meshwasm",
            &[&[("tenant", t)], &[("generic_key", "expensive")]],
            0,
        )
    };
    let r = check(&mut client, &expensive("c")).await;
    assert_eq!(r.overall_code, i32::from(Code::Ok));
    assert_eq!(r.statuses.len(), 2);
    assert_eq!(r.statuses[0].limit_remaining, 1);
    assert_eq!(r.statuses[1].limit_remaining, 2);
    let hourly = r.statuses[1].current_limit.as_ref().unwrap();
    assert_eq!(
        (hourly.requests_per_unit, hourly.unit),
        (3, i32::from(Unit::Hour))
    );
    check(&mut client, &expensive("d")).await;
    let r = check(&mut client, &expensive("e")).await;
    assert_eq!(r.overall_code, i32::from(Code::Ok));
    assert_eq!(r.statuses[1].limit_remaining, 0);
    let r = check(&mut client, &expensive("f")).await;
    assert_eq!(r.overall_code, i32::from(Code::OverLimit));
    assert_eq!(r.statuses[0].code, i32::from(Code::Ok));
    assert_eq!(r.statuses[1].code, i32::from(Code::OverLimit));

    // Over the constant limit, nothing was counted for tenant f either.
    let r = check(&mut client, &tenant("f")).await;
    assert_eq!(r.statuses[0].limit_remaining, 1);
    // A request with one descriptor does not reach descriptors[1]'s limit.
    assert_eq!(r.overall_code, i32::from(Code::Ok));
}

#[tokio::test(flavor = "multi_thread")]
async fn hits_addend_domains_and_descriptors_without_limits() {
    let redis = Redis::start().await;
    let service = Service::start(&redis, PER_TENANT_5).await;
    let mut client = service.client().await;

    let three = request("meshwasm", &[&[("tenant", "a")]], 3);
    let r = check(&mut client, &three).await;
    assert_eq!(r.overall_code, i32::from(Code::Ok));
    assert_eq!(r.statuses[0].limit_remaining, 2);
    let r = check(&mut client, &three).await;
    assert_eq!(r.overall_code, i32::from(Code::OverLimit));
    assert_eq!(r.statuses[0].limit_remaining, 2);
    let r = check(&mut client, &tenant("a")).await;
    assert_eq!(r.overall_code, i32::from(Code::Ok));
    assert_eq!(r.statuses[0].limit_remaining, 1);

    // No limit in that domain, or none for that descriptor: OK, no limit.
    for r in [
        request("elsewhere", &[&[("tenant", "a")]], 0),
        request("meshwasm", &[&[("user", "a")]], 0),
    ] {
        let r = check(&mut client, &r).await;
        assert_eq!(r.overall_code, i32::from(Code::Ok));
        assert_eq!(r.statuses.len(), 1);
        assert_eq!(r.statuses[0].code, i32::from(Code::Ok));
        assert!(r.statuses[0].current_limit.is_none());
    }

    let e = client
        .should_rate_limit(request("", &[&[("tenant", "a")]], 0))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // limitador counts one delta for the whole request.
    let mut per_descriptor = tenant("a");
    per_descriptor.descriptors[0].hits_addend =
        Some(envoy_types::pb::google::protobuf::UInt64Value { value: 2 });
    let e = client.should_rate_limit(per_descriptor).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("hits_addend"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_whose_cel_fails_is_an_internal_error_not_a_crash() {
    let redis = Redis::start().await;
    let service = Service::start(
        &redis,
        "
- namespace: meshwasm
  max_value: 5
  seconds: 60
  # Not a boolean: limitador cannot evaluate it as a condition.
  conditions: [\"descriptors[0].tenant\"]
  variables: []
- namespace: meshwasm
  max_value: 5
  seconds: 60
  conditions: []
  variables: [\"descriptors[0].user\"]
",
    )
    .await;
    let mut client = service.client().await;
    let e = client.should_rate_limit(tenant("a")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Internal);
    // The service is still there.
    let r = check(&mut client, &request("meshwasm", &[&[("user", "u")]], 0)).await;
    assert_eq!(r.overall_code, i32::from(Code::Ok));
    assert_eq!(r.statuses[0].limit_remaining, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_is_unavailable_and_back_is_working() {
    let mut redis = Redis::start().await;
    let service = Service::start(&redis, PER_TENANT_5).await;
    let mut client = service.client().await;

    let r = check(&mut client, &tenant("a")).await;
    assert_eq!(r.statuses[0].limit_remaining, 4);

    redis.stop().await;
    for _ in 0..3 {
        let started = Instant::now();
        let e = client.should_rate_limit(tenant("a")).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "UNAVAILABLE took {:?}",
            started.elapsed()
        );
    }

    // Redis is back, empty (nothing saved): the counters start again.
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let r = loop {
        match client.should_rate_limit(tenant("a")).await {
            Ok(r) => break r.into_inner(),
            Err(e) => {
                assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
                assert!(
                    Instant::now() < deadline,
                    "still {e:?} 15 s after Redis came back"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(r.overall_code, i32::from(Code::Ok));
    assert_eq!(r.statuses[0].limit_remaining, 4);
    let r = check(&mut client, &tenant("a")).await;
    assert_eq!(r.statuses[0].limit_remaining, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_redis_is_unavailable_within_a_second_or_so() {
    let redis = Redis::start().await;
    let service = Service::start(&redis, PER_TENANT_5).await;
    let mut client = service.client().await;
    check(&mut client, &tenant("a")).await;

    redis.pause(true);
    // Concurrent checks of one domain do not queue behind the hung one.
    let started = Instant::now();
    let checks: Vec<_> = (0..5)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.should_rate_limit(tenant("a")).await })
        })
        .collect();
    for check in checks {
        let e = check.await.unwrap().unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    redis.pause(false);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match client.should_rate_limit(tenant("a")).await {
            Ok(r) => {
                assert_eq!(r.into_inner().overall_code, i32::from(Code::Ok));
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
                assert!(Instant::now() < deadline, "still {e:?} 15 s after SIGCONT");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn waits_for_redis_before_listening() {
    let mut redis = Redis::start().await;
    redis.stop().await;
    let url = redis.url();
    let restarted = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        redis.restart().await;
        redis
    });
    let started = Instant::now();
    let service = Service::start_with(&url, PER_TENANT_5).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    let _redis = restarted.await.unwrap();
    let r = check(&mut service.client().await, &tenant("a")).await;
    assert_eq!(r.overall_code, i32::from(Code::Ok));
}

#[test]
fn help_and_bad_arguments() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("--listen ADDR") && text.contains("--limits FILE"),
        "{text}"
    );

    let out = std::process::Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redis is required"));

    let limits = TempFile::new("limits.yaml", "[]");
    let out = std::process::Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--redis", "http://x", "--limits"])
        .arg(&limits.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Redis URL"));
}

#[test]
fn a_bad_limits_file_stops_it_at_startup() {
    let limits = TempFile::new("bad.yaml", "- {namespace: meshwasm, seconds: 60}\n");
    let out = std::process::Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--redis",
            "redis://127.0.0.1:1",
            "--limits",
        ])
        .arg(&limits.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("limits[0]") && stderr.contains("max_value"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
