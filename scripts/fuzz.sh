#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target of filter/fuzz for FUZZ_SECONDS each (default 60),
# seeded from filter/core/testdata/fuzz/<target>/ (read-only) with a working corpus in
# target/fuzz-corpus/<target>/. Needs the nightly toolchain (installed by rustup if missing) and
# cargo-fuzz (installed from crates.io if missing). A crash leaves its input under
# filter/fuzz/artifacts/<target>/: copy it to filter/core/testdata/fuzz/<target>/<name> so the
# regression test replays it forever, then fix the bug. Fuzzing is for time too: an input that
# takes longer than FUZZ_TIMEOUT seconds (default 2) is a finding (libFuzzer `-timeout`, a
# `timeout-*` artifact), with inputs up to FUZZ_MAX_LEN bytes (default 262144, so a quadratic
# path on a body of many small events shows).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
timeout_s="${FUZZ_TIMEOUT:-2}"
max_len="${FUZZ_MAX_LEN:-262144}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=$(sed -n 's/^name = "\(.*\)"/\1/p' filter/fuzz/Cargo.toml | grep -v '^llmfw-fuzz$')
for t in $targets; do
  corpus="target/fuzz-corpus/$t"
  mkdir -p "$corpus"
  echo "==> fuzz $t for ${seconds}s"
  cargo +nightly fuzz run --fuzz-dir filter/fuzz "$t" "$corpus" "filter/core/testdata/fuzz/$t" -- \
      -max_total_time="$seconds" -timeout="$timeout_s" -max_len="$max_len" -print_final_stats=1 2>&1 | tee "target/fuzz-$t.log" \
    | grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==|Done)" || true
done
