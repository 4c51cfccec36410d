#!/usr/bin/env bash
# Throughput of the example service under wrk on loopback: without the middleware (--bare),
# with tsmon disabled (TSMON_ENABLED=false), with tsmon on, and with tsmon on while its pull
# endpoint is scraped every second (as a Prometheus would), in the same run, alternating
# rounds. Prints requests/s per variant and the ratios. Needs wrk (Debian package `wrk`).
# Usage: benches/load.sh [seconds per round, default 10] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
rounds="${2:-3}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build -q --release --example service
bin=target/release/examples/service
port=38080

run() { # name, env..., -- args...
  local name="$1"; shift
  local envs=() args=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  args=("$@")
  env TSMON_MONITOR=none "${envs[@]}" "$bin" --addr "127.0.0.1:$port" "${args[@]}" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
  local scraper=""
  if [ "$name" = scraped ]; then
    # A scrape a second for the whole round; each scrape's bytes go to a log.
    (while :; do curl -s -o /dev/null -w '%{size_download}\n' "http://127.0.0.1:$pull/metrics" >> "$scrapes"; sleep 1; done) &
    scraper=$!
  fi
  wrk -t1 -c32 -d"${secs}s" "http://127.0.0.1:$port/items/42" 2>/dev/null \
    | awk -v n="$name" '/Requests\/sec/ {print n, $2}'
  [ -z "$scraper" ] || kill "$scraper" 2>/dev/null || true
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

pull=39464
scrapes=$(mktemp)

results=$(for r in $(seq "$rounds"); do
  run bare TSMON_ENABLED=false -- --bare
  run disabled TSMON_ENABLED=false --
  run on TSMON_ENABLED=true --
  run scraped TSMON_ENABLED=true "TSMON_MONITOR=pull:127.0.0.1:$pull" --
done)
echo "$results"
echo "$results" | awk '
  { sum[$1] += $2; n[$1]++ }
  END {
    for (k in sum) mean[k] = sum[k] / n[k]
    printf "mean requests/s: bare %.0f, tsmon disabled %.0f, tsmon on %.0f, on and scraped every second %.0f\n", mean["bare"], mean["disabled"], mean["on"], mean["scraped"]
    printf "tsmon on / bare: %.1f%% (goal >= 98%%); scraped / bare: %.1f%%; disabled / bare: %.1f%% (goal >= 99.5%%)\n", 100 * mean["on"] / mean["bare"], 100 * mean["scraped"] / mean["bare"], 100 * mean["disabled"] / mean["bare"]
  }'
n=$(grep -c . "$scrapes" || true)
[ "$n" -gt 0 ] && echo "scrapes during the scraped rounds: $n, $(sort -n "$scrapes" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') bytes each (median)"
rm -f "$scrapes"
