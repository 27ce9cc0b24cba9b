#!/usr/bin/env python3
"""Where the filter's per-request cost goes inside Envoy: one Envoy at a time, each a variant of
envoy/envoy.yaml, driven by wrk with the bodies of scripts/bench.sh.

Variants: bare (router only), lua (the companion Lua filter only), wasm_noroute (the wasm filter
loaded, no route matching: headers read, nothing inspected), detect_off (Lua + wasm, bodies
parsed, `detect.enabled: false`), full (envoy/envoy.yaml), full_nolua (the wasm filter without
the Lua filter), floor_body and floor_callout (Lua + the `floor` example module of
filter/wasm/examples/floor.rs in place of the filter: bodies buffered and copied into the VM, no
parsing; floor_callout adds one gRPC health check to the state service per response — the least
any body-inspecting wasm filter with a callout can cost in this Envoy).

The workload `tool_call` (every response proposes a tool call: one Evaluate callout per request)
starts the state service on a fresh SQLite store (target/release/llmfw-state).

For each: req/s with CONNECTIONS connections for DURATION s, Envoy CPU time per request (the sum
of /proc/<pid>/task/*/schedstat run time over the run, divided by the requests: less noisy than
req/s on shared cores), the state service's CPU time per request the same way (tool_call), p50
with one connection, and Envoy RSS idle and after the load.

Run from the repo root after `make wasm`, `cargo build -p llmfw-filter --example floor --target
wasm32-wasip1 --profile wasm` and `cargo build --release -p llmfw-state -p llmfw-tests --bin
llmfw-state --bin llmfw-demo-upstream`:
  python3 scripts/bench/split.py [workload ...] [--variants=a,b] [--rounds=N]
With --rounds=N (N > 1) every variant's Envoy runs at once and they are driven in turn, DURATION
s each, N times over (a slow spell of the shared cores then hits every variant alike); the
totals are printed, with the req/s ratio to bare Envoy taken per round (median, min–max).
Environment: DURATION (8), LATENCY_DURATION (4), CONNECTIONS (8), ENVOY_CONCURRENCY (1),
WASM (path of the .wasm, default target/wasm32-wasip1/wasm/llmfw_filter.wasm).
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, ".run", "split")
UP, PORT, ADMIN, STATE, STATE_ADMIN = 18380, 10300, 9931, 50351, 9391
DURATION = int(os.environ.get("DURATION", "8"))
LAT = int(os.environ.get("LATENCY_DURATION", "4"))
CONN = int(os.environ.get("CONNECTIONS", "8"))
CONC = os.environ.get("ENVOY_CONCURRENCY", "1")
WASM = os.path.abspath(os.environ.get("WASM", "target/wasm32-wasip1/wasm/llmfw_filter.wasm"))
FLOOR = os.path.abspath("target/wasm32-wasip1/wasm/examples/floor.wasm")

BASE = open(os.path.join(ROOT, "envoy", "envoy.yaml")).read()
BASE = (BASE.replace("port_value: 9901", f"port_value: {ADMIN}")
        .replace("port_value: 10000", f"port_value: {PORT}")
        .replace("port_value: 18080", f"port_value: {UP}")
        .replace("port_value: 50051", f"port_value: {STATE}")
        .replace("filename: target/wasm32-wasip1/wasm/llmfw_filter.wasm", f"filename: {WASM}"))
LUA_RE = re.compile(r"                  - name: envoy\.filters\.http\.lua\n.*?(?=                  - name: envoy\.filters\.http\.wasm)", re.S)
WASM_RE = re.compile(r"                  - name: envoy\.filters\.http\.wasm\n.*?(?=                  - name: envoy\.filters\.http\.router)", re.S)
PLUGIN_RE = re.compile(r"(                          value: \|\n)(.*?)(?=                  - name: envoy\.filters\.http\.router)", re.S)


def plugin(yaml, edit):
    m = PLUGIN_RE.search(yaml)
    cfg = json.loads(m.group(2))
    edit(cfg)
    text = "".join(" " * 30 + line + "\n" for line in json.dumps(cfg, indent=2).splitlines())
    return yaml[: m.start(2)] + text + yaml[m.end(2):]


def floor(yaml, callout):
    m = PLUGIN_RE.search(yaml)
    text = " " * 30 + json.dumps({"callout": callout}) + "\n"
    yaml = yaml[: m.start(2)] + text + yaml[m.end(2):]
    return yaml.replace(f"filename: {WASM}", f"filename: {FLOOR}")


def no_route(c):
    c["routes"] = [{"path_prefix": "/nomatch", "format": "openai_chat"}]


def detect_off(c):
    c["detect"] = {"enabled": False}


VARIANTS = {
    "bare": lambda: WASM_RE.sub("", LUA_RE.sub("", BASE)),
    "lua": lambda: WASM_RE.sub("", BASE),
    "wasm_noroute": lambda: plugin(LUA_RE.sub("", BASE), no_route),
    "detect_off": lambda: plugin(BASE, detect_off),
    "full": lambda: BASE,
    "full_nolua": lambda: LUA_RE.sub("", BASE),
    "floor_body": lambda: floor(BASE, False),
    "floor_callout": lambda: floor(BASE, True),
}


def cpu_ns(pid):
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait(url):
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"not ready: {url}")


def wrk(conns, secs, workload, port=PORT):
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "-s", "scripts/bench/post.lua",
         f"http://127.0.0.1:{port}/v1/chat/completions", "--", f"{OUT}/{workload}.json"],
        capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    rps, p50, p99, bad, err = line.split()[1:]
    m = re.search(r"(\d+) requests in", out)
    return float(rps), float(p50), float(p99), int(m.group(1)), int(bad) + int(err)


def stats(admin_filter, admin=ADMIN):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats", timeout=2).read().decode()
    except OSError:
        return ""
    return " ".join(l for l in text.splitlines() if admin_filter in l)


def interleaved(names, workloads, rounds, state_pid):
    """All variants' Envoys at once (idle ones cost nothing), driven in turn in short slices, so a
    slow spell of the shared cores hits every variant alike; ratios are taken per round."""
    envs = {}
    try:
        for i, name in enumerate(names):
            port, admin = PORT + 1 + i, ADMIN + 1 + i
            yaml = (VARIANTS[name]().replace(f"port_value: {PORT}", f"port_value: {port}")
                    .replace(f"port_value: {ADMIN}", f"port_value: {admin}"))
            path = f"{OUT}/envoy-{name}.yaml"
            open(path, "w").write(yaml)
            envs[name] = (subprocess.Popen(
                [".venv/bin/envoy", "-c", path, "--disable-hot-restart", "--concurrency", CONC,
                 "--base-id", str(10 + i), "-l", "warn"],
                stdout=open(f"{OUT}/envoy-{name}.log", "w"), stderr=subprocess.STDOUT), port, admin)
        for name, (env, port, admin) in envs.items():
            wait(f"http://127.0.0.1:{admin}/ready")
            for w in workloads:
                wrk(CONN, 1, w, port)  # warm-up
        total = {}  # (workload, variant) -> [requests, seconds, envoy ns, state ns, p50s]
        ratios = {}  # (workload, variant) -> per-round req/s ratio to bare
        for _ in range(rounds):
            for w in workloads:
                rps_round = {}
                for name, (env, port, admin) in envs.items():
                    before = cpu_ns(env.pid)
                    state_before = cpu_ns(state_pid) if state_pid else 0
                    rps, _, _, n, errs = wrk(CONN, DURATION, w, port)
                    t = total.setdefault((w, name), [0, 0, 0, 0, [], 0])
                    t[0] += n
                    t[1] += DURATION
                    t[2] += cpu_ns(env.pid) - before
                    t[3] += (cpu_ns(state_pid) - state_before) if state_pid else 0
                    _, p50, _, _, e2 = wrk(1, LAT, w, port)
                    t[4].append(p50)
                    t[5] += errs + e2
                    rps_round[name] = rps
                for name, rps in rps_round.items():
                    if rps_round.get("bare"):
                        ratios.setdefault((w, name), []).append(rps / rps_round["bare"])
        print(f"\n{rounds} rounds of {DURATION} s per variant and workload, variants in turn:")
        print("| workload | variant | req/s | ratio to bare: median (min–max of rounds) "
              "| Envoy CPU µs/req | state service CPU µs/req | p50 ms (median) | errors |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for w in workloads:
            for name in names:
                n, secs, env_ns, state_ns, p50s, errs = total[(w, name)]
                r = ratios.get((w, name), [])
                ratio = (f"{statistics.median(r):.2f} ({min(r):.2f}–{max(r):.2f})" if r else "—")
                print(f"| {w} | {name} | {n / secs:.0f} | {ratio} | {env_ns / max(n, 1) / 1000:.1f} "
                      f"| {state_ns / max(n, 1) / 1000:.1f} | {statistics.median(p50s):.3f} "
                      f"| {errs} |")
        for name, (env, port, admin) in envs.items():
            print(f"  {name}: RSS {rss_mb(env.pid):.0f} MB " + " ".join(stats(k, admin) for k in (
                "llmfw.vm", "cluster.llmfw_state.upstream_cx_total",
                "cluster.llmfw_state.upstream_rq_total")).strip())
    finally:
        for env, _, _ in envs.values():
            env.terminate()
            env.wait()


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    names = list(VARIANTS)
    rounds = 1
    for a in sys.argv[1:]:
        if a.startswith("--variants="):
            names = a.split("=", 1)[1].split(",")
        if a.startswith("--rounds="):
            rounds = int(a.split("=", 1)[1])
    workloads = args or ["chat_4k"]
    os.makedirs(OUT, exist_ok=True)
    subprocess.run(["python3", "scripts/bench/bodies.py", OUT], check=True)
    procs = []
    try:
        procs.append(subprocess.Popen(
            ["target/release/llmfw-demo-upstream", "--listen", f"127.0.0.1:{UP}"],
            stdout=open(f"{OUT}/upstream.log", "w"), stderr=subprocess.STDOUT))
        if "tool_call" in workloads:
            db = f"{OUT}/state.db"
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(db + suffix):
                    os.remove(db + suffix)
            procs.append(subprocess.Popen(
                ["target/release/llmfw-state", "--database-url", f"sqlite://{db}",
                 "--listen", f"127.0.0.1:{STATE}", "--admin-listen", f"127.0.0.1:{STATE_ADMIN}"],
                stdout=open(f"{OUT}/state.log", "w"), stderr=subprocess.STDOUT))
        wait(f"http://127.0.0.1:{UP}/healthz")
        if len(procs) > 1:
            wait(f"http://127.0.0.1:{STATE_ADMIN}/readyz")
        if rounds > 1:
            print(f"# {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} envoy --concurrency "
                  f"{CONC}, wrk -c{CONN} -d{DURATION}s (p50: -c1 -d{LAT}s), load average "
                  f"{' '.join(open('/proc/loadavg').read().split()[:3])}")
            interleaved(names, workloads, rounds, procs[1].pid if len(procs) > 1 else 0)
            return
        print(f"# {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} envoy --concurrency {CONC}, "
              f"wrk -c{CONN} -d{DURATION}s (p50: -c1 -d{LAT}s), load average "
              f"{' '.join(open('/proc/loadavg').read().split()[:3])}")
        print("| workload | variant | req/s | Envoy CPU µs/req | state service CPU µs/req | p50 ms "
              "| RSS idle MB | RSS after MB | errors |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in names:
            path = f"{OUT}/envoy-{name}.yaml"
            open(path, "w").write(VARIANTS[name]())
            env = subprocess.Popen(
                [".venv/bin/envoy", "-c", path, "--disable-hot-restart", "--concurrency", CONC,
                 "-l", "warn"], stdout=open(f"{OUT}/envoy-{name}.log", "w"), stderr=subprocess.STDOUT)
            try:
                wait(f"http://127.0.0.1:{ADMIN}/ready")
                time.sleep(1)
                idle = rss_mb(env.pid)
                for w in workloads:
                    wrk(CONN, 2, w)  # warm-up
                    before = cpu_ns(env.pid)
                    state_before = cpu_ns(procs[1].pid) if len(procs) > 1 else 0
                    rps, _, _, n, errs = wrk(CONN, DURATION, w)
                    used = (cpu_ns(env.pid) - before) / max(n, 1) / 1000
                    state = (cpu_ns(procs[1].pid) - state_before) / max(n, 1) / 1000 \
                        if len(procs) > 1 else 0.0
                    _, p50, _, _, e2 = wrk(1, LAT, w)
                    print(f"| {w} | {name} | {rps:.0f} | {used:.1f} | {state:.1f} | {p50:.3f} "
                          f"| {idle:.0f} | {rss_mb(env.pid):.0f} | {errs + e2} |", flush=True)
                mem = " ".join(stats(k) for k in (
                    "llmfw.vm", "cluster.llmfw_state.upstream_cx_total",
                    "cluster.llmfw_state.upstream_rq_total")).strip()
                if mem:
                    print(f"  {name}: {mem}")
            finally:
                env.terminate()
                env.wait()
    finally:
        for p in procs:
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
