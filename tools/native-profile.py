#!/usr/bin/env python3
"""Where a native (`-dm`) bench row's time goes, inside Envoy.

    make native-profile                      # the chain, chain-dm
    make native-profile ROW=rate-limit-dm SAMPLE=8   # seconds sampled

Builds the native libraries with symbols (`target/native-profile`, the
`native` profile without stripping), starts the bench's Envoy for ROW
(`tools/bench.py`'s rows, launcher and load, one worker), samples it with
`perf record --call-graph dwarf` under `wrk`, and prints, in CPU µs per
request (Envoy's CPU time over the requests served while sampling, shared
out by samples):

- each `envoy_dynamic_module_on_*` hook, with what it spent in Envoy's
  callbacks (`envoy_dynamic_module_callback_*`);
- the functions of meshwasm's code that spent the most in themselves.

The samples stay in `target/native-profile/ROW.perf.data` for `perf report`.

What is not under a hook is Envoy's own work: the request's path through
the connection manager and router, and what the filters' header writes
make it redo (picking the route again). `perf` over Envoy's stripped binary
cannot name those functions. Numbers move with the machine's load: compare
rows profiled one after the other, and read ratios.
"""

import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILE_DIR = ROOT / "target/native-profile"
os.environ.setdefault("MESHWASM_NATIVE_DIR", str(PROFILE_DIR / "native"))
sys.path.insert(0, str(ROOT / "tools"))

import bench  # noqa: E402  (after MESHWASM_NATIVE_DIR: bench reads it at import)

HOOK = re.compile(r"^envoy_dynamic_module_on_\w+")
CALLBACK = re.compile(r"^envoy_dynamic_module_callback_\w+")


def build() -> None:
    """The native libraries with symbols, as `make native` builds them."""
    env = dict(os.environ, CARGO_PROFILE_NATIVE_STRIP="false", CARGO_PROFILE_NATIVE_DEBUG="1")
    crates = sorted(p.name for p in (ROOT / "filters").iterdir() if (p / "Cargo.toml").is_file() and p.name != "chain")
    filters = [arg for name in crates for arg in ("-p", f"meshwasm-{name}")]
    common = ["cargo", "build", "--quiet", "--profile", "native", "--target-dir", str(PROFILE_DIR)]
    subprocess.run(common + filters + ["-p", "meshwasm-native-probe", "-p", "meshwasm-native-bare", "--features", "native"], cwd=ROOT, env=env, check=True)
    subprocess.run(common + ["-p", "meshwasm-chain", "--features", "native"], cwd=ROOT, env=env, check=True)


def stacks(perf_script: str):
    """Each sample's frames, outermost first, from `perf script --no-inline`."""
    frames: list = []
    for line in perf_script.splitlines():
        if not line.strip():
            if frames:
                yield frames[::-1]
            frames = []
        elif line[0] in " \t":
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                frames.append(re.sub(r"\+0x[0-9a-f]+$", "", parts[1].rsplit(" (", 1)[0]))
    if frames:
        yield frames[::-1]


def report(samples: list, us_per_sample: float) -> str:
    hooks: collections.Counter = collections.Counter()
    callbacks: collections.Counter = collections.Counter()
    ours: collections.Counter = collections.Counter()
    under_hooks = 0
    for frames in samples:
        hook = next((f for f in frames if HOOK.match(f)), None)
        if hook is None:
            continue
        under_hooks += 1
        hooks[hook] += 1
        callback = next((f for f in frames if CALLBACK.match(f)), None)
        if callback:
            callbacks[callback] += 1
        elif frames[-1] == "[unknown]":
            ours["(unnamed: Envoy code, or a gap in the unwinding)"] += 1
        else:
            ours[frames[-1]] += 1
    total = len(samples) * us_per_sample

    def us(n: int) -> str:
        return f"{n * us_per_sample:6.2f}"

    lines = [
        f"Envoy's CPU per request while sampled: {total:.1f} µs ({len(samples)} samples)",
        f"under meshwasm's hooks:                {us(under_hooks)} µs",
        "",
        "hook                                                   µs/request",
    ]
    lines += [f"  {name:52} {us(n)}" for name, n in hooks.most_common()]
    lines += ["", "in Envoy's callbacks (under the hooks)"]
    lines += [f"  {name:52} {us(n)}" for name, n in callbacks.most_common()]
    lines += ["", "the rest under the hooks, by function (self time, the 20 largest: meshwasm's code,", "the allocator and libc it calls)"]
    lines += [f"  {name[:70]:70} {us(n)}" for name, n in ours.most_common(20)]
    return "\n".join(lines)


def main() -> None:
    row_name = os.environ.get("ROW", "chain-dm")
    seconds = int(os.environ.get("SECONDS_SAMPLED", "6"))
    if not shutil.which("perf"):
        sys.exit("tools/native-profile.py: needs `perf` (Debian: linux-perf)")
    bench.ensure_wrk()
    build()
    rows = {row.name: row for row in bench.rows()}
    if row_name not in rows or not row_name.endswith("-dm"):
        sys.exit(f"tools/native-profile.py: ROW must be one of {sorted(n for n in rows if n.endswith('-dm'))}")
    row = rows[row_name]
    data = PROFILE_DIR / f"{row_name}.perf.data"
    us_per_request = bench.perf_sample(row, ["-F", "1000", "--call-graph", "dwarf,16384"], data, seconds)
    script = subprocess.run(
        ["perf", "script", "--no-inline", "-i", str(data)], capture_output=True, text=True, check=True
    ).stdout
    samples = list(stacks(script))
    print(f"{row_name}: {row.what}")
    print(report(samples, us_per_request / max(len(samples), 1)))


if __name__ == "__main__":
    main()
