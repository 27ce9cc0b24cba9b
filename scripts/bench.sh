#!/usr/bin/env bash
# `make bench` side by side: ONE demo upstream, TWO Envoys (bare, and with the llmfw filter + the
# state service), each driven by wrk over loopback for a bounded time on four workloads:
#   chat_4k         4 KB chat request (text answer)
#   transcript_64k  64 KB agent transcript with 20 tool results; the last result is new on every
#                   request (an agent loop: the history is resent, the scan cache knows it)
#   tool_call       response proposing one tool call (one Evaluate callout per request)
#   stream          streamed (SSE) text response
# Prints req/s (filter / bare) with CONNECTIONS connections (throughput), p50 and p99 latency with
# one connection (no queueing: the latency one request sees) and the added latency, and Envoy RSS
# with and without the filter. Environment: DURATION (s per throughput run, default 10),
# LATENCY_DURATION (s per one-connection run, default 5), CONNECTIONS (default 8), DATABASE_URL
# (state service store; default SQLite in .run/bench), ENVOY_CONCURRENCY (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION="${DURATION:-10}"
LATENCY_DURATION="${LATENCY_DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-8}"
ENVOY_CONCURRENCY="${ENVOY_CONCURRENCY:-1}"
OUT=.run/bench
mkdir -p "$OUT"
rm -f "$OUT"/state.db*
DATABASE_URL="${DATABASE_URL:-sqlite://$OUT/state.db}"

# Ports apart from `make run` (10000/18080/50051/9901/9090) so both can run at once.
UP=18180 BARE=10100 BARE_ADMIN=9911 FW=10200 FW_ADMIN=9921 STATE=50151 STATE_ADMIN=9191

if ! command -v wrk >/dev/null; then
  echo "==> installing wrk (Debian package)"
  apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null
fi
scripts/ensure-tools.sh
echo "==> building (release state service and upstream, wasm filter)"
cargo build -q --release -p llmfw-state -p llmfw-tests --bin llmfw-state --bin llmfw-demo-upstream
cargo build -q -p llmfw-filter --target wasm32-wasip1 --profile wasm

pids=()
cleanup() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

wait_http() { # name url
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "error: $1 did not become ready ($2); see $OUT/*.log" >&2
  exit 1
}

# The filter's Envoy: envoy/envoy.yaml with this script's ports and an absolute wasm path.
sed -e "s/port_value: 9901/port_value: $FW_ADMIN/" -e "s/port_value: 10000/port_value: $FW/" \
  -e "s/port_value: 18080/port_value: $UP/" -e "s/port_value: 50051/port_value: $STATE/" \
  -e "s#filename: target/#filename: $ROOT/target/#" envoy/envoy.yaml >"$OUT/envoy-filter.yaml"
# Bare Envoy: the same listener, route and upstream cluster, no llmfw filters.
cat >"$OUT/envoy-bare.yaml" <<YAML
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: $BARE_ADMIN } }
static_resources:
  listeners:
    - name: llm_ingress
      address: { socket_address: { address: 127.0.0.1, port_value: $BARE } }
      per_connection_buffer_limit_bytes: 2097152
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: llm_ingress
                generate_request_id: true
                route_config:
                  virtual_hosts:
                    - name: llm
                      domains: ["*"]
                      routes: [{ match: { prefix: "/" }, route: { cluster: llm_upstream, timeout: 300s } }]
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: llm_upstream
      type: STATIC
      connect_timeout: 2s
      per_connection_buffer_limit_bytes: 2097152
      load_assignment:
        cluster_name: llm_upstream
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP } } } }] }]
YAML

echo "==> demo upstream :$UP, state service :$STATE ($(echo "$DATABASE_URL" | sed 's#//.*@#//…@#')), envoy bare :$BARE, envoy+filter :$FW"
target/release/llmfw-demo-upstream --listen 127.0.0.1:$UP >"$OUT/upstream.log" 2>&1 &
pids+=($!)
target/release/llmfw-state --database-url "$DATABASE_URL" --listen 127.0.0.1:$STATE \
  --admin-listen 127.0.0.1:$STATE_ADMIN >"$OUT/state.log" 2>&1 &
pids+=($!)
.venv/bin/envoy -c "$OUT/envoy-bare.yaml" --disable-hot-restart --concurrency "$ENVOY_CONCURRENCY" -l warn >"$OUT/envoy-bare.log" 2>&1 &
BARE_PID=$!
pids+=($BARE_PID)
.venv/bin/envoy -c "$OUT/envoy-filter.yaml" --disable-hot-restart --concurrency "$ENVOY_CONCURRENCY" -l warn >"$OUT/envoy-filter.log" 2>&1 &
FW_PID=$!
pids+=($FW_PID)
wait_http "demo upstream" http://127.0.0.1:$UP/healthz
wait_http "state service" http://127.0.0.1:$STATE_ADMIN/readyz
wait_http "envoy bare" http://127.0.0.1:$BARE_ADMIN/ready
wait_http "envoy filter" http://127.0.0.1:$FW_ADMIN/ready

# Request bodies (the same shapes as filter/core/benches/bodies.rs).
python3 scripts/bench/bodies.py "$OUT"

run() { # connections seconds port workload → "req/s p50_ms p99_ms non2xx socket_errors"
  wrk -t1 -c"$1" -d"$2s" -s scripts/bench/post.lua "http://127.0.0.1:$3/v1/chat/completions" \
    -- "$OUT/$4.json" 2>&1 | awk '/^RESULT/ {print $2, $3, $4, $5, $6}'
}
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

echo "==> warm-up"
for p in $BARE $FW; do
  run "$CONNECTIONS" 2 "$p" chat_4k >/dev/null
done
date_utc="$(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "req/s: wrk -t1 -c$CONNECTIONS -d${DURATION}s; latency: wrk -t1 -c1 -d${LATENCY_DURATION}s; envoy --concurrency $ENVOY_CONCURRENCY, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $date_utc"
printf '| workload | bare req/s | filter req/s | ratio | bare p50 ms | filter p50 ms | added p50 ms | bare p99 ms | filter p99 ms | added p99 ms |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for w in chat_4k transcript_64k tool_call stream; do
  read -r b_rps _ _ b_bad b_err <<<"$(run "$CONNECTIONS" "$DURATION" $BARE $w)"
  read -r f_rps _ _ f_bad f_err <<<"$(run "$CONNECTIONS" "$DURATION" $FW $w)"
  read -r _ b_p50 b_p99 _ _ <<<"$(run 1 "$LATENCY_DURATION" $BARE $w)"
  read -r _ f_p50 f_p99 _ _ <<<"$(run 1 "$LATENCY_DURATION" $FW $w)"
  awk -v w="$w" -v br="$b_rps" -v fr="$f_rps" -v b5="$b_p50" -v f5="$f_p50" -v b9="$b_p99" -v f9="$f_p99" \
    'BEGIN { printf "| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %+.2f | %.2f | %.2f | %+.2f |\n", w, br, fr, fr / br, b5, f5, f5 - b5, b9, f9, f9 - b9 }'
  if [ "${b_bad:-0}${b_err:-0}${f_bad:-0}${f_err:-0}" != "0000" ]; then
    echo "  ($w: non-2xx bare=$b_bad filter=$f_bad, socket errors bare=$b_err filter=$f_err)"
  fi
done
echo
echo "Envoy RSS: bare $(rss_mb $BARE_PID) MB, with filter $(rss_mb $FW_PID) MB"
echo "Filter counters: $(curl -s http://127.0.0.1:$FW_ADMIN/stats | grep -E 'wasmcustom.llmfw.(callout.sent|callout.failure|decision.allow|request.invalid)' | tr '\n' ' ')"
