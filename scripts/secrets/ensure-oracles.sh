#!/usr/bin/env bash
# Installs the two secret scanners used as test oracles for the secret detector (docs/evaluation.md,
# "Secrets"): Yelp's detect-secrets (PyPI, Apache-2.0) into target/secrets-oracle/venv and
# secretlint with its recommended rule preset (npm, MIT) into target/secrets-oracle/npm. Both live
# under the git-ignored target/ and are never part of the project: they only score the same texts
# our detector scores (scripts/secrets/compare.py). Idempotent; versions pinned.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=target/secrets-oracle
mkdir -p "$dir"
if [ ! -x "$dir/venv/bin/detect-secrets" ]; then
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install --quiet "detect-secrets==1.5.0"
fi
if [ ! -d "$dir/npm/node_modules/@secretlint/secretlint-rule-preset-recommend" ]; then
  mkdir -p "$dir/npm"
  npm install --silent --no-audit --no-fund --prefix "$dir/npm" \
    "@secretlint/core@13" "@secretlint/secretlint-rule-preset-recommend@13" >/dev/null
fi
"$dir/venv/bin/detect-secrets" --version
node -e "console.log('secretlint preset', require('./$dir/npm/node_modules/@secretlint/secretlint-rule-preset-recommend/package.json').version)"
