//! Processes the global rate-limit tests run beside Envoy: a Redis server
//! and the example rate limit service (`examples/ratelimit-service`), each
//! on a free loopback port, stopped when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until `ready` holds, for at most ten seconds.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        if Instant::now() > deadline {
            return Err(std::io::Error::other(format!("{what} did not come up")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A Redis server (Debian's `redis-server`, installed by `make e2e`) that
/// keeps nothing on disk.
#[derive(Debug)]
pub struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts one on a free port.
    pub fn start() -> std::io::Result<Self> {
        let mut redis = Self {
            port: free_port()?,
            child: None,
        };
        redis.run()?;
        Ok(redis)
    }

    fn run(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::other(format!(
                    "cannot run redis-server ({e}): `make e2e` installs it (Debian's redis-server)"
                ))
            })?;
        self.child = Some(child);
        let port = self.port;
        wait_for("redis-server", || ping(port))
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it; what it held is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        self.run()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a Redis answers PING on `port`.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0u8; 5];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG"
}

/// The example rate limit service: Envoy's RLS API over gRPC, its counts
/// in Redis (built by `make e2e`, or at `MESHWASM_RATELIMIT_SERVICE`).
#[derive(Debug)]
pub struct RateLimitService {
    addr: SocketAddr,
    child: Option<Child>,
}

impl RateLimitService {
    /// The service binary.
    pub fn binary() -> PathBuf {
        std::env::var_os("MESHWASM_RATELIMIT_SERVICE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                crate::workspace_root().join("target/debug/meshwasm-ratelimit-service")
            })
    }

    /// Starts it on a free port with the limits in `limits` (Limitador's
    /// limits file format, YAML), counting in `redis`.
    pub fn start(redis: &Redis, limits: &Path) -> std::io::Result<Self> {
        let mut child = Command::new(Self::binary())
            .args(["--listen", "127.0.0.1:0", "--redis", &redis.url()])
            .arg("--limits")
            .arg(limits)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                std::io::Error::other(format!(
                    "cannot run {} ({e}): `make e2e` builds it",
                    Self::binary().display()
                ))
            })?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            return Err(std::io::Error::other(format!(
                "the rate limit service said {line:?}, not `listening on ADDR`"
            )));
        };
        Ok(Self {
            addr,
            child: Some(child),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RateLimitService {
    fn drop(&mut self) {
        self.stop();
    }
}
