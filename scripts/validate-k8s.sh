#!/usr/bin/env bash
# Renders every overlay under k8s/overlays with `kubectl kustomize` and checks the result:
#   1. core Kubernetes resources against the Kubernetes OpenAPI schemas (kubernetes-validate,
#      strict: unknown fields are errors);
#   2. the Istio resources (WasmPlugin, DestinationRule) against Istio's published CRD schemas
#      (the validators @kubernetes-models/istio generates from Istio's crd-all.gen.yaml);
#   3. what the schemas cannot (scripts/k8s/check_rendered.py: probes, security context, the
#      WasmPlugin's config = the openai-sidecar example's plugin.json, ...);
#   4. a manifest security lint (checkov, Kubernetes checks): no failed check; every skipped
#      check carries its reason in a `checkov.io/skip` annotation next to the resource.
# Writes target/k8s/<overlay>.yaml and target/k8s/checkov.json. Tools come from
# scripts/ensure-k8s-tools.sh. Exit status 0 only if every step passed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-k8s-tools.sh >&2
# shellcheck source=/dev/null
source .venv/k8s/paths.env
out=target/k8s
rm -rf "$out" && mkdir -p "$out"
overlays=$(ls k8s/overlays)
for overlay in $overlays; do
  echo "==> kubectl kustomize k8s/overlays/$overlay"
  "$KUBECTL" kustomize "k8s/overlays/$overlay" >"$out/$overlay.yaml"
  echo "==> schemas: $overlay (Kubernetes $K8S_SCHEMA_VERSION, Istio $ISTIO_SCHEMA_VERSION)"
  .venv/k8s/bin/python scripts/k8s/split.py "$out/$overlay.yaml" "$out/$overlay"
  .venv/k8s/bin/kubernetes-validate --strict --kubernetes-version "$K8S_SCHEMA_VERSION" \
    "$out/$overlay"/core/*.yaml
  node scripts/k8s/validate-istio.mjs "$out/$overlay"/istio.json
  .venv/k8s/bin/python scripts/k8s/check_rendered.py "$out/$overlay.yaml" "k8s/overlays/$overlay"
done
echo "==> checkov (kubernetes checks) on the rendered overlays"
set +e
.venv/k8s/bin/checkov --compact --framework kubernetes --skip-download \
  $(for o in $overlays; do printf -- '-f %s ' "$out/$o.yaml"; done) \
  -o json >"$out/checkov.json" 2>"$out/checkov.log"
set -e
.venv/k8s/bin/python scripts/k8s/checkov_report.py "$out/checkov.json"
