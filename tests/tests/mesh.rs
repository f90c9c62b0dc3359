//! `make demo`'s tour of the local mesh, run non-interactively: every step
//! (401, 200 through mTLS, round robin, header routing, 429, a limit both
//! backends' sidecars share through the rate limit service, refused
//! identity, a backend killed mid-tour, the metrics) checks its own answer
//! and the script fails on the first that is wrong.

use meshwasm_e2e::workspace_root;
use std::process::Command;

#[test]
fn the_demo_mesh_tour_passes_every_step() {
    meshwasm_e2e::wasm_only!("the demo mesh runs the Wasm modules (its sidecar configs)");
    let root = workspace_root();
    let output = Command::new("bash")
        .arg(root.join("examples/mesh/run.sh"))
        .env("DEMO_INTERACTIVE", "0")
        .env("MESH_PORT", "28000")
        .env("MESH_STATE", root.join("target/e2e/mesh"))
        .output()
        .expect("cannot run examples/mesh/run.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the tour failed:\n{stdout}\n{stderr}"
    );
    for step in [
        "1. No credentials",
        "HTTP/1.1 401 Unauthorized",
        "\"consumer\": \"alice\"",
        "3 of 3 served by backend-v2",
        "HTTP/1.1 429 Too Many Requests",
        "6. A limit two sidecars share",
        "\"rate limit `reports-per-consumer` exceeded",
        "the frontend's identity: 200",
        "call 6 served by backend-v2",
        "Tour complete",
    ] {
        assert!(
            stdout.contains(step),
            "the tour did not show `{step}`:\n{stdout}"
        );
    }
}
