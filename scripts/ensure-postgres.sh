#!/usr/bin/env bash
# Prints a PostgreSQL admin URL the tests can create databases on (DESIGN §5):
#   1. $DATABASE_URL if set;
#   2. else the server on 127.0.0.1:5432 if one answers;
#   3. else a throwaway cluster under target/pg, started with Debian's PostgreSQL binaries
#      (installed with apt-get if missing) on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${DATABASE_URL:-}" ]; then echo "$DATABASE_URL"; exit 0; fi

if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "postgres://postgres@127.0.0.1:5432/postgres"; exit 0
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ]; then
  echo "==> installing postgresql (no server answered on 127.0.0.1:5432)" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
dir="$PWD/target/pg"
port=55432
runas=()
if [ "$(id -u)" = 0 ]; then
  id llmfwpg >/dev/null 2>&1 || useradd --system --no-create-home llmfwpg
  runas=(runuser -u llmfwpg --)
fi
if [ ! -f "$dir/data/PG_VERSION" ]; then
  mkdir -p "$dir" && rm -rf "$dir/data"
  [ "${#runas[@]}" -gt 0 ] && chown -R llmfwpg "$dir"
  "${runas[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
fi
if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  "${runas[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-h 127.0.0.1 -p $port -k $dir" start >&2
fi
echo "postgres://postgres@127.0.0.1:${port}/postgres"
