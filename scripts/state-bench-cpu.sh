#!/usr/bin/env bash
# CPU per event of the state service and of its PostgreSQL backends (docs/performance.md,
# "State service"): runs `BIN serve` on DBURL on free ports, drives it with `BIN bench --target`
# (extra arguments go to bench), then prints the bench line and the CPU time per event of the
# service process, of the PostgreSQL backends connected to that database (from /proc/PID/stat)
# and of the bench client, with the load average. Usage:
#   scripts/state-bench-cpu.sh target/release/llmfw-state postgres://127.0.0.1/llmfw_perf_x LABEL \
#     --events 10000 --concurrency 32     (SERVE_ARGS="--group-commit-writers 8" adds serve flags)
set -euo pipefail
BIN=$1; URL=$2; LABEL=$3; shift 3
DB=${URL##*/}; DB=${DB%%\?*}
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
APORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
LOG="${TMPDIR:-/tmp}/llmfw-state-cpu-$LABEL.log"
$BIN serve --database-url "$URL" --listen 127.0.0.1:$PORT --admin-listen 127.0.0.1:$APORT --retention-hours 0 ${SERVE_ARGS:-} >"$LOG" 2>&1 &
SPID=$!
for i in $(seq 100); do curl -fs http://127.0.0.1:$APORT/readyz >/dev/null 2>&1 && break; sleep 0.1; done
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
pgcpu() { local t=0; for p in $(ps -u postgres -o pid=,args= | awk -v db="$DB" '$0 ~ " "db" " {print $1}'); do t=$((t + $(cpu $p))); done; echo $t; }
s0=$(cpu $SPID); p0=$(pgcpu); l0=$(cut -d' ' -f1 /proc/loadavg)
OUT=$( { /usr/bin/time -f "CLIENT_CPU %U %S" $BIN bench --target http://127.0.0.1:$PORT "$@"; } 2>&1 )
s1=$(cpu $SPID); p1=$(pgcpu); l1=$(cut -d' ' -f1 /proc/loadavg)
kill $SPID; wait $SPID 2>/dev/null || true
line=$(echo "$OUT" | grep events=)
ev=$(echo "$line" | sed 's/.*events=\([0-9]*\).*/\1/')
ccpu=$(echo "$OUT" | awk '/CLIENT_CPU/ {print $2+$3}')
tck=$(getconf CLK_TCK)
python3 - "$LABEL" "$line" $ev $((s1-s0)) $((p1-p0)) $ccpu $tck "$l0" "$l1" <<'PY'
import sys
label,line,ev,s,p,c,tck,l0,l1=sys.argv[1:]
ev=int(ev); tck=int(tck)
print(f"{label}: {line} | cpu/event µs: service {int(s)/tck/ev*1e6:.0f}, postgres backends {int(p)/tck/ev*1e6:.0f}, bench client {float(c)/ev*1e6:.0f} | load {l0}→{l1}")
PY
