#!/usr/bin/env bash
# `make run`: the whole stack on the embedded SQLite default, then the demo scenarios, then serve
# until Ctrl-C. Logs are in .run/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run
rm -f .run/llmfw-state.db .run/llmfw-state.db-wal .run/llmfw-state.db-shm
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

wait_http() { # name url
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "error: $1 did not become ready ($2); see .run/*.log" >&2
  exit 1
}

# A fresh admin token per run (the dashboard's login and the /v1 admin API), readable only by you.
rm -f .run/admin-token
(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >.run/admin-token)
echo "==> state service on 127.0.0.1:50051 (SQLite .run/llmfw-state.db, admin 127.0.0.1:9090)"
target/debug/llmfw-state --database-url sqlite://.run/llmfw-state.db \
  --listen 127.0.0.1:50051 --admin-listen 127.0.0.1:9090 \
  --admin-token-file .run/admin-token >.run/state.log 2>&1 &
pids+=($!)
echo "==> demo upstream (OpenAI API, scripted tool calls) on 127.0.0.1:18080"
target/debug/llmfw-demo-upstream --listen 127.0.0.1:18080 >.run/upstream.log 2>&1 &
pids+=($!)
echo "==> envoy with the llmfw filter on 127.0.0.1:10000 (admin 127.0.0.1:9901)"
.venv/bin/envoy -c envoy/envoy.yaml --disable-hot-restart --concurrency 2 -l info >.run/envoy.log 2>&1 &
pids+=($!)

wait_http "state service" http://127.0.0.1:9090/readyz
wait_http "demo upstream" http://127.0.0.1:18080/healthz
wait_http "envoy" http://127.0.0.1:9901/ready
echo
target/debug/llmfw-demo --envoy http://127.0.0.1:10000
cat <<'MSG'

The stack keeps serving. Try it:
  curl -s localhost:10000/v1/chat/completions -H 'content-type: application/json' \
    -H 'x-llmfw-operator: you' -H 'x-llmfw-session: s1' \
    -d '{"model":"demo","messages":[{"role":"user","content":"{\"tool\":\"nmap\",\"arguments\":{\"target\":\"10.0.0.5\"}}"}]}'
Decisions: curl -s localhost:9901/stats | grep wasmcustom · metrics: curl -s localhost:9090/metrics
MSG
cat <<MSG
Dashboard: http://127.0.0.1:9090/dashboard/ — log in with the admin token in .run/admin-token
  (cat .run/admin-token); the admin API: curl -s -H "Authorization: Bearer \$(cat .run/admin-token)" localhost:9090/v1/overview
Press Ctrl-C to stop.
MSG
wait
