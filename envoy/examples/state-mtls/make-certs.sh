#!/usr/bin/env bash
# Generates a throwaway CA, the state service's server certificate (SAN DNS:llmfw-state.local,
# IP:127.0.0.1) and Envoy's client certificate, all EC P-256, for envoy/examples/state-mtls:
#   make-certs.sh [OUTDIR]     (default: certs/ next to this script; CERT_DAYS, default 30)
# Writes ca.pem, server.pem, server.key, client.pem, client.key (the CA key is deleted).
# The e2e test (tests/tests/tls.rs) runs it into its scratch dir; rerun it when the committed
# example certificates have expired. Needs openssl.
set -euo pipefail
out=${1:-"$(dirname "$0")/certs"}
days=${CERT_DAYS:-30}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key "$tmp/ca.key"
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" -subj "/CN=llmfw example CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$out/ca.pem" 2>/dev/null

issue() { # name subject extensions
  key "$out/$1.key"
  openssl req -new -key "$out/$1.key" -subj "$2" -out "$tmp/$1.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "$3" \
    >"$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA "$out/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -CAserial "$tmp/ca.srl" -sha256 -days "$days" -extfile "$tmp/$1.ext" -out "$out/$1.pem" 2>/dev/null
}
issue server "/CN=llmfw-state.local" \
  "$(printf 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:llmfw-state.local,IP:127.0.0.1')"
issue client "/CN=envoy-llmfw" "extendedKeyUsage=clientAuth"
chmod 600 "$out"/*.key
echo "wrote $out/{ca.pem,server.pem,server.key,client.pem,client.key} (valid $days days)"
