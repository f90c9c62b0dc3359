//! Starts a real Envoy for one test and always stops it.

use crate::bootstrap::{Bootstrap, WasmFilter};
use crate::client::{self, Answer};
use crate::envoy_binary;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long Envoy may take to become ready (V8 compiles each module).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What Envoy 1.40 puts before a dynamic module's metric names in
/// `/stats/prometheus`.
pub const NATIVE_METRIC_PREFIX: &str = "envoy_dynamicmodulescustom_";

/// Envoy's worker threads: two, so that what crosses workers is exercised.
const CONCURRENCY: &str = "2";

/// A running Envoy. Dropping it stops it; if the test is failing, its log
/// is printed first.
pub struct Envoy {
    child: Child,
    dir: PathBuf,
    admin: String,
    listener: String,
}

/// Envoy did not become ready: it refused the config, or timed out.
#[derive(Debug)]
pub struct StartError {
    /// What went wrong.
    pub reason: String,
    /// Everything Envoy logged.
    pub log: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Envoy did not start: {}\n--- Envoy log ---\n{}",
            self.reason, self.log
        )
    }
}

impl std::error::Error for StartError {}

impl Envoy {
    /// Writes the config to a fresh folder, starts Envoy on it with
    /// `--concurrency 2` and a dynamic base id, and waits for the admin
    /// `/ready`.
    pub fn start(bootstrap: &Bootstrap) -> Result<Self, StartError> {
        let dir = fresh_dir();
        let config = dir.join("envoy.json");
        let log_path = dir.join("envoy.log");
        let admin_path = dir.join("admin-address");
        let fail = |reason: String| StartError {
            reason,
            log: fs::read_to_string(&log_path).unwrap_or_default(),
        };
        for (path, resource) in bootstrap.ecds_files(&dir) {
            fs::write(&path, resource.to_string())
                .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        }
        fs::write(&config, bootstrap.to_json(&dir).to_string())
            .map_err(|e| fail(format!("cannot write {}: {e}", config.display())))?;
        let log = File::create(&log_path)
            .map_err(|e| fail(format!("cannot create {}: {e}", log_path.display())))?;
        let binary = envoy_binary();
        let child = Command::new(&binary)
            .env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", crate::native_dir())
            .arg("-c")
            .arg(&config)
            .args(["--concurrency", CONCURRENCY, "--use-dynamic-base-id"])
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(["--log-level", "info", "--disable-hot-restart"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                fail(format!(
                    "cannot run {} ({e}); run `make envoy` or set ENVOY",
                    binary.display()
                ))
            })?;
        let mut envoy = Self {
            child,
            dir,
            admin: String::new(),
            listener: String::new(),
        };
        envoy.wait_ready(&admin_path).map_err(fail)?;
        Ok(envoy)
    }

    fn wait_ready(&mut self, admin_path: &Path) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("Envoy exited with {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {READY_TIMEOUT:?}"));
            }
            if let Ok(addr) = fs::read_to_string(admin_path) {
                self.admin = format!("http://{}", addr.trim());
                if self.admin_ready() {
                    self.listener = self.listener_url()?;
                    return Ok(());
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn admin_ready(&self) -> bool {
        ureq::get(&format!("{}/ready", self.admin))
            .call()
            .is_ok_and(|r| r.status() == 200)
    }

    fn listener_url(&self) -> Result<String, String> {
        let listeners = self.admin_get("/listeners?format=json").json();
        let address = &listeners["listener_statuses"][0]["local_address"]["socket_address"];
        match (address["address"].as_str(), address["port_value"].as_u64()) {
            (Some(ip), Some(port)) => Ok(format!("http://{ip}:{port}")),
            _ => Err(format!("no listener address in {listeners}")),
        }
    }

    /// Sends a GET through the listener.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.request("GET", path, headers, b"")
    }

    /// Sends any request through the listener.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        client::send(method, &format!("{}{path}", self.listener), headers, body)
    }

    /// Sends request bytes exactly as given over HTTP/1.1 (see
    /// [`client::send_raw`]).
    pub fn send_raw(&self, request: &[u8]) -> Answer {
        client::send_raw(self.listener_addr(), request)
    }

    /// Sends one HTTP/2 request with header bytes exactly as given (see
    /// [`client::send_h2`]).
    pub fn send_h2(&self, headers: &[(&[u8], &[u8])]) -> Answer {
        client::send_h2(&crate::venv_python(), self.listener_addr(), headers)
    }

    fn listener_addr(&self) -> &str {
        self.listener
            .strip_prefix("http://")
            .unwrap_or(&self.listener)
    }

    /// Sends a GET to the admin API, e.g. `/stats/prometheus`.
    pub fn admin_get(&self, path: &str) -> Answer {
        client::send("GET", &format!("{}{path}", self.admin), &[], b"")
    }

    /// Every sample `/stats/prometheus` shows, parsed with a Prometheus
    /// text-format parser. The native build's metrics, which Envoy 1.40
    /// names `envoy_dynamicmodulescustom_<name>` (it strips the Wasm
    /// namespace from Prometheus names, not the dynamic modules' one), are
    /// given their own names, so tests ask for `meshwasm_...` in both
    /// builds.
    pub fn prometheus(&self) -> Vec<prometheus_parse::Sample> {
        let text = self.admin_get("/stats/prometheus").body;
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let mut samples = prometheus_parse::Scrape::parse(lines)
            .unwrap_or_else(|e| panic!("/stats/prometheus does not parse: {e}\n{text}"))
            .samples;
        for sample in &mut samples {
            if let Some(name) = sample.metric.strip_prefix(NATIVE_METRIC_PREFIX) {
                sample.metric = name.to_owned();
            }
        }
        samples
    }

    /// The value of counter `metric` with exactly these labels (0 when no
    /// such series exists).
    pub fn counter(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.prometheus()
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }

    /// How many samples histogram `metric` holds under exactly these labels
    /// (its `+Inf` bucket), summed over the series that have them.
    pub fn histogram_count(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.prometheus()
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .filter_map(|s| match &s.value {
                prometheus_parse::Value::Histogram(buckets) => buckets
                    .iter()
                    .find(|b| b.less_than.is_infinite())
                    .map(|b| b.count),
                _ => None,
            })
            .sum()
    }

    /// The listener's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.listener
    }

    /// Replaces an ECDS filter's configuration the way it must be done:
    /// write a new file, then rename it over the old one (Envoy watches the
    /// folder for moves).
    pub fn update_ecds(&self, filter: &WasmFilter) -> std::io::Result<()> {
        let target = filter.ecds_path(&self.dir);
        let staged = self.dir.join(".ecds-staged.json");
        fs::write(&staged, filter.ecds_resource().to_string())?;
        fs::rename(staged, target)
    }

    /// Everything Envoy has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            // Captured by the test runner and shown with the failure.
            println!("--- Envoy log ({}) ---\n{}", self.dir.display(), self.log());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A new folder under `target/e2e` for one Envoy's config and log.
fn fresh_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = crate::workspace_root().join("target/e2e").join(format!(
        "envoy-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::create_dir_all(&dir);
    dir
}
