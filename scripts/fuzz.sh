#!/usr/bin/env bash
# Runs each fuzz target of fuzz/ for FUZZ_SECS seconds (default 20) on the nightly toolchain
# with cargo fuzz, from the seeds in fuzz/seeds/ and the corpus it keeps in fuzz/corpus/
# (not committed), and prints each target's executions. A crash stops the run with the input
# saved under fuzz/artifacts/. Without nightly or cargo-fuzz this says so and exits 0, or
# fails when `CI` is set. Usage: scripts/fuzz.sh [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECS:-20}"
if ! cargo +nightly --version >/dev/null 2>&1 || ! cargo fuzz --version >/dev/null 2>&1; then
  echo "SKIPPED: fuzzing needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz)"
  if [ -n "${CI:-}" ]; then
    echo "error: CI is set, so the fuzz targets must run" >&2
    exit 1
  fi
  exit 0
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi
cargo +nightly fuzz build -O --fuzz-dir fuzz >/dev/null
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
  log=$(mktemp)
  if ! cargo +nightly fuzz run -O --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "error: fuzz target $t failed (the input is under fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
  echo "fuzz $t: $runs executions in ${secs} s, no failure"
  rm -f "$log"
done
