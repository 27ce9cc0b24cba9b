#!/usr/bin/env bash
# Loopback soak: the real stack (Envoy + filter + llmfw-state + demo upstream) under steady mixed
# traffic. Not part of `make test`. Knobs (environment):
#   SOAK_SECONDS (600)  SOAK_RPS (40 slots/s; a slot is one request or a 3-request campaign)
#   SOAK_SAMPLE_SECONDS (10)  SOAK_STORE (sqlite | postgres)
# Fails on any unexpected reply, RSS growth after warm-up, or stored events != decided tool calls.
# Output: target/soak/soak.log (RSS samples) and target/soak/summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/soak
export SOAK_SECONDS=${SOAK_SECONDS:-600}
if [[ "${SOAK_STORE:-sqlite}" == postgres ]]; then
  DATABASE_URL="${DATABASE_URL:-$(scripts/ensure-postgres.sh)}"
  export DATABASE_URL
fi
echo "==> soak for ${SOAK_SECONDS} s at ${SOAK_RPS:-40} slots/s on ${SOAK_STORE:-sqlite}"
cargo test -p llmfw-tests --test soak -- --ignored --nocapture 2>&1 | tee target/soak/soak.log
