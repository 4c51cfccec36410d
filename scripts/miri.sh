#!/usr/bin/env bash
# The unit tests of tsmon's unsafe code under Miri: the key codec (field.rs), the cells
# (store/cell.rs). Tests that touch the catalog are left out: linkme's link sections are not
# supported by Miri. Needs a nightly toolchain with the miri component; without one this says
# so and exits 0 (the machines here have only the stable toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "SKIPPED: no nightly toolchain with Miri (rustup toolchain install nightly --component miri)"
  exit 0
fi
cargo +nightly miri test -p tsmon --lib -- field:: store::cell::
