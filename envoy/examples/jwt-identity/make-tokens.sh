#!/usr/bin/env bash
# Regenerates the demo signing key, jwks.json (the public key, which envoy.yaml loads) and the
# demo tokens in tokens/. The private key lives only in a temporary directory and is deleted: to
# mint more tokens, run this again (it replaces every file). Needs openssl and python3.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl genrsa -out "$tmp/key.pem" 2048 2>/dev/null
openssl genrsa -out "$tmp/other.pem" 2048 2>/dev/null   # signs the forged token
openssl rsa -in "$tmp/key.pem" -noout -modulus | cut -d= -f2 >"$tmp/modulus"
mkdir -p tokens
python3 - "$tmp" <<'PY'
import base64, json, subprocess, sys
tmp = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
n = bytes.fromhex(open(f"{tmp}/modulus").read().strip())
kid = "llmfw-demo-1"
json.dump({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                     "n": b64(n), "e": b64((65537).to_bytes(3, "big"))}]},
          open("jwks.json", "w"), indent=2)
open("jwks.json", "a").write("\n")
def token(claims, key="key.pem"):
    head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", f"{tmp}/{key}"],
                         input=f"{head}.{body}".encode(), capture_output=True, check=True).stdout
    return f"{head}.{body}.{b64(sig)}\n"
base = {"iss": "https://issuer.llmfw.example", "aud": "llmfw-demo", "iat": 1767225600}
forever = 4102444800  # 2100-01-01
files = {
    "alice.jwt": token({**base, "sub": "alice", "exp": forever}),
    "bob.jwt": token({**base, "sub": "bob", "exp": forever}),
    "expired.jwt": token({**base, "sub": "alice", "exp": 1767229200}),  # 2026-01-01 01:00 UTC
    "forged.jwt": token({**base, "sub": "alice", "exp": forever}, key="other.pem"),
}
for name, text in files.items():
    open(f"tokens/{name}", "w").write(text)
print("wrote jwks.json and tokens/" + ", tokens/".join(files))
PY
