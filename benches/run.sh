#!/usr/bin/env bash
# Runs the instrument benchmarks once per autometrics backend (one backend per build), then
# prints the overheads (time minus the bare fn) and their ratios. Extra arguments go to criterion.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo bench --bench instrument -- "$@"
cargo bench --bench instrument --no-default-features --features autometrics-prometheus -- autometrics "$@"
python3 summarize.py target/criterion
