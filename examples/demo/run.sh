#!/usr/bin/env bash
# The meshwasm chain demo: the four filters as one module
# (envoy-config/chain.yaml) in one Envoy in front of the echo service, with
# example requests and what came back.
#
#   make demo-chain                      # builds everything, then runs this
#   DEMO_INTERACTIVE=0 make demo-chain   # run the requests and exit
#
# Ports: echo 127.0.0.1:8081, Envoy listener 127.0.0.1:10000, admin 9901.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
envoy=${ENVOY:-$root/.venv/bin/envoy}
echo_bin=$root/target/release/meshwasm-echo
state=$root/.demo
mkdir -p "$state"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Sends a request with curl, then prints the status line and the body
# (pretty when it is JSON).
request() {
  printf '$ curl %s\n' "${*@Q}"
  curl -sS -D "$state/headers" -o "$state/body" "$@"
  grep -iE '^(HTTP/|www-authenticate|retry-after|x-ratelimit|ratelimit|x-routed-by)' "$state/headers"
  jq . "$state/body" 2>/dev/null || cat "$state/body"
}

for port in 8081 9901 10000; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; stop whatever listens there first" >&2
    exit 1
  fi
done

"$echo_bin" --listen 127.0.0.1:8081 --name backend >"$state/echo.log" 2>&1 &
pids+=($!)
"$envoy" -c envoy-config/chain.yaml --concurrency 2 --use-dynamic-base-id \
  --disable-hot-restart >"$state/envoy.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 300); do
  if curl -fsS http://127.0.0.1:9901/ready >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[1]}" 2>/dev/null; then
    echo "demo: Envoy exited; its log:" >&2
    cat "$state/envoy.log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS http://127.0.0.1:9901/ready >/dev/null

step "Envoy $("$envoy" --version | sed -n 's/.*version: [^/]*\/\([^/]*\)\/.*/\1/p') is up with the meshwasm filters, in order:"
curl -fsS http://127.0.0.1:9901/config_dump |
  jq -r '.configs[] | select(."@type" | endswith("ListenersConfigDump")) |
         .static_listeners[].listener.filter_chains[].filters[].typed_config.http_filters[] |
         "  " + .name + (if .typed_config.config.vm_config then "  (" + (.typed_config.config.vm_config.code.local.filename) + ")" else "" end)'

step "Each module configured itself (Envoy's log):"
grep -o 'meshwasm [a-z-]*: .*' "$state/envoy.log" | awk '!seen[$0]++ { print "  " $0 }'

step "Without credentials, the auth filter answers 401 with a challenge:"
request http://127.0.0.1:10000/orders

step "With alice's API key the request goes through all four filters to the echo service, which answers with what reached it (note x-meshwasm-consumer):"
request -X POST 'http://127.0.0.1:10000/orders?id=7' -H 'x-api-key: alice-demo-key' -H 'content-type: text/plain' -d 'two coffees'

step "A client cannot name itself: its own x-meshwasm-consumer is replaced by the authenticated one"
request http://127.0.0.1:10000/whoami -H 'x-api-key: bob-demo-key' -H 'x-meshwasm-consumer: admin'

step "bob may make 5 requests a minute; the rate-limit filter answers the rest with 429 (one already went above):"
for i in 2 3 4 5; do
  printf '  request %s: %s\n' "$i" "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:10000/orders -H 'x-api-key: bob-demo-key')"
done
request http://127.0.0.1:10000/orders -H 'x-api-key: bob-demo-key'

step "A beta tester (x-beta: 1) is sent to the canary: the header router writes x-route-version: v2 for Envoy's route table (the full two-version mesh comes with the mesh demo):"
request http://127.0.0.1:10000/catalog -H 'x-api-key: alice-demo-key' -H 'x-beta: 1'

step "Health checks are anonymous by rule:"
request http://127.0.0.1:10000/healthz

step "What the filters counted, at /stats/prometheus:"
curl -fsS http://127.0.0.1:9901/stats/prometheus | grep '^meshwasm_' | grep -v -e '_bucket{' -e '_sum{' | sed 's/^/  /'

step "Envoy's own counters for the listener:"
curl -fsS 'http://127.0.0.1:9901/stats?filter=^http\.ingress\.downstream_rq_[2-5]xx$' | sed 's/^/  /'

if [[ "${DEMO_INTERACTIVE:-auto}" == 1 || ("${DEMO_INTERACTIVE:-auto}" == auto && -t 0 && -t 1) ]]; then
  step "Try it yourself: curl http://127.0.0.1:10000/anything  (admin: http://127.0.0.1:9901). Ctrl-C stops everything."
  wait "${pids[1]}"
fi
