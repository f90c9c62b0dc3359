#!/usr/bin/env python3
"""Runs a wasm32-wasip1 program (a cargo test binary) under Wasmtime.

Cargo calls it as the target's runner: `wasi-run.py PROGRAM.wasm [ARGS...]`.
It exits with the program's exit code, so a failing test fails the run.
Host functions other than WASI's (proxy-wasm's, which filter crates link)
are defined as traps: a unit test that reached the host would fail.
"""

import sys

import wasmtime


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: wasi-run.py PROGRAM.wasm [ARGS...]", file=sys.stderr)
        return 2
    program = sys.argv[1]
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, program)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    # Filter crates link proxy-wasm's host imports; unit tests never call
    # them, and one that did would trap and fail.
    linker.define_unknown_imports_as_traps(module)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [program, *sys.argv[2:]]
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    wasi.inherit_env()
    store = wasmtime.Store(engine)
    store.set_wasi(wasi)
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    try:
        start(store)
    except wasmtime.ExitTrap as exit_trap:
        return exit_trap.code
    except wasmtime.Trap as trap:
        print(f"wasi-run: {program} trapped: {trap}", file=sys.stderr)
        return 101
    return 0


if __name__ == "__main__":
    sys.exit(main())
