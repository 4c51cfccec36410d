#!/usr/bin/env bash
# A/B: the store benchmarks of a base revision against the working tree, in alternating
# rounds, so a change shows beyond this machine's noise.
#
# Usage: benches/ab.sh BASE [ROUNDS] [FILTER] [BENCH]
#   BASE    a git revision (a commit, a branch, HEAD~1)
#   ROUNDS  rounds, default 5; each round runs A (the working tree) then B (BASE)
#   FILTER  a criterion filter, default "1 thread" (a regex over the benchmark names)
#   BENCH   the tsmon bench target, default "store"
#
# Both binaries are built once (BASE in a git worktree under target/ab), then run in turn,
# A B A B ..., with short criterion runs. Each benchmark's ratio A/B is taken round by round
# (pairing keeps it meaningful when the machine's speed drifts), and the median, min and max
# ratio are printed; a benchmark whose min and max are both above 1.03 or both below 0.97 is
# marked as a change.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: benches/ab.sh BASE [ROUNDS] [FILTER] [BENCH]}"
rounds="${2:-5}"
filter="${3:-1 thread}"
bench="${4:-store}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
root=$(pwd)
work="$root/target/ab"
mkdir -p "$work"

# The bench binary a cargo invocation in directory $1 builds (its path, from cargo's JSON).
build() {
  (cd "$1" && cargo bench -q -p tsmon --bench "$bench" --no-run --message-format=json 2>/dev/null) |
    grep -o '"executable":"[^"]*"' | tail -1 | sed 's/"executable":"\(.*\)"/\1/'
}

rev=$(git rev-parse --verify "$base^{commit}")
tree="$work/base-${rev:0:12}"
if [ ! -d "$tree" ]; then
  git worktree add -q --detach "$tree" "$rev"
fi
echo "building A (the working tree) and B ($base = ${rev:0:12})" >&2
# B builds in a target directory of its own (kept for the next run): cargo names a workspace
# member's artifacts relative to its workspace, so two checkouts in one directory would
# overwrite each other's.
# Every base shares that directory, and cargo judges a checkout's sources fresh by their times:
# a worktree made before the last build (another base's) would get that base's binary. So when
# the base changes, its sources are touched first, and the directory records the base it holds.
a=$(build "$root")
mkdir -p "$work/target"
if [ "$(cat "$work/target/ab-base" 2>/dev/null)" != "$rev" ]; then
  find "$tree" -path "$tree/target" -prune -o -name '*.rs' -exec touch {} +
fi
b=$(CARGO_TARGET_DIR="$work/target" build "$tree")
echo "$rev" > "$work/target/ab-base"
[ -x "$a" ] && [ -x "$b" ] || { echo "a bench binary did not build" >&2; exit 1; }
[ "$a" != "$b" ] || { echo "A and B built to the same binary: $a" >&2; exit 1; }

# One short criterion run of binary $2, labelled $1: "label round name nanoseconds" lines.
run() {
  "$2" --bench "$filter" --warm-up-time 1 --measurement-time 2 --noplot 2>/dev/null |
    awk -v label="$1" -v round="$3" '
      function ns(v, unit) {
        if (unit == "ps") return v / 1000
        if (unit == "ns") return v
        if (unit == "µs" || unit == "us") return v * 1000
        if (unit == "ms") return v * 1e6
        if (unit == "s") return v * 1e9
        return v
      }
      /time:/ {
        line = $0
        sub(/^[ \t]+/, "", line)
        if (line !~ /^time:/) { name = substr(line, 1, index(line, "time:") - 1); sub(/[ \t]+$/, "", name) }
        split(substr($0, index($0, "[") + 1), f, " ")
        printf "%s\t%s\t%s\t%.6f\n", label, round, name, ns(f[3], f[4])
        next
      }
      NF > 0 && $0 !~ /^[ \t]/ && $0 !~ /^(Benchmarking|Found|Gnuplot|change|Performance|No change|Change)/ { name = $0 }
    '
}

results="$work/results.tsv"
: > "$results"
for r in $(seq "$rounds"); do
  echo "round $r of $rounds" >&2
  run A "$a" "$r" >> "$results"
  run B "$b" "$r" >> "$results"
done

awk -F'\t' '
  { t[$1, $2, $3] = $4; names[$3] = 1; rounds[$2] = 1 }
  END {
    printf "%-70s %10s %10s %8s %8s %8s\n", "benchmark", "A (ns)", "B (ns)", "A/B med", "min", "max"
    for (n in names) {
      k = 0
      for (r in rounds) if ((("A", r, n) in t) && (("B", r, n) in t) && t["B", r, n] > 0) {
        k++; ratio[k] = t["A", r, n] / t["B", r, n]; av[k] = t["A", r, n]; bv[k] = t["B", r, n]
      }
      if (k == 0) continue
      # Sort the ratios and the times (insertion sort; a handful of rounds).
      for (i = 2; i <= k; i++) for (j = i; j > 1 && ratio[j-1] > ratio[j]; j--) { x = ratio[j]; ratio[j] = ratio[j-1]; ratio[j-1] = x }
      for (i = 2; i <= k; i++) for (j = i; j > 1 && av[j-1] > av[j]; j--) { x = av[j]; av[j] = av[j-1]; av[j-1] = x }
      for (i = 2; i <= k; i++) for (j = i; j > 1 && bv[j-1] > bv[j]; j--) { x = bv[j]; bv[j] = bv[j-1]; bv[j-1] = x }
      m = int((k + 1) / 2)
      mark = (ratio[1] > 1.03) ? "  slower" : ((ratio[k] < 0.97) ? "  faster" : "")
      printf "%-70s %10.2f %10.2f %8.3f %8.3f %8.3f%s\n", n, av[m], bv[m], ratio[m], ratio[1], ratio[k], mark
    }
  }' "$results" | (read -r header; echo "$header"; sort)
