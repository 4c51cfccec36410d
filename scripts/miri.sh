#!/usr/bin/env bash
# The unit tests of tsmon's unsafe code under Miri: the key codec (field/key.rs), the cells
# (store/cell.rs) and the current-store slot (store/current.rs). Miri cannot read linkme's
# link sections, so under Miri the catalog is empty and the one test that needs the global
# store's hook is ignored there. Needs a nightly toolchain with the miri component
# (`.ci/run` adds it); without one this says so and exits 0, or fails when `CI` is set.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "SKIPPED: no nightly toolchain with Miri (rustup component add --toolchain nightly miri)"
  if [ -n "${CI:-}" ]; then
    echo "error: CI is set, so Miri must run" >&2
    exit 1
  fi
  exit 0
fi
cargo +nightly miri test -p tsmon --lib -- field:: store::cell:: store::current::
