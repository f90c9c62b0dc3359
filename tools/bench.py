#!/usr/bin/env python3
"""What each meshwasm filter costs: per request, in module size, in memory.

Per request against an empty proxy-wasm filter and Envoy's native filters.

Run from the repository root after `make build` and `make envoy` (`make bench`
does both, then this):

    .venv/bin/python tools/bench.py          # the full run, ~8 minutes on 2 cores
    .venv/bin/python tools/bench.py --rows empty-wasm,auth-api-key \\
        --duration 2 --rounds 1 --output target/bench/quick   # a quick look

Each row is one Envoy 1.40 (`--concurrency 1`, ports picked by Envoy, a
dynamic base id) whose only route answers itself (`direct_response`, no
upstream), so what a row adds over `baseline` is its filters' cost; its
connection manager has the secure sidecar settings of the shipped configs
and the e2e tests (printed by their code: `fixture sidecar-settings`). Before
every sample the row is checked to do its job (the benchmark request gets
200 with the expected body; requests without or with bad credentials get
401; the filter's counters moved); then `wrk` (1 thread, fixed connections,
keep-alive) warms it up and measures it: requests/s, latency, and Envoy's
CPU time per request (user + system, from /proc), which other load on a
shared machine disturbs far less than requests/s. Envoy and wrk are pinned
to different cores when there are two. Rounds are interleaved (every row
once, then every row again, each round starting further along the list so
no row always runs early or late) and each row is compared with the same
round's baseline; the report gives medians over rounds.

`empty-wasm` runs `tools/empty-filter` (a proxy-wasm SDK filter whose
callbacks all keep the SDK's defaults): the targets are stated against it.
Per request (on Envoy's CPU time, judged on req/s too): auth-api-key,
rate-limit and header-router ≤ empty-wasm + 1.5 µs, metrics ≤ empty-wasm +
2.5 µs, chain-1-module ≤ 4× what empty-wasm adds, the JWT rows (warm cache)
≤ auth-api-key + 1 µs. Each filter's .wasm ≤ 600,000 bytes, the chain's ≤
800,000. Memory, measured apart and untimed after the timed rounds (Envoy
with 2 workers, the row's checks, 2 s of wrk reaching both workers, then
VmRSS): the chain module ≤ the empty filter + 10 MB. The native filters'
rows are compared with the meshwasm filters for information only.

The `-dm` rows run the native build of the same filters and configs
(`make native`: libmeshwasm_<name>.so in target/native, Envoy's
dynamic-module filter, docs/native.md); `empty-dm` is tools/native-probe,
the native adapter around a stage that does nothing; `bare-dm` is
tools/native-bare, a module whose hooks do nothing without meshwasm's
adapter (the floor under every `-dm` row); `metric-updates-dm` is the probe
making 10 labelled counter updates per request (their slope over
`empty-dm` is what one costs). They are skipped when
the libraries are not built.

The load check: around each timed sample, the busy time of all cores from
/proc/stat less Envoy's, wrk's and this script's own CPU time is what other
processes used; above 10% of one core the sample is warned about and listed
in the report (`busy_other_pct` in each sample).

Writes PREFIX.md (the tables, the machine, the method, the targets) and
PREFIX.json (every sample), PREFIX being `--output` (default
`docs/benchmarks`). Envoy's configs and logs go to `target/bench/<row>/`
(`target/bench/<row>/memory/` for the memory measurement).
Knobs: --duration/BENCH_DURATION (seconds per sample, 5), --rounds/
BENCH_ROUNDS (3, timed and memory), --connections/BENCH_CONNECTIONS (16),
--warmup/BENCH_WARMUP (2, 0 for none), --rows/BENCH_ROWS (comma-separated;
baseline always runs; the targets need empty-wasm).
Installs what it needs: Debian's `wrk`. The RS256 and ES256 tokens are
minted by the e2e tests' signer (`cargo run -p meshwasm-e2e --bin mint`),
the JWKS and filter configurations read from the files the tests read.
"""

import argparse
import atexit
import base64
import datetime
import functools
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVOY = os.environ.get("ENVOY", str(ROOT / ".venv/bin/envoy"))
WASM_DIR = Path(os.environ.get("MESHWASM_WASM_DIR", ROOT / "target/wasm32-wasip1/release"))
NATIVE_DIR = Path(os.environ.get("MESHWASM_NATIVE_DIR", ROOT / "target/native"))
# Modules of an earlier build (BENCH_BEFORE_DIR), benchmarked beside these
# as `before-*` rows: a before/after comparison taken in one run.
BEFORE_DIR = os.environ.get("BENCH_BEFORE_DIR")
WORK_DIR = ROOT / "target/bench"
KEYS = ROOT / "tests/fixtures/keys"
WRK_REPORT = ROOT / "tools/bench-lua/wrk-report.lua"
LUA_API_KEY = Path("tools/bench-lua/api-key.lua")

READY_TIMEOUT_S = 60

# The targets (issue 11). Per request, on Envoy's CPU time (and, alongside,
# on req/s): each filter against the empty proxy-wasm filter.
EMPTY_SLACK_US = 1.5  # auth-api-key, rate-limit, header-router ≤ empty-wasm + this
METRICS_SLACK_US = 2.5  # metrics ≤ empty-wasm + this
CHAIN_FACTOR = 4.0  # chain-1-module ≤ this × what empty-wasm adds
JWT_SLACK_US = 1.0  # auth-jwt-* (warm cache) ≤ auth-api-key + this
# Module sizes, in bytes.
MAX_WASM_BYTES = 600_000
MAX_CHAIN_WASM_BYTES = 800_000
# Memory: Envoy with two workers running the chain module, over the same
# Envoy running the empty filter (bytes; VmRSS's kB are 1024 bytes).
MAX_CHAIN_RSS_BYTES = 10_000_000
# The native build (issue 15): each `-dm` row ≤ this × what its Envoy-native
# equivalent adds (the 0.5 µs allowance for an equivalent under 1 µs does not
# come into play on a machine where every equivalent costs several µs), and
# the native chain below the empty Wasm filter.
NATIVE_FACTOR = 1.5
# The host calls of each kind one request makes in each phase, per bench row
# (counted by filters/chain/tests/host_calls.rs); the `floor-<row>` rows make
# them with no filter around them (tools/host-call-probe).
HOST_CALLS = json.loads((ROOT / "tools/bench-configs/host-calls.json").read_text())


def host_call_count(row: str) -> int:
    """How many host calls one request of `row` makes, in all phases."""
    return sum(sum(phase.values()) for phase in HOST_CALLS[row].values())
# Labelled counter updates per request in the `metric-updates-dm` row: the
# slope against `empty-dm` is what one costs in Envoy's dynamic-module ABI.
PROBE_UPDATES = 10

# The memory measurement: not timed, both workers used and warm.
MEMORY_CONCURRENCY = 2
MEMORY_SECONDS = 2
MEMORY_MIN_CONNECTIONS = 8
# Its rows: the router alone, the empty filter, each filter, the chain module.
MEMORY_ROWS = [
    "baseline",
    "empty-wasm",
    "auth-api-key",
    "auth-jwt-rs256",
    "auth-jwt-es256",
    "rate-limit",
    "header-router",
    "metrics",
    "chain-1-module",
]

# The load check: a timed sample during which processes other than Envoy,
# wrk and this script kept more than this much of one core busy is flagged.
BUSY_OTHER_PCT = 10.0

WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
DM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"
STRING_TYPE = "type.googleapis.com/google.protobuf.StringValue"
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network."
    "http_connection_manager.v3.HttpConnectionManager"
)
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
# The labels meshwasm metrics carry in their names (see docs/filters/metrics.md, "Labels in Envoy and
# Istio"), as the shipped chain config tags them: tests/tests/configs.rs checks that it has every
# label core's metrics::LABELS lists, so this is not a copy to keep up.
STATS_TAGS = [
    {"tag_name": t, "regex": f"({t}=\\.=(.*?);\\.;)"}
    for t in re.findall(r"tag_name: (\w+)", (ROOT / "envoy-config/chain.yaml").read_text())
]

# The load: every row gets the same request (the ES256 row its own token).
PATH = "/bench"
TENANT = "tenant-10"
ROUTED_BODY = "route-10"
PLAIN_BODY = "ok"
CONSUMERS = {  # name -> API key; the same keys are in tools/bench-lua/api-key.lua
    "alice": "alice-bench-key-7f3a9c",
    "bob": "bob-bench-key-52e1d8",
    "carol": "carol-bench-key-0b6f44",
    "dave": "dave-bench-key-9d2c17",
}
ISSUER = "https://idp.bench.example"
AUDIENCE = "bench"


# --- what is installed ------------------------------------------------------


def ensure_wrk() -> None:
    """Installs Debian's wrk when it is missing."""
    if shutil.which("wrk"):
        return
    print("installing wrk (apt-get)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)


# --- tokens -----------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def fixture(*args: str) -> str:
    """What the e2e tests use, printed by their own code
    (tests/src/bin/fixture.rs): one source for the tests and the bench."""
    out = subprocess.run(
        ["cargo", "run", "--quiet", "-p", "meshwasm-e2e", "--bin", "fixture", "--", *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def mint(key_name: str, alg: str, subject: str) -> str:
    """A token from ISSUER for AUDIENCE, valid for a day, signed by fixture
    key `key_name` with the tests' signer."""
    return fixture("token", key_name, alg, ISSUER, AUDIENCE, subject)


def forged(token: str) -> str:
    """The token with another subject and the old signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return f"{header}.{b64json(dict(claims, sub='mallory'))}.{signature}"


def jwks(key_name: str) -> dict:
    return {"keys": [json.loads((KEYS / f"{key_name}.jwk.json").read_text())]}


# --- filter configurations --------------------------------------------------


def module(name: str, directory: Path = WASM_DIR) -> Path:
    """A module's path, relative to the repository root when under it (Envoy
    runs there, so the configs kept in benchmarks.json hold no local paths)."""
    path = Path(directory) / f"meshwasm_{name}.wasm"
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


CONFIGS = ROOT / "tools/bench-configs"


def config(name: str) -> dict:
    """A filter configuration from tools/bench-configs, the one source the
    host-call guard test (filters/chain/tests/host_calls.rs) reads too."""
    return json.loads((CONFIGS / f"{name}.json").read_text())


METRICS = config("metrics")
AUTH_API_KEY = config("auth-api-key")
# A limit never reached, one bucket per tenant.
RATE_LIMIT = config("rate-limit")
# Ten tenants, each routed by its own rule; the benchmark request is the last.
HEADER_ROUTER = config("header-router")
TRIVIAL = config("trivial")
# The same rule counted by the rate limit service (a global rule).
RATE_LIMIT_GLOBAL = config("rate-limit-global")


def auth_jwt(key_name: str) -> dict:
    return {
        "identity_header": "x-meshwasm-consumer",
        "jwt": {"providers": [{"name": "bench-idp", "issuer": ISSUER, "audiences": [AUDIENCE], "jwks": jwks(key_name)}]},
    }


def wasm(name: str, module_name: str, config: dict, directory: Path = WASM_DIR) -> dict:
    """A meshwasm filter as four-modules.yaml configures it: its own VM, fail closed."""
    return {
        "name": f"meshwasm.{name}",
        "typed_config": {
            "@type": WASM_TYPE,
            "config": {
                "name": name,
                "root_id": name,
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(module(module_name, directory))}},
                },
                "failure_policy": "FAIL_CLOSED",
                "configuration": {"@type": STRING_TYPE, "value": json.dumps(config)},
            },
        },
    }


def dm(name: str, module_name: str, config: dict) -> dict:
    """A meshwasm filter's native build (docs/native.md): the same JSON, in
    Envoy's dynamic-module filter loading libmeshwasm_<module_name>.so."""
    return {
        "name": f"meshwasm.{name}",
        "typed_config": {
            "@type": DM_TYPE,
            "dynamic_module_config": {"name": f"meshwasm_{module_name}", "do_not_close": True},
            "filter_name": name,
            "filter_config": {"@type": STRING_TYPE, "value": json.dumps(config)},
        },
    }


def native_jwt_authn() -> dict:
    """jwt_authn with the RS256 key inline and its verified-token cache on."""
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {
                "bench-idp": {
                    "issuer": ISSUER,
                    "audiences": [AUDIENCE],
                    "local_jwks": {"inline_string": json.dumps(jwks("rsa-a"))},
                    "jwt_cache_config": {"jwt_cache_size": 1024},
                }
            },
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench-idp"}}],
        },
    }


def native_local_ratelimit() -> dict:
    """local_ratelimit with one bucket per `x-tenant` value, never emptied."""
    bucket = {"max_tokens": 1_000_000, "tokens_per_fill": 1_000_000, "fill_interval": "1s"}
    percent_100 = {"numerator": 100, "denominator": "HUNDRED"}
    return {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "bench_ratelimit",
            "token_bucket": bucket,
            "filter_enabled": {"default_value": percent_100, "runtime_key": "bench_ratelimit_enabled"},
            "filter_enforced": {"default_value": percent_100, "runtime_key": "bench_ratelimit_enforced"},
            "rate_limits": [{"actions": [{"request_headers": {"header_name": "x-tenant", "descriptor_key": "tenant"}}]}],
            "descriptors": [{"entries": [{"key": "tenant", "value": ""}], "token_bucket": bucket}],
            "max_dynamic_descriptors": 10_000,
        },
    }


HEADER_MUTATION = {
    "name": "envoy.filters.http.header_mutation",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"},
}
LUA_API_KEY_FILTER = {
    "name": "envoy.filters.http.lua",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        "default_source_code": {"filename": str(LUA_API_KEY)},
    },
}


# --- routes -----------------------------------------------------------------


def answer(body: str) -> dict:
    return {"status": 200, "body": {"inline_string": body}}


# Every row but native-header-routing: where header-router sends tenant-10,
# and everything else.
ROUTES = [
    {
        "match": {"prefix": "/", "headers": [{"name": "x-route-version", "string_match": {"exact": "v10"}}]},
        "direct_response": answer(ROUTED_BODY),
    },
    {"match": {"prefix": "/"}, "direct_response": answer(PLAIN_BODY)},
]


def native_header_routes() -> list:
    """The route table does header-router's matching; header_mutation's
    per-route config sets the header each tenant's rule sets."""
    routes = []
    for i in range(1, 11):
        mutation = {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute",
            "mutations": {
                "request_mutations": [
                    {
                        "append": {
                            "header": {"key": "x-route-version", "value": f"v{i}"},
                            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                        }
                    }
                ]
            },
        }
        routes.append(
            {
                "match": {"prefix": "/", "headers": [{"name": "x-tenant", "string_match": {"exact": f"tenant-{i}"}}]},
                "direct_response": answer(f"route-{i}"),
                "typed_per_filter_config": {"envoy.filters.http.header_mutation": mutation},
            }
        )
    return routes + ROUTES[1:]


@functools.cache
def sidecar_settings() -> dict:
    """The secure connection-manager settings every shipped config and e2e
    test uses (docs/hardening.md): every row is measured with them."""
    return json.loads(fixture("sidecar-settings"))


def bootstrap(http_filters: list, routes: list, rate_limit_service: bool = False) -> dict:
    """One listener (with the secure sidecar settings) and admin on
    127.0.0.1, ports picked by Envoy; with
    `rate_limit_service`, an HTTP/2 cluster `ratelimit` to the running
    example rate limit service."""
    loopback = {"socket_address": {"address": "127.0.0.1", "port_value": 0}}
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": "bench",
        "route_config": {"name": "bench", "virtual_hosts": [{"name": "bench", "domains": ["*"], "routes": routes}]},
        "http_filters": http_filters + [ROUTER],
        **sidecar_settings(),
    }
    clusters = []
    if rate_limit_service:
        clusters.append(
            {
                "name": "ratelimit",
                "type": "STATIC",
                "connect_timeout": "1s",
                "typed_extension_protocol_options": {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "explicit_http_config": {"http2_protocol_options": {}},
                    }
                },
                "load_assignment": {
                    "cluster_name": "ratelimit",
                    "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                        "address": "127.0.0.1", "port_value": RateLimitService.port}}}}]}],
                },
            }
        )
    return {
        "admin": {"address": loopback},
        "stats_config": {"stats_tags": STATS_TAGS},
        "static_resources": {
            "clusters": clusters,
            "listeners": [
                {
                    "name": "bench",
                    "address": loopback,
                    "filter_chains": [
                        {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
                    ],
                }
            ]
        },
    }


# --- rows -------------------------------------------------------------------


@dataclass
class Probe:
    """One request that must get `status` (and `body`, when given)."""

    what: str
    headers: dict
    status: int
    body: str | None = None


@dataclass
class Row:
    name: str
    what: str
    http_filters: list
    headers: dict
    probes: list
    stats: list = field(default_factory=list)  # substrings of counters that must be above 0
    zero_stats: list = field(default_factory=list)  # substrings of counters that must stay at 0
    routes: list = field(default_factory=lambda: ROUTES)
    optional: bool = False  # skipped, not failed, when a module is missing
    rate_limit_service: bool = False  # needs the example rate limit service running

    @property
    def modules(self) -> list:
        """The .wasm files its filters load."""
        return [
            ROOT / f["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"]
            for f in self.http_filters
            if f["typed_config"]["@type"] == WASM_TYPE
        ]

    @property
    def libraries(self) -> list:
        """The native libraries (.so) its filters load."""
        return [
            NATIVE_DIR / f"lib{f['typed_config']['dynamic_module_config']['name']}.so"
            for f in self.http_filters
            if f["typed_config"]["@type"] == DM_TYPE
        ]


def without(headers: dict, name: str) -> dict:
    return {k: v for k, v in headers.items() if k != name}


def rows() -> list:
    rs256, es256 = mint("rsa-a", "RS256", "alice"), mint("ec256", "ES256", "alice")
    load = {"x-tenant": TENANT, "x-api-key": CONSUMERS["alice"], "authorization": f"Bearer {rs256}"}
    load_es = dict(load, authorization=f"Bearer {es256}")

    def ok(body: str = PLAIN_BODY, headers: dict = load) -> Probe:
        return Probe("the benchmark request", headers, 200, body)

    api_key_refused = [
        Probe("no API key", without(load, "x-api-key"), 401),
        Probe("an unknown API key", dict(load, **{"x-api-key": "nobody-key"}), 401),
    ]

    def jwt_refused(token: str) -> list:
        return [
            Probe("no token", without(load, "authorization"), 401),
            Probe("a forged token", dict(load, authorization=f"Bearer {forged(token)}"), 401),
        ]

    chain_config = {"metrics": METRICS, "auth": AUTH_API_KEY, "rate_limit": RATE_LIMIT, "header_router": HEADER_ROUTER}
    four = [
        wasm("metrics", "metrics", METRICS),
        wasm("auth", "auth", AUTH_API_KEY),
        wasm("rate-limit", "rate_limit", RATE_LIMIT),
        wasm("header-router", "header_router", HEADER_ROUTER),
    ]
    chain_stats = ["meshwasm_requests_total", "decision=.=allowed;.;reason=.=api_key", "meshwasm_ratelimit_requests_total"]
    out = [
        Row("baseline", "router only", [], load, [ok()]),
        Row(
            "auth-api-key",
            "meshwasm auth: API key, 4 consumers (one by SHA-256)",
            [wasm("auth", "auth", AUTH_API_KEY)],
            load,
            [ok()] + api_key_refused,
            ["decision=.=allowed;.;reason=.=api_key"],
        ),
        Row(
            "auth-jwt-rs256",
            "meshwasm auth: JWT RS256, inline JWKS, one token (cache warm)",
            [wasm("auth", "auth", auth_jwt("rsa-a"))],
            load,
            [ok()] + jwt_refused(rs256),
            ["decision=.=allowed;.;reason=.=jwt"],
        ),
        Row(
            "auth-jwt-es256",
            "meshwasm auth: JWT ES256, inline JWKS, one token (cache warm)",
            [wasm("auth", "auth", auth_jwt("ec256"))],
            load_es,
            [ok(headers=load_es)] + jwt_refused(es256),
            ["decision=.=allowed;.;reason=.=jwt"],
        ),
        Row(
            "rate-limit",
            "meshwasm rate-limit: 1 rule keyed by `x-tenant`, never reached",
            [wasm("rate-limit", "rate_limit", RATE_LIMIT)],
            load,
            [ok()],
            ["rule=.=per-tenant;.;decision=.=allowed"],
        ),
        Row(
            "rate-limit-global",
            "meshwasm rate-limit: the same rule counted by the rate limit service (global; the example service, Redis)",
            [wasm("rate-limit", "rate_limit", RATE_LIMIT_GLOBAL)],
            load,
            [ok()],
            ["outcome=.=ok;.;meshwasm_ratelimit_service_calls_total"],
            rate_limit_service=True,
        ),
        Row(
            "header-router",
            "meshwasm header-router: 10 rules, the last matches and sets a header",
            [wasm("header-router", "header_router", HEADER_ROUTER)],
            load,
            [ok(ROUTED_BODY)],
            ["rule=.=tenant-10;.;meshwasm_headerrouter_matches_total"],
        ),
        Row(
            "metrics",
            "meshwasm metrics: RED metrics with a consumer label",
            [wasm("metrics", "metrics", METRICS)],
            load,
            [ok()],
            ["meshwasm_requests_total"],
        ),
        Row(
            "chain-4-modules",
            "metrics, auth (API key), rate-limit, header-router: 4 modules",
            four,
            load,
            [ok(ROUTED_BODY)] + api_key_refused,
            chain_stats,
        ),
        Row(
            "chain-1-module",
            "the same four configs in one module and one Wasm context",
            [wasm("chain", "chain", chain_config)],
            load,
            [ok(ROUTED_BODY)] + api_key_refused,
            chain_stats,
            optional=True,
        ),
        Row(
            "empty-wasm",
            "proxy-wasm SDK filter with empty callbacks",
            [wasm("empty", "empty_filter", {})],
            load,
            [ok()],
        ),
        Row(
            "trivial-wasm",
            "meshwasm rate-limit with no rules: meshwasm's adapter with no work to do",
            [wasm("rate-limit", "rate_limit", TRIVIAL)],
            load,
            [ok()],
        ),
    ]
    # What each Wasm row's host calls cost where it makes them, and nothing
    # else (tools/host-call-probe): the row's floor.
    out += [
        Row(
            f"floor-{row}",
            f"the host calls one `{row}` request makes ({host_call_count(row)}), "
            "made by a probe doing nothing else",
            [wasm("probe", "host_call_probe", calls)],
            load,
            [ok()],
            ["probe_counter"],
            zero_stats=["probe_failed_calls"],
        )
        for row, calls in HOST_CALLS.items()
        if not row.endswith("-dm")
    ]
    out += [
        Row(
            "native-jwt-authn",
            "Envoy jwt_authn: the RS256 token, inline JWKS, its JWT cache on",
            [native_jwt_authn()],
            load,
            [ok()] + jwt_refused(rs256),
            ["jwt_authn.allowed"],
        ),
        Row(
            "native-local-ratelimit",
            "Envoy local_ratelimit: a bucket per `x-tenant`, never emptied",
            [native_local_ratelimit()],
            load,
            [ok()],
            ["http_local_rate_limit.ok"],
        ),
        Row(
            "native-header-routing",
            "10 routes matching `x-tenant` + header_mutation setting a header",
            [HEADER_MUTATION],
            load,
            [ok(ROUTED_BODY)],
            routes=native_header_routes(),
        ),
        Row(
            "native-lua-api-key",
            "Envoy Lua: the API-key check against a table of 4",
            [LUA_API_KEY_FILTER],
            load,
            [ok()] + api_key_refused,
        ),
    ]
    # The native build of the same filters and configs (`make native`).
    out += [
        Row(
            "bare-dm",
            "a dynamic module whose hooks do nothing, no meshwasm code (tools/native-bare): the floor",
            [dm("bare", "native_bare", {})],
            load,
            [ok()],
            optional=True,
        ),
        Row(
            "empty-dm",
            "native build: meshwasm's adapter around a stage that does nothing (tools/native-probe)",
            [dm("probe", "native_probe", {})],
            load,
            [ok()],
            optional=True,
        ),
        Row(
            "metric-updates-dm",
            f"`empty-dm` plus {PROBE_UPDATES} updates of a counter with two labels per request",
            [dm("probe", "native_probe", {"counters": PROBE_UPDATES})],
            load,
            [ok()],
            ["meshwasm_probe_updates_total"],
            optional=True,
        ),
        Row(
            "auth-api-key-dm",
            "native build of auth-api-key",
            [dm("auth", "auth", AUTH_API_KEY)],
            load,
            [ok()] + api_key_refused,
            ["meshwasm_auth_requests_total.decision.allowed.reason.api_key"],
            optional=True,
        ),
        Row(
            "auth-jwt-rs256-dm",
            "native build of auth-jwt-rs256",
            [dm("auth", "auth", auth_jwt("rsa-a"))],
            load,
            [ok()] + jwt_refused(rs256),
            ["meshwasm_auth_requests_total.decision.allowed.reason.jwt"],
            optional=True,
        ),
        Row(
            "rate-limit-dm",
            "native build of rate-limit",
            [dm("rate-limit", "rate_limit", RATE_LIMIT)],
            load,
            [ok()],
            ["meshwasm_ratelimit_requests_total.rule.per-tenant.decision.allowed"],
            optional=True,
        ),
        Row(
            "header-router-dm",
            "native build of header-router",
            [dm("header-router", "header_router", HEADER_ROUTER)],
            load,
            [ok(ROUTED_BODY)],
            ["meshwasm_headerrouter_matches_total.rule.tenant-10"],
            optional=True,
        ),
        Row(
            "metrics-dm",
            "native build of metrics",
            [dm("metrics", "metrics", METRICS)],
            load,
            [ok()],
            ["meshwasm_requests_total"],
            optional=True,
        ),
        Row(
            "chain-dm",
            "native build of chain-1-module: the four in one library",
            [dm("chain", "chain", chain_config)],
            load,
            [ok(ROUTED_BODY)] + api_key_refused,
            ["meshwasm_requests_total", "decision.allowed.reason.api_key", "meshwasm_ratelimit_requests_total"],
            optional=True,
        ),
    ]
    if BEFORE_DIR:
        before = Path(BEFORE_DIR)
        jwt_stats = ["decision=.=allowed;.;reason=.=jwt"]
        for name, what, module_name, cfg, headers, probes, stats in [
            ("auth-api-key", "auth", "auth", AUTH_API_KEY, load, [ok()] + api_key_refused, ["decision=.=allowed;.;reason=.=api_key"]),
            ("auth-jwt-rs256", "auth", "auth", auth_jwt("rsa-a"), load, [ok()] + jwt_refused(rs256), jwt_stats),
            ("auth-jwt-es256", "auth", "auth", auth_jwt("ec256"), load_es, [ok(headers=load_es)] + jwt_refused(es256), jwt_stats),
            ("rate-limit", "rate-limit", "rate_limit", RATE_LIMIT, load, [ok()], ["rule=.=per-tenant;.;decision=.=allowed"]),
            ("header-router", "header-router", "header_router", HEADER_ROUTER, load, [ok(ROUTED_BODY)], ["rule=.=tenant-10;.;meshwasm_headerrouter_matches_total"]),
            ("metrics", "metrics", "metrics", METRICS, load, [ok()], ["meshwasm_requests_total"]),
            ("chain-1-module", "chain", "chain", chain_config, load, [ok(ROUTED_BODY)] + api_key_refused, chain_stats),
        ]:
            out.append(
                Row(
                    f"before-{name}",
                    f"`{name}` with the modules of {BEFORE_DIR} (an earlier build)",
                    [wasm(what, module_name, cfg, before)],
                    headers,
                    probes,
                    stats,
                    optional=True,
                )
            )
    return out



# Each meshwasm filter and the native filter doing its job.
NATIVE_PAIRS = [
    ("auth-api-key", "native-lua-api-key"),
    ("auth-jwt-rs256", "native-jwt-authn"),
    ("rate-limit", "native-local-ratelimit"),
    ("header-router", "native-header-routing"),
]


# --- Envoy ------------------------------------------------------------------


def http_get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


class Envoy:
    """One Envoy on a row's config; a context manager that always stops it.
    Timed samples run it with one worker (in `target/bench/<row>/`), the
    memory measurement with two (in `target/bench/<row>/memory/`)."""

    def __init__(self, row: Row, cpu: list, concurrency: int = 1):
        self.name = row.name if concurrency == 1 else f"{row.name} ({concurrency} workers)"
        self.dir = WORK_DIR / row.name if concurrency == 1 else WORK_DIR / row.name / "memory"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "envoy.json"
        self.config.write_text(
            json.dumps(bootstrap(row.http_filters, row.routes, row.rate_limit_service), indent=1)
        )
        self.cpu = cpu
        self.concurrency = concurrency
        self.process = None
        self.admin_port = self.port = 0

    def __enter__(self) -> "Envoy":
        admin_path = self.dir / "admin-address"
        admin_path.unlink(missing_ok=True)
        with open(self.dir / "envoy.log", "wb") as log:
            self.process = subprocess.Popen(
                self.cpu
                + [shutil.which(ENVOY), "-c", str(self.config), "--concurrency", str(self.concurrency)]
                + ["--use-dynamic-base-id"]
                + ["--disable-hot-restart", "--admin-address-path", str(admin_path), "--log-level", "warn"],
                cwd=ROOT,
                env=dict(os.environ, ENVOY_DYNAMIC_MODULES_SEARCH_PATH=str(NATIVE_DIR)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            self.wait_ready(admin_path)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def fail(self, reason: str) -> RuntimeError:
        log = (self.dir / "envoy.log").read_text(errors="replace")[-4000:]
        return RuntimeError(f"{self.name}: {reason}\n--- Envoy log (end) ---\n{log}")

    def wait_ready(self, admin_path: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self.fail(f"Envoy exited with {self.process.returncode}")
            if admin_path.exists() and admin_path.read_text().strip():
                self.admin_port = int(admin_path.read_text().strip().rsplit(":", 1)[1])
                try:
                    if http_get(self.admin_port, "/ready")[0] == 200:
                        listeners = json.loads(http_get(self.admin_port, "/listeners?format=json")[1])
                        address = listeners["listener_statuses"][0]["local_address"]["socket_address"]
                        self.port = address["port_value"]
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise self.fail(f"not ready after {READY_TIMEOUT_S} s")

    def served(self) -> int:
        """Requests the bench listener has answered so far (Envoy's own count)."""
        stats = http_get(self.admin_port, "/stats?filter=^http.bench.downstream_rq_completed$")[1]
        match = re.search(r"downstream_rq_completed: (\d+)", stats)
        return int(match.group(1)) if match else 0

    def counter(self, substring: str) -> int:
        """The sum of the counters whose name contains `substring`."""
        text = http_get(self.admin_port, "/stats?type=Counters")[1]
        return sum(int(line.rsplit(": ", 1)[1]) for line in text.splitlines() if substring in line)

    def cpu_seconds(self) -> float:
        """User and system time of all of Envoy's threads so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_parts_kb(self) -> dict:
        """Where Envoy's memory is (kB): what its allocator has handed out
        and not had back (`allocated`, from the admin `/memory`), what the
        allocator keeps free for reuse instead of returning it to the system
        (its free pages and per-thread caches), and the resident executable
        pages Envoy mapped itself, which hold the code V8 compiled."""
        heap = {k: int(v) for k, v in json.loads(http_get(self.admin_port, "/memory")[1]).items()}
        code, executable = 0, False
        for line in Path(f"/proc/{self.process.pid}/smaps").read_text().splitlines():
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
                executable = fields[1] == "rwxp" and len(fields) == 5  # anonymous, writable code
            elif fields[0] == "Rss:" and executable:
                code += int(fields[1])
        return {
            "allocated_kb": heap["allocated"] // 1024,
            "allocator_free_kb": (heap["pageheap_free"] + heap["total_thread_cache"]) // 1024,
            "jit_code_kb": code,
        }

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise self.fail("no VmRSS")


def perf_sample(row: Row, perf_options: list, data: Path, seconds: int) -> float:
    """Runs the row's Envoy under load as a timed sample does (one worker,
    pinned, checked, warmed), records it with `perf record PERF_OPTIONS`
    into `data` for `seconds`, and returns Envoy's CPU µs per request while
    it was recorded (`perf` slows Envoy down: compare rows recorded alike).
    For tools/native-profile.py and tools/wasm-profile.py."""
    envoy_cpu, wrk_cpu = cpus()
    with Envoy(row, envoy_cpu) as envoy:
        check(row, envoy)
        wrk(envoy.port, row.headers, 1, 16, wrk_cpu)
        load = subprocess.Popen(
            wrk_command(envoy.port, row.headers, seconds + 2, 16, wrk_cpu), stdout=subprocess.PIPE, text=True
        )
        time.sleep(1)
        cpu_before, served_before = envoy.cpu_seconds(), envoy.served()
        subprocess.run(
            ["perf", "record", "-q", *perf_options, "-o", str(data), "-p", str(envoy.process.pid)]
            + ["--", "sleep", str(seconds)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cpu, requests = envoy.cpu_seconds() - cpu_before, envoy.served() - served_before
        load.communicate()
    return cpu / max(requests, 1) * 1e6


def check(row: Row, envoy: Envoy) -> None:
    """Fails unless the row does its job: every probe answered as expected,
    and its filters' counters show they handled the requests."""
    for probe in row.probes:
        status, body = http_get(envoy.port, PATH, probe.headers)
        if status != probe.status or (probe.body is not None and body != probe.body):
            expected = f"{probe.status}" + (f" {probe.body!r}" if probe.body is not None else "")
            raise envoy.fail(f"{probe.what}: expected {expected}, got {status} {body[:200]!r}")
    for stat in row.stats:
        if envoy.counter(stat) == 0:
            raise envoy.fail(f"no counter containing {stat!r} above 0 after the checks")
    for stat in row.zero_stats:
        if envoy.counter(stat) != 0:
            raise envoy.fail(f"counters containing {stat!r} above 0 after the checks")


# --- the rate limit service (global rows) ----------------------------------


class RateLimitService:
    """Redis and the example rate limit service, on free loopback ports, for
    the rows with a global rule; a context manager that stops both."""

    port = 0
    # `make bench` builds the release one; MESHWASM_RATELIMIT_SERVICE names
    # another (a debug build answers slower: it moves latency, not Envoy's CPU).
    BINARY = Path(
        os.environ.get("MESHWASM_RATELIMIT_SERVICE", ROOT / "target/release/meshwasm-ratelimit-service")
    )

    def __enter__(self) -> "RateLimitService":
        self.dir = WORK_DIR / "ratelimit-service"
        self.dir.mkdir(parents=True, exist_ok=True)
        limits = self.dir / "limits.yaml"
        limits.write_text(
            "- namespace: meshwasm-bench\n  name: per-tenant\n  max_value: 1000000000\n  seconds: 60\n"
            "  conditions: []\n  variables: [\"descriptors[0].tenant\"]\n"
        )
        redis_port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        self.service = None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", redis_port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(5) == b"+PONG":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("redis-server did not come up")
            time.sleep(0.05)
        self.service = subprocess.Popen(
            [str(self.BINARY), "--listen", "127.0.0.1:0", "--redis", f"redis://127.0.0.1:{redis_port}",
             "--limits", str(limits)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.service.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.__exit__()
            raise RuntimeError(f"the rate limit service said {line!r}")
        RateLimitService.port = int(line.rsplit(":", 1)[1])
        return self

    def __exit__(self, *_exc) -> None:
        for process in (self.service, self.redis):
            if process is not None:
                process.terminate()
                process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- load -------------------------------------------------------------------


def cpus() -> tuple[list, list]:
    """taskset prefixes for Envoy and wrk: different cores when there are two."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2 or not shutil.which("taskset"):
        return [], []
    return ["taskset", "-c", str(available[0])], ["taskset", "-c", str(available[1])]


def wrk_command(port: int, headers: dict, seconds: int, connections: int, cpu: list) -> list:
    """The load for a row: one wrk thread, keep-alive, the row's headers;
    it prints a `BENCH-JSON` report line."""
    command = cpu + ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(WRK_REPORT)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return command + [f"http://127.0.0.1:{port}{PATH}"]


def wrk(port: int, headers: dict, seconds: int, connections: int, cpu: list) -> dict:
    command = wrk_command(port, headers, seconds, connections, cpu)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    report = next(line for line in output.splitlines() if line.startswith("BENCH-JSON "))
    return json.loads(report.removeprefix("BENCH-JSON "))


def machine_cpu_seconds() -> tuple[float, float]:
    """From /proc/stat's `cpu` line (all cores, since boot): the seconds the
    cores spent busy (user, nice, system, irq, softirq; guest time is in
    user already) and the seconds the hypervisor stole from them."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def own_cpu_seconds() -> tuple[float, float]:
    """User + system seconds of this script and of its reaped children (wrk,
    once `subprocess.run` has waited for it; Envoy is reaped only when
    stopped, after the sample)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def rotated(rows: list, rnd: int, rounds: int) -> list:
    """The rows in round `rnd`'s order: each round starts further along the
    list, so no row is always sampled early or late in a round (the machine
    drifts within a round: a row that always ran right after another would
    carry its effects into every comparison)."""
    start = (rnd - 1) * len(rows) // rounds
    return rows[start:] + rows[:start]


def sample(row: Row, args: argparse.Namespace, rnd: int) -> dict:
    """Starts the row's Envoy, checks it, warms it up, measures it, and
    measures what the rest of the machine did meanwhile (the load check)."""
    envoy_cpu, wrk_cpu = cpus()
    with Envoy(row, envoy_cpu) as envoy:
        check(row, envoy)
        if args.warmup:
            wrk(envoy.port, row.headers, args.warmup, args.connections, wrk_cpu)
        busy_before, steal_before = machine_cpu_seconds()
        me_before, children_before = own_cpu_seconds()
        wall_before = time.monotonic()
        cpu_before = envoy.cpu_seconds()
        result = wrk(envoy.port, row.headers, args.duration, args.connections, wrk_cpu)
        cpu = envoy.cpu_seconds() - cpu_before
        wall = time.monotonic() - wall_before
        me_after, children_after = own_cpu_seconds()
        busy_after, steal_after = machine_cpu_seconds()
        rss = envoy.rss_kb()
    errors = {k: v for k, v in result["errors"].items() if v}
    if errors:
        raise RuntimeError(f"{row.name}: wrk saw errors {errors} (status: answers not 2xx/3xx)")
    # Busy time of all cores, less Envoy's, wrk's and this script's own:
    # what other processes took while the sample ran, in % of one core.
    wrk_seconds = children_after - children_before
    other = (busy_after - busy_before) - cpu - wrk_seconds - (me_after - me_before)
    busy_other_pct = other / wall * 100
    steal_pct = (steal_after - steal_before) / wall * 100
    if busy_other_pct > BUSY_OTHER_PCT:
        print(
            f"warning: round {rnd} {row.name}: other processes used {busy_other_pct:.0f}% of a core during"
            f" the sample (over {BUSY_OTHER_PCT:.0f}%): the machine was busy, distrust this sample",
            flush=True,
        )
    seconds = result["duration_us"] / 1e6
    return {
        "round": rnd,
        "requests": result["requests"],
        "seconds": round(seconds, 3),
        "rps": round(result["requests"] / seconds, 1),
        "envoy_cpu_s": round(cpu, 2),
        "cpu_us": round(cpu / result["requests"] * 1e6, 2),
        "latency_us": result["latency_us"],
        "rss_kb": rss,
        "wrk_cpu_s": round(wrk_seconds, 2),
        "busy_other_pct": round(busy_other_pct, 1),
        "steal_pct": round(steal_pct, 1),
    }


def memory_sample(row: Row, args: argparse.Namespace, rnd: int) -> dict:
    """Envoy with two workers on the row's config, after its checks and a
    short load that reaches both workers (so each worker's VM has served
    requests): its VmRSS. Not timed; nothing is pinned."""
    with Envoy(row, [], concurrency=MEMORY_CONCURRENCY) as envoy:
        check(row, envoy)
        result = wrk(envoy.port, row.headers, MEMORY_SECONDS, max(args.connections, MEMORY_MIN_CONNECTIONS), [])
        rss = envoy.rss_kb()
        parts = envoy.memory_parts_kb()
        per_worker = [envoy.counter(f".worker_{w}.downstream_cx_total") for w in range(MEMORY_CONCURRENCY)]
    errors = {k: v for k, v in result["errors"].items() if v}
    if errors:
        raise RuntimeError(f"{row.name} (memory): wrk saw errors {errors} (status: answers not 2xx/3xx)")
    if min(per_worker) == 0:
        raise RuntimeError(f"{row.name} (memory): a worker served no connection ({per_worker} per worker)")
    return {
        "round": rnd,
        "requests": result["requests"],
        "connections_per_worker": per_worker,
        "rss_kb": rss,
        **parts,
    }


# --- results ----------------------------------------------------------------


def summarize(samples: dict) -> dict:
    """Medians over rounds; ratio and added µs against the same round's baseline."""
    base = {s["round"]: s["rps"] for s in samples["baseline"]}
    base_cpu = {s["round"]: s["cpu_us"] for s in samples["baseline"]}
    summary = {}
    for name, row_samples in samples.items():
        rps = [s["rps"] for s in row_samples]
        summary[name] = {
            "rps": statistics.median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "ratio": statistics.median(s["rps"] / base[s["round"]] for s in row_samples),
            "added_us": statistics.median((1 / s["rps"] - 1 / base[s["round"]]) * 1e6 for s in row_samples),
            "cpu_us": statistics.median(s["cpu_us"] for s in row_samples),
            "added_cpu_us": statistics.median(s["cpu_us"] - base_cpu[s["round"]] for s in row_samples),
            "p50_us": statistics.median(s["latency_us"]["p50"] for s in row_samples),
            "p99_us": statistics.median(s["latency_us"]["p99"] for s in row_samples),
            "rss_kb": statistics.median(s["rss_kb"] for s in row_samples),
        }
    return summary


def judge(summary: dict, target: str, row: str, reference: str, kind: str) -> dict:
    """One target, judged on both measures of what a row adds: from req/s
    (`added_us`) and from Envoy's CPU time (`added_cpu_us`). `kind` is
    `factor:N` (row ≤ N× reference) or `slack:N` (row ≤ reference + N µs)."""
    verdicts = {"target": target}
    for measure in ("added_us", "added_cpu_us"):
        if row not in summary or reference not in summary:
            verdicts[measure] = {"measured": "not measured", "met": None}
            continue
        ours, theirs = summary[row][measure], summary[reference][measure]
        how, number = kind.split(":")
        bound = float(number)
        if how == "slack":
            met = ours - theirs <= bound
            measured = f"{ours:.1f} vs {theirs:.1f} ({ours - theirs:+.2f})"
        elif theirs <= 0:
            met, measured = None, f"{ours:.1f} vs {theirs:.1f} (reference within noise)"
        else:
            met = ours <= bound * theirs
            measured = f"{ours:.1f} vs {theirs:.1f} ({ours / theirs:.2f}×)"
        verdicts[measure] = {"measured": measured, "met": met}
    return verdicts


def targets(summary: dict) -> list:
    """The per-request targets, each judged on both measures."""
    out = [
        judge(summary, f"`{row}` ≤ `empty-wasm` + {EMPTY_SLACK_US:g} µs", row, "empty-wasm", f"slack:{EMPTY_SLACK_US}")
        for row in ("auth-api-key", "rate-limit", "header-router")
    ]
    out.append(
        judge(
            summary,
            f"`metrics` ≤ `empty-wasm` + {METRICS_SLACK_US:g} µs",
            "metrics",
            "empty-wasm",
            f"slack:{METRICS_SLACK_US}",
        )
    )
    out.append(
        judge(
            summary,
            f"`chain-1-module` ≤ {CHAIN_FACTOR:g}× what `empty-wasm` adds",
            "chain-1-module",
            "empty-wasm",
            f"factor:{CHAIN_FACTOR}",
        )
    )
    out += [
        judge(
            summary,
            f"`{jwt}` (warm cache) ≤ `auth-api-key` + {JWT_SLACK_US:g} µs",
            jwt,
            "auth-api-key",
            f"slack:{JWT_SLACK_US}",
        )
        for jwt in ("auth-jwt-rs256", "auth-jwt-es256")
    ]
    out += [
        judge(
            summary,
            f"`{ours}-dm` ≤ {NATIVE_FACTOR:g}× what `{native}` adds",
            f"{ours}-dm",
            native,
            f"factor:{NATIVE_FACTOR}",
        )
        for ours, native in NATIVE_PAIRS
    ]
    out.append(judge(summary, "`chain-dm` < what `empty-wasm` adds", "chain-dm", "empty-wasm", "factor:1"))
    return out


def native_comparisons(summary: dict) -> list:
    """Each meshwasm filter against the native filter doing its job, on both
    measures: for information, not a target."""
    out = []
    for ours, native in NATIVE_PAIRS:
        entry = {"row": ours, "native": native}
        for measure in ("added_us", "added_cpu_us"):
            if ours not in summary or native not in summary:
                entry[measure] = "not measured"
                continue
            a, b = summary[ours][measure], summary[native][measure]
            entry[measure] = f"{a:.1f} vs {b:.1f}" + (f" ({a / b:.2f}×)" if b > 0 else " (native within noise)")
        out.append(entry)
    return out


def native_floor(summary: dict) -> dict:
    """What a native row pays before meshwasm does any work, on CPU time:
    Envoy's dynamic-module filter around a module that does nothing
    (`bare-dm`), meshwasm's adapter on top (`empty-dm`), and one labelled
    metric update (the `metric-updates-dm` slope). Then each native row over
    the floor, beside its Envoy-native equivalent."""

    def added(row: str) -> float | None:
        return summary[row]["added_cpu_us"] if row in summary else None

    bare, empty, updates = added("bare-dm"), added("empty-dm"), added("metric-updates-dm")
    out = {
        "bare_dm_us": bare,
        "adapter_us": None if bare is None or empty is None else empty - bare,
        "metric_update_us": None if empty is None or updates is None else (updates - empty) / PROBE_UPDATES,
        "rows": [],
    }
    for ours, native in NATIVE_PAIRS + [("chain", None)]:
        row = f"{ours}-dm"
        if added(row) is None:
            continue
        out["rows"].append(
            {
                "row": row,
                "added_cpu_us": added(row),
                "over_bare_us": None if bare is None else added(row) - bare,
                "native": native,
                "native_added_cpu_us": added(native) if native else None,
                "target_us": added(native) * NATIVE_FACTOR if native and added(native) is not None else None,
            }
        )
    return out


# Each Wasm row with counted host calls, and the bound its target puts on it
# (in added CPU µs), from what `empty-wasm` adds.
FLOOR_TARGETS = {
    "auth-api-key": lambda empty: empty + EMPTY_SLACK_US,
    "rate-limit": lambda empty: empty + EMPTY_SLACK_US,
    "header-router": lambda empty: empty + EMPTY_SLACK_US,
    "metrics": lambda empty: empty + METRICS_SLACK_US,
    "chain-1-module": lambda empty: empty * CHAIN_FACTOR,
}


def host_call_floors(summary: dict) -> list:
    """Each Wasm row against its floor (`floor-<row>`: its host calls made
    by a probe doing nothing else, the probe's VM entries included) and its
    target's bound, on added CPU µs (medians)."""
    if "empty-wasm" not in summary:
        return []
    empty = summary["empty-wasm"]["added_cpu_us"]
    out = []
    for row, bound in FLOOR_TARGETS.items():
        if row not in summary or f"floor-{row}" not in summary:
            continue
        floor = summary[f"floor-{row}"]["added_cpu_us"]
        out.append(
            {
                "row": row,
                "added_cpu_us": summary[row]["added_cpu_us"],
                "empty_wasm_us": empty,
                "host_calls": host_call_count(row),
                "floor_us": floor,
                "target_us": bound(empty),
            }
        )
    return out


# Modules built for the bench only, never deployed: no size target.
REFERENCE_MODULES = {
    "meshwasm_empty_filter.wasm": "the reference",
    "meshwasm_host_call_probe.wasm": "the `floor-` rows' probe",
}


def size_targets(sizes: dict) -> list:
    """Each built module against its size limit (the bench's reference
    modules, the empty filter and the host-call probe, have none)."""
    out = []
    for name, size in sizes.items():
        if name in REFERENCE_MODULES:
            limit = None
        elif name == "meshwasm_chain.wasm":
            limit = MAX_CHAIN_WASM_BYTES
        else:
            limit = MAX_WASM_BYTES
        out.append({"module": name, "bytes": size, "max_bytes": limit, "met": None if limit is None else size <= limit})
    return out


# The parts of Envoy's memory each memory sample records (Envoy.memory_parts_kb).
MEMORY_PARTS = ["allocated_kb", "allocator_free_kb", "jit_code_kb"]


def summarize_memory(samples: dict) -> dict:
    """Medians over rounds: VmRSS, and what a row adds over the same round's
    `empty-wasm` and `baseline` (kB of 1024 bytes, as /proc reports them);
    and for each part of the memory, what the row adds over `empty-wasm`."""

    def added(row_samples: list, ref: str, measure: str) -> float | None:
        by_round = {s["round"]: s[measure] for s in samples.get(ref, [])}
        diffs = [s[measure] - by_round[s["round"]] for s in row_samples if s["round"] in by_round]
        return statistics.median(diffs) if diffs else None

    summary = {}
    for name, row_samples in samples.items():
        parts = {part: added(row_samples, "empty-wasm", part) for part in MEMORY_PARTS}
        over_empty = added(row_samples, "empty-wasm", "rss_kb")
        # The rest of the RSS: mostly the instances' linear memories, which
        # V8 maps itself, outside Envoy's allocator.
        known = [parts[p] for p in MEMORY_PARTS]
        parts["other_kb"] = None if over_empty is None or None in known else over_empty - sum(known)
        summary[name] = {
            "rss_kb": statistics.median(s["rss_kb"] for s in row_samples),
            "added_over_empty_kb": over_empty,
            "added_over_baseline_kb": added(row_samples, "baseline", "rss_kb"),
            "parts_added_over_empty_kb": parts,
        }
    return summary


def memory_target(memory: dict) -> dict:
    """The chain module's RSS over the empty filter's, both with two workers."""
    target = (
        f"Envoy with {MEMORY_CONCURRENCY} workers running `chain-1-module` ≤ the same running "
        f"`empty-wasm` + {MAX_CHAIN_RSS_BYTES / 1e6:g} MB"
    )
    added_kb = memory.get("chain-1-module", {}).get("added_over_empty_kb")
    if added_kb is None:
        return {"target": target, "measured": "not measured", "met": None}
    added = added_kb * 1024
    parts = memory["chain-1-module"]["parts_added_over_empty_kb"]
    measured = (
        f"{added / 1e6:+.1f} MB (live heap {mb(parts['allocated_kb'], '+')}, allocator's free "
        f"{mb(parts['allocator_free_kb'], '+')}, compiled code {mb(parts['jit_code_kb'], '+')}, "
        f"other {mb(parts['other_kb'], '+')})"
    )
    return {"target": target, "measured": measured, "added_bytes": added, "met": added <= MAX_CHAIN_RSS_BYTES}


def busy_samples(samples: dict) -> list:
    """The timed samples taken while other processes kept the machine busy."""
    flagged = [
        {"row": name, "round": s["round"], "busy_other_pct": s["busy_other_pct"]}
        for name, row_samples in samples.items()
        for s in row_samples
        if s["busy_other_pct"] > BUSY_OTHER_PCT
    ]
    return sorted(flagged, key=lambda f: f["round"])


def machine() -> dict:
    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )
    version = subprocess.run([ENVOY, "--version"], capture_output=True, text=True, check=True).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model,
        "kernel": platform.release(),
        "envoy": version.split("version:", 1)[1].strip(),
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [")[0],
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def module_sizes() -> dict:
    return {p.name: p.stat().st_size for p in sorted(WASM_DIR.glob("meshwasm_*.wasm"))}


def command_line(args: argparse.Namespace) -> str:
    rows_flag = f" --rows {','.join(args.rows)}" if args.rows else ""
    output_flag = f" --output {args.output}" if args.output != "docs/benchmarks" else ""
    return (
        f".venv/bin/python tools/bench.py --duration {args.duration} --rounds {args.rounds} "
        f"--connections {args.connections} --warmup {args.warmup}{rows_flag}{output_flag}"
    )


def met_word(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "—"}[met]


def verdict(judged: dict) -> str:
    return f"{judged['measured']} | {met_word(judged['met'])}"


def mb(kb: float | None, sign: str = "") -> str:
    """VmRSS kB (1024 bytes) as MB (10⁶ bytes)."""
    return "—" if kb is None else f"{kb * 1024 / 1e6:{sign}.1f}"


def us(value: float | None, sign: str = "") -> str:
    return "not measured" if value is None else f"{value:{sign}.1f}"


def floor_lines(floor: dict) -> list:
    """The native floor section of the report."""
    lines = [
        "## The native floor",
        "",
        "What a `-dm` row pays before meshwasm does any work (added CPU µs, medians): Envoy's",
        f"dynamic-module filter around a module whose hooks do nothing, `bare-dm`: **{us(floor['bare_dm_us'])}**;",
        f"meshwasm's adapter on top of it (`empty-dm` − `bare-dm`): {us(floor['adapter_us'], '+')}; one update of a",
        f"counter with two labels (`metric-updates-dm` − `empty-dm`, ÷ {PROBE_UPDATES}): {us(floor['metric_update_us'])}",
        "(Envoy turns each label value into a stat name in a per-stream pool and looks the series up",
        "on every update; a filter makes one or two per request, the chain five).",
        "",
        "| row | added CPU µs | over `bare-dm` | Envoy-native equivalent | target (1.5×) |",
        "|---|---:|---:|---|---:|",
    ]
    for r in floor["rows"]:
        native = f"`{r['native']}` {us(r['native_added_cpu_us'])}" if r["native"] else "—"
        lines.append(
            f"| `{r['row']}` | {us(r['added_cpu_us'])} | {us(r['over_bare_us'], '+')} | {native} "
            f"| {us(r['target_us'])} |"
        )
    lines += [
        "",
        "Where `bare-dm` alone comes near a target, no dynamic module can meet it on this machine:",
        "what is left for the filter's work is the target minus the floor.",
    ]
    return lines


def floors_lines(floors: list) -> list:
    """Each Wasm row against its floor and its target's bound."""
    if not floors:
        return []
    lines = [
        "",
        "### The floor under each Wasm row",
        "",
        "`floor-<row>` makes the host calls one request of `<row>` makes, of each kind and in each",
        "phase, from a probe that does nothing else (`tools/host-call-probe`; the calls are counted by",
        "`filters/chain/tests/host_calls.rs` into",
        "[`host-calls.json`](../tools/bench-configs/host-calls.json)): what entering the VM and",
        "those calls cost on this machine, where the row makes them. Above the floor is the guest's",
        "own work and what Envoy does because of it. Where the target's bound is below the floor, no",
        "guest code meets the target here: only fewer host calls would.",
        "",
        "| row | added CPU µs | `empty-wasm` | host calls | floor | above the floor | target's bound | bound − floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in floors:
        lines.append(
            f"| `{f['row']}` | {f['added_cpu_us']:.1f} | {f['empty_wasm_us']:.1f} | {f['host_calls']} "
            f"| {f['floor_us']:.1f} | {f['added_cpu_us'] - f['floor_us']:+.1f} "
            f"| {f['target_us']:.1f} | {f['target_us'] - f['floor_us']:+.1f} |"
        )
    return lines


def markdown(report: dict) -> str:
    m, s, memory = report["machine"], report["settings"], report["memory"]
    took = f"about {report['minutes']:.0f} minutes" if report["minutes"] >= 1.5 else "about a minute"
    lines = [
        "# Benchmarks",
        "",
        "What each meshwasm filter costs per request in a real Envoy, against an empty proxy-wasm",
        "filter and against Envoy's native filters doing the same job; how big its module is; how",
        "much memory it takes. Written by `tools/bench.py`; every sample is in",
        "[`benchmarks.json`](benchmarks.json).",
        "",
        f"Rerun with `make bench`, or (after `make build` and `make envoy`; {took} here):",
        "",
        "```sh",
        report["command"],
        "```",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), Linux {m['kernel']}, Envoy {m['envoy']},",
        f"{m['wrk']}; {m['date']}. The machine is shared and noisy: compare rows with each other,",
        "not with other machines, and see [Load during the samples](#load-during-the-samples).",
        "",
        "## Results",
        "",
        f"Medians of {s['rounds']} rounds, {s['duration_s']} s per sample, {s['connections']} connections.",
        "*added µs* is `(1/rps − 1/rps_baseline) × 10⁶`; *CPU µs* is Envoy's user + system time",
        "during the sample divided by the requests served, and *added CPU µs* that minus the",
        "baseline's. Both are taken against the same round's baseline. CPU time per request barely",
        "moves when other work on the machine takes Envoy's core away; req/s does, so where the two",
        "disagree, trust the CPU columns. RSS is Envoy's (one worker) after the sample; MB are 10⁶ bytes.",
        "",
        "| row | what | req/s (min–max) | × baseline | added µs | CPU µs | added CPU µs "
        "| p50 µs | p99 µs | RSS MB | .wasm KB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["rows"].items():
        r = row["median"]
        size = " + ".join(f"{b / 1000:.0f}" for b in row["wasm_bytes"].values()) or "—"
        lines.append(
            f"| `{name}` | {row['what']} | {r['rps']:,.0f} ({r['rps_min']:,.0f}–{r['rps_max']:,.0f}) "
            f"| {r['ratio']:.2f} | {r['added_us']:.1f} | {r['cpu_us']:.1f} | {r['added_cpu_us']:.1f} "
            f"| {r['p50_us']:.0f} | {r['p99_us']:.0f} | {r['rss_kb'] * 1024 / 1e6:.0f} | {size} |"
        )
    for name, reason in report["skipped"].items():
        lines.append(f"| `{name}` | skipped: {reason} | | | | | | | | | |")
    measured = report["rows"]
    if "chain-1-module" in measured and "chain-4-modules" in measured:
        one, four = (measured[n]["median"]["added_cpu_us"] for n in ("chain-1-module", "chain-4-modules"))
        lines += ["", f"The four filters in one Wasm context add {one:.1f} CPU µs per request; as four modules, {four:.1f}."]

    lines += [
        "",
        "## Against the targets",
        "",
        "Where the time goes, why a target is missed and what would close it:",
        "[performance.md](performance.md).",
        "",
        "### Per request",
        "",
        "What a row adds over `baseline`, median over rounds, on both measures. The targets are",
        "stated on Envoy's CPU time (*added CPU µs*); the column from req/s is judged the same way,",
        "for reference.",
        "",
        "| target | added µs (from req/s) | | added CPU µs | |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {t['target']} | {verdict(t['added_us'])} | {verdict(t['added_cpu_us'])} |" for t in report["targets"]
    ]
    lines += floors_lines(report["host_call_floors"])
    lines += [
        "",
        "### Module size",
        "",
        f"Each filter's module ≤ {MAX_WASM_BYTES:,} bytes, the chain module ≤ {MAX_CHAIN_WASM_BYTES:,} bytes,",
        "as `make build` writes them (release profile, stripped).",
        "",
        "| module | bytes | at most | |",
        "|---|---:|---:|---|",
    ]
    for t in report["size_targets"]:
        limit = f"{t['max_bytes']:,}" if t["max_bytes"] is not None else f"— ({REFERENCE_MODULES[t['module']]})"
        lines.append(f"| `{t['module']}` | {t['bytes']:,} | {limit} | {met_word(t['met'])} |")

    settings = memory["settings"]
    lines += [
        "",
        "### Memory",
        "",
    ]
    if memory["rows"]:
        lines += [
            f"Envoy with {settings['envoy_concurrency']} workers: its VmRSS after the row's checks and"
            f" {settings['seconds']} s of load,",
            f"median of {s['rounds']} rounds; *added* is the median of the differences with the same round's",
            "reference row. MB are 10⁶ bytes.",
            "",
            "Over `empty-wasm`, the RSS a row adds is split four ways (from Envoy's admin `/memory`",
            "and its `smaps`): *live heap*, what Envoy's allocator has handed out and not had back",
            "(V8's data about the module and its instances, the filters' state); *allocator's free*,",
            "memory freed again (mostly by V8 once it compiled the module) that the allocator keeps",
            "for reuse rather than return to the system; *compiled code*, V8's executable pages;",
            "*other*, the rest, mostly the instances' linear memories, which V8 maps itself.",
            "",
            "| row | RSS MB | added over `empty-wasm` MB | live heap | allocator's free | compiled code "
            "| other | added over `baseline` MB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in memory["rows"].items():
            parts = r["parts_added_over_empty_kb"]
            lines.append(
                f"| `{name}` | {mb(r['rss_kb'])} | {mb(r['added_over_empty_kb'], '+')} "
                + "".join(f"| {mb(parts[p], '+')} " for p in MEMORY_PARTS + ["other_kb"])
                + f"| {mb(r['added_over_baseline_kb'], '+')} |"
            )
    else:
        lines.append("Not measured: none of its rows was run.")
    target = memory["target"]
    lines += [
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| {target['target']} | {target['measured']} | {met_word(target['met'])} |",
        "",
        "## Against Envoy's native filters",
        "",
        "For information, not targets: what each meshwasm filter adds next to what the native filter",
        "doing its job adds (median over rounds, µs per request).",
        "",
        "| meshwasm | native | added µs (from req/s) | added CPU µs |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{c['row']}` | `{c['native']}` | {c['added_us']} | {c['added_cpu_us']} |" for c in report["native_comparisons"]
    ]
    lines += [
        "",
        "`metrics` has no native row: Envoy's own stats are always on and cannot be switched off",
        "to measure them.",
        "",
    ]
    lines += floor_lines(report["native_floor"])
    lines += [
        "",
        "## Load during the samples",
        "",
    ]
    load = report["load"]
    if load["busy"]:
        which = ", ".join(f"round {b['round']} `{b['row']}` ({b['busy_other_pct']:.0f}%)" for b in load["busy"])
        lines.append(
            f"**{len(load['busy'])} of {load['samples']} timed samples** were taken on a busy machine (other"
            f" processes kept more than {BUSY_OTHER_PCT:.0f}% of a core busy): {which}. Distrust them."
        )
    else:
        lines.append(
            f"None of the {load['samples']} timed samples was taken on a busy machine (other processes"
            f" never kept more than {BUSY_OTHER_PCT:.0f}% of a core busy)."
        )
    lines += [
        f"Other processes used at most {load['max_busy_other_pct']:.1f}% of a core during a sample"
        f" (median {load['median_busy_other_pct']:.1f}%); the hypervisor stole at most {load['max_steal_pct']:.1f}%.",
        "",
        "## Method",
        "",
        "- One Envoy per row and sample, `--concurrency 1` (one worker), its only routes",
        "  `direct_response` (no upstream), so what a row adds over `baseline` is its filters' cost;",
        "  its connection manager has the secure sidecar settings every shipped config has",
        "  ([hardening.md](hardening.md)). Wasm filters run in V8, each module in its own VM, failing closed, as in",
        "  `envoy-config/four-modules.yaml`; the filter configurations (from `tools/bench-configs/`) are in",
        "  `benchmarks.json`.",
        f"- Load: `wrk -t1 -c{s['connections']}` on loopback with keep-alive; every row gets the same",
        f"  `GET {PATH}` with `x-tenant`, `x-api-key` and an RS256 bearer token (the ES256 row its",
        "  ES256 token). Envoy and wrk are pinned to different cores with `taskset`"
        + ("" if s["pinned"] else " (not here: fewer than two cores)")
        + ". Latencies",
        "  come from wrk's `done` hook (`tools/bench-lua/wrk-report.lua`), which also counts",
        "  answers that are not 2xx or 3xx: any such answer fails the run.",
        "- Before each sample the row is checked to do its job: the benchmark request gets 200 and",
        "  the expected body (for the header-routing rows, the body of the route their header",
        "  selects; for the others, the plain body); auth rows answer 401 without credentials, to",
        "  an unknown key and to a forged token; the filters' counters moved. Then a warm-up of"
        f" {s['warmup_s']} s",
        "  (V8 optimizes the hot code; the JWT rows' one token is verified once and then served from",
        "  the verified-token cache, so those rows measure a **warm cache**; `native-jwt-authn` has",
        "  its `jwt_cache_config` on too), then the measured sample, then Envoy's VmRSS.",
        "- Rounds interleave the rows (every row once, then every row again), so a machine that",
        "  slows down mid-run slows a round's rows alike; each round starts further along the list,",
        "  so no row always runs early or late in a round.",
        "- `empty-wasm` is `meshwasm_empty_filter.wasm` (`tools/empty-filter`, built by `make build`):",
        "  a root context and an HTTP context from the proxy-wasm Rust SDK with every callback left at",
        "  the SDK's default, so it measures what any proxy-wasm filter costs before doing any work.",
        "  The targets are stated against it. `trivial-wasm` is `meshwasm_rate_limit.wasm` with",
        "  `{\"rules\": []}`: meshwasm's adapter around a stage with nothing to do.",
        "- Per-request targets compare two rows' medians of what they add over `baseline`:",
        "  `≤ ref + N µs` is met when the row adds at most N µs more than `ref`, `≤ N× what ref adds`",
        "  when it adds at most N times as much. Module sizes are those of the `.wasm` files in",
        "  `MESHWASM_WASM_DIR` (`target/wasm32-wasip1/release`).",
        "- Memory is measured apart, untimed, after the timed rounds, for each of",
        "  " + ", ".join(f"`{n}`" for n in MEMORY_ROWS) + ":",
        f"  one Envoy with `--concurrency {settings['envoy_concurrency']}` (nothing pinned), the row's checks, then"
        f" `wrk -t1 -c{settings['connections']} -d{settings['seconds']}s`,",
        "  which must have reached both workers (each worker's listener counted connections), so both",
        "  workers' VMs exist and have served requests; then Envoy's VmRSS. Rounds interleave the rows.",
        "- Load check: around each timed sample, the busy time of all cores (`/proc/stat`: user,",
        "  nice, system, irq, softirq) less Envoy's CPU time (`/proc/PID/stat`), wrk's (its rusage",
        "  once reaped) and `tools/bench.py`'s own is what other processes used; over the sample's",
        "  wall time, in % of one core, it is each sample's `busy_other_pct` in `benchmarks.json`",
        "  (`steal_pct` beside it: the time the hypervisor took from the cores). The kernel samples",
        "  the cores' busy time at each clock tick, so a quiet machine reads a few % either side of 0.",
        f"  A sample above {BUSY_OTHER_PCT:.0f}% is warned about during the run and listed above; its req/s is",
        "  the first number to distrust.",
        "- `native-header-routing` matches in the route table (ten routes on `x-tenant`, the",
        "  request matching the last) and sets the header with `header_mutation`'s per-route",
        "  config; `header-router` matches ten rules in Wasm, sets the header, and Envoy re-picks",
        "  the route. `native-lua-api-key` is `tools/bench-lua/api-key.lua`.",
    ]
    return "\n".join(lines) + "\n"


# --- main -------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=int(env("BENCH_DURATION", "5")), help="seconds per sample")
    parser.add_argument("--rounds", type=int, default=int(env("BENCH_ROUNDS", "3")))
    parser.add_argument("--connections", type=int, default=int(env("BENCH_CONNECTIONS", "16")))
    parser.add_argument(
        "--warmup", type=int, default=int(env("BENCH_WARMUP", "2")), help="seconds before each sample (0: none)"
    )
    parser.add_argument("--rows", default=env("BENCH_ROWS", ""), help="comma-separated row names (baseline always runs)")
    parser.add_argument("--output", default="docs/benchmarks", help="writes OUTPUT.md and OUTPUT.json")
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: write OUTPUT.md again from OUTPUT.json's samples (after a change to this script's judging or page)",
    )
    args = parser.parse_args()
    args.rows = [r for r in args.rows.split(",") if r]
    if min(args.duration, args.rounds, args.connections) < 1 or args.warmup < 0:
        parser.error("--duration, --rounds and --connections must be at least 1, --warmup at least 0")
    return args


def judge_report(report: dict) -> None:
    """Fills in everything a report derives from its measurements: the
    memory rows' medians and parts (from their samples), the targets, the
    floors and the comparisons. The timed rows' medians are already in it."""
    summary = {name: row["median"] for name, row in report["rows"].items()}
    memory_samples = {name: row["samples"] for name, row in report["memory"]["rows"].items()}
    memory = summarize_memory(memory_samples)
    report["memory"]["rows"] = {name: dict(memory[name], samples=memory_samples[name]) for name in memory_samples}
    report["memory"]["target"] = memory_target(memory)
    report["targets"] = targets(summary)
    report["size_targets"] = size_targets(report["module_sizes"])
    report["native_comparisons"] = native_comparisons(summary)
    report["native_floor"] = native_floor(summary)
    report["host_call_floors"] = host_call_floors(summary)


def write_report(output: Path, report: dict) -> str:
    """Writes OUTPUT.json and OUTPUT.md; returns the page."""
    output.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    Path(f"{output}.json").write_text(json.dumps(report, indent=1) + "\n")
    Path(f"{output}.md").write_text(text)
    return text


def render(args: argparse.Namespace) -> None:
    """OUTPUT.md again from OUTPUT.json: the samples as measured, everything
    derived from them (targets, floors, memory parts) computed anew."""
    output = ROOT / args.output
    report = json.loads(Path(f"{output}.json").read_text())
    judge_report(report)
    write_report(output, report)
    print(f"wrote {args.output}.md from {args.output}.json")


def main() -> None:
    args = parse_args()
    if args.render:
        render(args)
        return
    # Killed (say, make interrupted): unwind, so the running Envoy is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    ensure_wrk()
    if not shutil.which(ENVOY):
        sys.exit(f"tools/bench.py: no Envoy at {ENVOY}: run `make envoy` or set ENVOY")
    all_rows = rows()
    unknown = set(args.rows) - {r.name for r in all_rows}
    if unknown:
        sys.exit(f"tools/bench.py: unknown rows {sorted(unknown)}; rows are: {', '.join(r.name for r in all_rows)}")
    chosen = [r for r in all_rows if r.name == "baseline" or not args.rows or r.name in args.rows]

    skipped, selected = {}, []
    for row in chosen:
        missing = [m for m in row.modules + row.libraries if not m.exists()]
        if row.rate_limit_service and not (RateLimitService.BINARY.exists() and shutil.which("redis-server")):
            skipped[row.name] = "the example rate limit service or redis-server is missing (`make ratelimit-service`)"
            print(f"skipping {row.name}: {skipped[row.name]}", flush=True)
        elif missing and row.optional:
            skipped[row.name] = f"`{missing[0].name}` not built"
            print(f"skipping {row.name}: {skipped[row.name]}", flush=True)
        elif missing:
            sys.exit(f"tools/bench.py: {missing[0]} is missing: run `make build` (and `make native`)")
        else:
            selected.append(row)

    if any(row.rate_limit_service for row in selected):
        # Stopped at exit, however the run ends.
        atexit.register(RateLimitService().__enter__().__exit__)

    samples = {row.name: [] for row in selected}
    for rnd in range(1, args.rounds + 1):
        for row in rotated(selected, rnd, args.rounds):
            result = sample(row, args, rnd)
            samples[row.name].append(result)
            print(
                f"round {rnd}/{args.rounds} {row.name:24} {result['rps']:>10,.0f} req/s"
                f"  CPU {result['cpu_us']:6.1f} µs/req"
                f"  p50 {result['latency_us']['p50']:>6} µs  p99 {result['latency_us']['p99']:>6} µs"
                f"  RSS {result['rss_kb'] * 1024 / 1e6:.0f} MB  other {result['busy_other_pct']:4.1f}% of a core",
                flush=True,
            )

    # Memory, apart and untimed: two workers each, interleaved rounds.
    memory_rows = sorted((row for row in selected if row.name in MEMORY_ROWS), key=lambda r: MEMORY_ROWS.index(r.name))
    memory_samples = {row.name: [] for row in memory_rows}
    for rnd in range(1, args.rounds + 1):
        for row in memory_rows:
            result = memory_sample(row, args, rnd)
            memory_samples[row.name].append(result)
            print(
                f"memory {rnd}/{args.rounds} {row.name:23} RSS {result['rss_kb'] * 1024 / 1e6:6.1f} MB"
                f" with {MEMORY_CONCURRENCY} workers ({result['requests']:,} requests,"
                f" connections per worker {result['connections_per_worker']})",
                flush=True,
            )

    summary = summarize(samples)
    all_samples = [x for row_samples in samples.values() for x in row_samples]
    report = {
        "command": command_line(args),
        "minutes": (time.monotonic() - started) / 60,
        "machine": machine(),
        "settings": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "connections": args.connections,
            "warmup_s": args.warmup,
            "envoy_concurrency": 1,
            "pinned": bool(cpus()[0]),
        },
        "rows": {
            row.name: {
                "what": row.what,
                "wasm_bytes": {m.name: m.stat().st_size for m in row.modules},
                "http_filters": row.http_filters,
                "median": summary[row.name],
                "samples": samples[row.name],
            }
            for row in selected
        },
        "skipped": skipped,
        "module_sizes": module_sizes(),
        "memory": {
            "settings": {
                "envoy_concurrency": MEMORY_CONCURRENCY,
                "seconds": MEMORY_SECONDS,
                "connections": max(args.connections, MEMORY_MIN_CONNECTIONS),
            },
            "rows": {name: {"samples": memory_samples[name]} for name in memory_samples},
        },
        "load": {
            "busy_other_pct_over": BUSY_OTHER_PCT,
            "samples": len(all_samples),
            "busy": busy_samples(samples),
            "max_busy_other_pct": max(x["busy_other_pct"] for x in all_samples),
            "median_busy_other_pct": statistics.median(x["busy_other_pct"] for x in all_samples),
            "max_steal_pct": max(x["steal_pct"] for x in all_samples),
        },
    }
    judge_report(report)
    text = write_report(ROOT / args.output, report)
    print(text.split("## Method")[0])
    print(f"wrote {args.output}.md and {args.output}.json")


if __name__ == "__main__":
    main()
