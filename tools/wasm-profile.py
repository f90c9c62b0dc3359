#!/usr/bin/env python3
"""Where a Wasm bench row's CPU time goes in Envoy: in the guest's compiled
code, or in Envoy's own.

    make wasm-profile                                  # chain-1-module, floor-chain-1-module
    make wasm-profile ROWS="auth-api-key floor-auth-api-key"

For each row, starts the bench's Envoy (`tools/bench.py`'s rows, launcher
and load, one worker), samples it with `perf record` while `wrk` runs, and
shares Envoy's CPU time per request (over the requests served while
sampling) out by where the samples fell: `[JIT]` is the code V8 compiled
(the Wasm guest and V8's stubs), `envoy` Envoy's binary (its own work, the
host calls' side and V8's runtime: the binary is stripped, so no names),
then the kernel and libc. Sampling slows Envoy down, by about the same
factor for every row: compare rows profiled in one run, as differences
(a row against its `floor-` row: what its own work costs, beyond its host
calls) or ratios.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402

SECONDS_SAMPLED = int(os.environ.get("SECONDS_SAMPLED", "4"))


def profile(row: bench.Row, perf_data: Path) -> dict:
    """CPU µs per request while sampled, in all and by where it was spent."""
    per_request = bench.perf_sample(row, ["-F", "4000"], perf_data, SECONDS_SAMPLED)
    report = subprocess.run(
        ["perf", "report", "-i", str(perf_data), "--sort", "dso", "--stdio", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    where: dict = {}
    for line in report.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].endswith("%"):
            dso = fields[1]  # `[JIT] tid N` splits: its first field names it
            where[dso] = where.get(dso, 0.0) + float(fields[0].rstrip("%")) * per_request / 100
    return {"per_request": per_request, "where": where}


def main() -> None:
    names = sys.argv[1:] or ["chain-1-module", "floor-chain-1-module"]
    bench.ensure_wrk()
    rows = {row.name: row for row in bench.rows()}
    unknown = [n for n in names if n not in rows]
    if unknown:
        sys.exit(f"tools/wasm-profile.py: unknown rows {unknown}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results[name] = profile(rows[name], Path(tmp) / f"{name}.perf.data")
    parts = ["[JIT]", "envoy", "[kernel.kallsyms]", "libc.so.6"]
    print(f"Envoy CPU µs per request while sampled ({SECONDS_SAMPLED} s each; perf slows Envoy down):")
    print(f"{'row':28} {'all':>7} " + " ".join(f"{p:>18}" for p in parts) + f" {'other':>7}")
    for name, r in results.items():
        shown = [r["where"].get(p, 0.0) for p in parts]
        other = r["per_request"] - sum(shown)
        print(f"{name:28} {r['per_request']:7.1f} " + " ".join(f"{v:18.1f}" for v in shown) + f" {other:7.1f}")


if __name__ == "__main__":
    main()
