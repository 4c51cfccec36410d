#!/usr/bin/env bash
# The unit tests of tsmon's unsafe code under Miri: the key codec (field/key.rs), the cells
# (store/cell.rs), the current-store slot (store/current.rs) and the encoder's copies into a
# line's reserved bytes (exposition/bytes.rs); and of the native
# histogram's lock-free cell (store/native.rs). Miri cannot read linkme's
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
# The native histogram's cell (store/native.rs) has no unsafe code, but its once-set chunk
# slots and the keys published beside them are what Miri's data-race checks are for. Miri
# makes libm's results imprecise on purpose by default; the native bucket tables come from
# `exp2`, so floats are kept deterministic here, as on the hardware the tests assert against.
MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-deterministic-floats" \
  cargo +nightly miri test -p tsmon --lib -- field:: store::cell:: store::current:: store::native:: exposition::bytes::tests::
