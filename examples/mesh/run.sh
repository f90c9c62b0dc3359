#!/usr/bin/env bash
# The meshwasm demo mesh, on loopback and without Docker: a frontend and two
# backend instances (v1, v2), each behind its own Envoy sidecar, with mTLS
# between the sidecars and the meshwasm filters in them. A guided tour
# sends real requests and checks every answer.
#
#   make demo                    # builds everything, runs the tour, keeps the mesh up until Ctrl-C
#   DEMO_INTERACTIVE=0 make demo # runs the tour and exits (what the e2e test does)
#
# Ports: MESH_PORT (default 18000) is the frontend sidecar's inbound
# listener, where the tour sends its requests; the rest follow from it.
#
#   examples/mesh/run.sh --render-compose   # only writes certificates and
#       sidecar configs for examples/docker-compose.yaml, under .demo/compose
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/examples/mesh
envoy=${ENVOY:-$root/.venv/bin/envoy}
echo_bin=$root/target/release/meshwasm-echo
rls_bin=$root/target/debug/meshwasm-ratelimit-service
state=${MESH_STATE:-$root/.demo/mesh}
base=${MESH_PORT:-18000}

export WASM_DIR=$root/target/wasm32-wasip1/release CERTS=$state/certs
export LISTEN=127.0.0.1 HOST_FRONTEND=127.0.0.1 HOST_V1=127.0.0.1 HOST_V2=127.0.0.1 HOST_RLS=127.0.0.1
render_only=false
if [[ ${1:-} == --render-compose ]]; then
  # Containers: each sidecar shares its app's network namespace; sidecars
  # reach each other by service name; files are mounted under /meshwasm.
  render_only=true
  state=$root/.demo/compose
  export CERTS=$state/certs LISTEN=0.0.0.0 HOST_V1=backend-v1 HOST_V2=backend-v2 HOST_RLS=ratelimit
  export WASM_DIR=/meshwasm/wasm
fi
export PORT_IN=$base PORT_OUT=$((base + 1))
export APP_FRONTEND=$((base + 100)) APP_V1=$((base + 101)) APP_V2=$((base + 102))
export PORT_V1=$((base + 201)) PORT_V2=$((base + 202))
export PORT_RLS=$((base + 301)) PORT_REDIS=$((base + 300))
export ADMIN_FRONTEND=$((base + 900)) ADMIN_V1=$((base + 901)) ADMIN_V2=$((base + 902))
front=http://127.0.0.1:$PORT_IN

rm -rf "$state"
mkdir -p "$CERTS"

pids=()
declare -A pid_of
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Redis's answer to PING on the demo's port, if any.
redis_ping() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT_REDIS" && printf 'PING\r\n' >&3 && timeout 1 head -c 5 <&3) 2>/dev/null || true; }
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() {
  printf '\nTOUR FAILED: %s\n' "$*" >&2
  for log in "$state"/*.log; do printf '\n--- %s (last lines) ---\n' "$log" >&2; tail -n 15 "$log" >&2; done
  exit 1
}
start() { # name, log, command...
  local name=$1 log=$2
  shift 2
  "$@" >"$state/$log" 2>&1 &
  pids+=($!)
  pid_of[$name]=$!
}

ports=$($render_only || echo $PORT_IN $PORT_OUT $APP_FRONTEND $APP_V1 $APP_V2 $PORT_V1 $PORT_V2 $ADMIN_FRONTEND $ADMIN_V1 $ADMIN_V2 $PORT_REDIS $PORT_RLS)
for port in $ports; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; stop whatever listens there or set MESH_PORT" >&2
    exit 1
  fi
done

bold "Identities: a local CA, and SPIFFE IDs for the frontend, the backends and an intruder"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=meshwasm demo CA" -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" 2>/dev/null
for id in frontend backend intruder; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$id" \
    -keyout "$CERTS/$id.key" -out "$CERTS/$id.csr" 2>/dev/null
  printf 'subjectAltName=URI:spiffe://meshwasm.local/ns/demo/sa/%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$id" >"$CERTS/$id.ext"
  openssl x509 -req -in "$CERTS/$id.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial \
    -days 1 -extfile "$CERTS/$id.ext" -out "$CERTS/$id.pem" 2>/dev/null
  echo "  spiffe://meshwasm.local/ns/demo/sa/$id"
done

# One stats tag per meshwasm metric label (see docs/filters/metrics.md, "Labels in Envoy and Istio").
STATS_TAGS=$(for l in method code code_class route cluster consumer label_name rule decision reason target outcome; do
  printf '    - { tag_name: %s, regex: "(%s=\\\\.=(.*?);\\\\.;)" }\n' "$l" "$l"; done)
export STATS_TAGS
vars='${WASM_DIR} ${CERTS} ${LISTEN} ${HOST_FRONTEND} ${HOST_V1} ${HOST_V2} ${HOST_RLS} ${PORT_RLS} ${PORT_IN} ${PORT_OUT} ${APP_FRONTEND} ${PORT_V1} ${PORT_V2} ${ADMIN_FRONTEND} ${STATS_TAGS} ${NAME} ${PORT} ${APP} ${HOST_APP} ${ADMIN}'
certs_in_config=$CERTS
$render_only && export CERTS=/meshwasm/certs
envsubst "$vars" <"$here/frontend-sidecar.yaml" >"$state/frontend-sidecar.yaml"
NAME=backend-v1 PORT=$PORT_V1 APP=$APP_V1 HOST_APP=127.0.0.1 ADMIN=$ADMIN_V1 envsubst "$vars" <"$here/backend-sidecar.yaml" >"$state/backend-v1-sidecar.yaml"
NAME=backend-v2 PORT=$PORT_V2 APP=$APP_V2 HOST_APP=127.0.0.1 ADMIN=$ADMIN_V2 envsubst "$vars" <"$here/backend-sidecar.yaml" >"$state/backend-v2-sidecar.yaml"
export CERTS=$certs_in_config
if $render_only; then
  # The official Envoy image's entrypoint drops to its user envoy (uid 101,
  # gid 101), and a bind mount keeps the host's owners and modes, so the
  # sidecars read only what any user may read (handing the files to group
  # 101 would need root on the host). These are throwaway demo identities
  # (a CA made by this run, valid for a day, trusted by nothing else), so
  # the sidecars' two keys are made world-readable here; the CA's key, which
  # no sidecar reads, stays 0600, and the local mesh keeps every key 0600.
  # Modes are set outright so a strict umask cannot hide a file either.
  # examples/mesh/check-compose.sh checks that uid 101 can read it all.
  chmod 0755 "$state" "$CERTS"
  chmod 0644 "$state"/*.yaml "$CERTS"/*.pem "$CERTS/frontend.key" "$CERTS/backend.key"
  echo "Wrote $state: run 'docker compose -f examples/docker-compose.yaml up' from the repository root."
  exit 0
fi

bold "Starting Redis and the rate limit service the backends' sidecars share"
start redis redis.log redis-server --bind 127.0.0.1 --port "$PORT_REDIS" --save '' --appendonly no
for _ in $(seq 1 100); do
  [[ $(redis_ping) == +PONG* ]] && break
  sleep 0.1
done
[[ $(redis_ping) == +PONG* ]] || fail "redis-server did not start"
start ratelimit ratelimit.log "$rls_bin" --listen "127.0.0.1:$PORT_RLS" \
  --redis "redis://127.0.0.1:$PORT_REDIS" --limits "$here/limits.yaml"
echo "  redis :$PORT_REDIS, rate limit service :$PORT_RLS (limits: examples/mesh/limits.yaml)"

bold "Starting three services and their sidecars"
start backend-v1 backend-v1.log "$echo_bin" --listen "127.0.0.1:$APP_V1" --name backend-v1
start backend-v2 backend-v2.log "$echo_bin" --listen "127.0.0.1:$APP_V2" --name backend-v2
start frontend frontend.log "$echo_bin" --listen "127.0.0.1:$APP_FRONTEND" --name frontend --forward "127.0.0.1:$PORT_OUT"
for sidecar in frontend backend-v1 backend-v2; do
  start "$sidecar-sidecar" "$sidecar-sidecar.log" "$envoy" -c "$state/$sidecar-sidecar.yaml" \
    --concurrency 2 --use-dynamic-base-id --disable-hot-restart
done
for admin in $ADMIN_FRONTEND $ADMIN_V1 $ADMIN_V2; do
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$admin/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$admin/ready" >/dev/null 2>&1 || fail "the sidecar with admin port $admin did not start"
done
echo "  frontend  app :$APP_FRONTEND  sidecar in :$PORT_IN out :$PORT_OUT  (chain module: metrics, auth, rate-limit | header-router)"
echo "  backend-v1 app :$APP_V1  sidecar :$PORT_V1 (mTLS, chain module: metrics, global rate limit)"
echo "  backend-v2 app :$APP_V2  sidecar :$PORT_V2 (mTLS, chain module: metrics, global rate limit)"

# Sends a request to the frontend, shows it, checks the status; the body is
# left in $state/body.
call() { # expected status, curl arguments...
  local want=$1
  shift
  printf '$ curl %s\n' "${*@Q}"
  local got
  got=$(curl -sS -o "$state/body" -D "$state/headers" -w '%{http_code}' "$@") || fail "curl failed"
  grep -iE '^(HTTP/|www-authenticate|retry-after|x-ratelimit-remaining)' "$state/headers" | sed 's/^/  /'
  [[ $got == "$want" ]] || fail "expected $want, got $got: $(cat "$state/body")"
}
# The backend that answered the last call.
served_by() { jq -r '.upstream.upstream // empty' "$state/body"; }
# Makes N calls to PATH as alice, each expected to pass; sets $seen to the
# backends that served them, and fails unless both did.
calls_reach_both() { # path, n
  seen=""
  for _ in $(seq 1 "$2"); do
    call 200 "$front$1" -H 'x-api-key: alice-demo-key' >/dev/null
    seen+="$(served_by) "
  done
  [[ $seen == *backend-v1* && $seen == *backend-v2* ]] || fail "calls to $1 did not reach both backends: $seen"
}

bold "1. No credentials: the frontend's sidecar answers 401"
call 401 "$front/orders"
jq -c . "$state/body"

bold "2. With alice's API key: frontend → its sidecar → mTLS → a backend sidecar → the backend"
call 200 "$front/orders" -H 'x-api-key: alice-demo-key'
jq '{service, reached: .upstream.upstream, consumer: .upstream.headers["x-meshwasm-consumer"]}' "$state/body"
[[ $(jq -r '.upstream.headers["x-meshwasm-consumer"]' "$state/body") == alice ]] || fail "the consumer did not reach the backend"

bold "3. Round robin over the two backend instances"
calls_reach_both /orders 4
echo "  served by: $seen"

bold "4. A beta tester's header makes the header router send every call to v2"
for _ in 1 2 3; do
  call 200 "$front/catalog" -H 'x-api-key: alice-demo-key' -H 'x-beta: 1' >/dev/null
  [[ $(served_by) == backend-v2 ]] || fail "x-beta: 1 reached $(served_by)"
done
echo "  3 of 3 served by backend-v2"

bold "5. bob may make 3 calls a minute: the 4th gets 429"
for _ in 1 2 3; do call 200 "$front/orders" -H 'x-api-key: bob-demo-key' >/dev/null; done
call 429 "$front/orders" -H 'x-api-key: bob-demo-key'
jq -c . "$state/body"

bold "6. A limit two sidecars share: 4 calls a minute to /reports per consumer, across both backends"
calls_reach_both /reports 4
echo "  4 calls served by: $seen(each backend's sidecar saw only some; the service counted all)"
call 429 "$front/reports" -H 'x-api-key: alice-demo-key'
jq -c . "$state/body"
for admin in $ADMIN_V1 $ADMIN_V2; do
  curl -fsS "http://127.0.0.1:$admin/stats/prometheus" | grep -E '^meshwasm_ratelimit_service_calls_total' | sed "s/^/  sidecar :$admin  /"
done

bold "7. Only the frontend's identity may call a backend: a client with the intruder's certificate is refused"
printf '$ curl --cert intruder.pem https://127.0.0.1:%s/orders\n' "$PORT_V1"
if curl -sS -k --cert "$CERTS/intruder.pem" --key "$CERTS/intruder.key" \
  "https://127.0.0.1:$PORT_V1/orders" -o /dev/null 2>"$state/intruder.err"; then
  fail "the intruder got through"
fi
echo "  refused: $(head -c 120 "$state/intruder.err")"
printf '$ curl --cert frontend.pem https://127.0.0.1:%s/orders\n' "$PORT_V1"
code=$(curl -sS -k --cert "$CERTS/frontend.pem" --key "$CERTS/frontend.key" \
  -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT_V1/orders") || fail "the frontend's identity was refused"
echo "  the frontend's identity: $code"

bold "8. backend-v1 dies; retries and outlier detection keep every call succeeding"
kill "${pid_of[backend-v1]}"
for i in 1 2 3 4 5 6; do
  call 200 "$front/orders" -H 'x-api-key: alice-demo-key' >/dev/null
  echo "  call $i served by $(served_by)"
  [[ $(served_by) == backend-v2 ]] || fail "a call was served by $(served_by)"
done
ejections=$(curl -fsS "http://127.0.0.1:$ADMIN_FRONTEND/stats?filter=cluster.backend.outlier_detection.ejections_enforced_total" | awk '{print $2}')
retries=$(curl -fsS "http://127.0.0.1:$ADMIN_FRONTEND/stats?filter=cluster.backend.upstream_rq_retry$" | awk '{print $2}')
echo "  outlier ejections: $ejections, retries: $retries"

bold "9. What the sidecars measured (meshwasm metrics at /stats/prometheus)"
echo "  frontend sidecar:"
curl -fsS "http://127.0.0.1:$ADMIN_FRONTEND/stats/prometheus" |
  grep -E '^meshwasm_(requests_total|auth_requests_total|ratelimit_requests_total)' | sed 's/^/    /'
echo "  backend-v2 sidecar:"
curl -fsS "http://127.0.0.1:$ADMIN_V2/stats/prometheus" | grep -E '^meshwasm_requests_total' | sed 's/^/    /'
metrics=$(curl -fsS "http://127.0.0.1:$ADMIN_FRONTEND/stats/prometheus")
[[ $metrics == *'meshwasm_requests_total{method="GET",code="429"'* ]] || fail "the 429 is not in the frontend's metrics"

bold "Tour complete: every step answered as expected."
if [[ "${DEMO_INTERACTIVE:-auto}" == 1 || ("${DEMO_INTERACTIVE:-auto}" == auto && -t 0 && -t 1) ]]; then
  echo "The mesh keeps running: curl $front/orders -H 'x-api-key: alice-demo-key'. Ctrl-C stops every process."
  wait
fi
