#!/usr/bin/env bash
# Throughput of the example service under wrk on loopback: without the middleware (--bare),
# with tsmon disabled (TSMON_ENABLED=false), with tsmon on, and with tsmon on while its pull
# endpoint is scraped every second (as a Prometheus would), in the same run, alternating
# rounds. Prints requests/s per variant and, for each variant, its ratio to the bare service
# taken round by round (each round runs the four variants back to back, so a drift of the
# machine's speed cancels): the median with its range, and the mean of the requests/s.
# Needs wrk (Debian package `wrk`).
#
# With two cores or more (and `taskset`), the service runs on CPU 0 and wrk on CPU 1, so the
# load generator does not take the service's core from it at random moments (`LOAD_PIN=0`
# shares the cores); the service's runtime sizes itself to its one core. On the 2-core VM
# this was written on, a variant's rounds still spread by about ±10 % (the VM's, not wrk's:
# the service's CPU time per request moves with its throughput), so a difference of 1-2 %
# needs the in-process bench (`cd benches && cargo bench --bench http`); this run checks that
# nothing is grossly off under real connections.
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
serve_on=() load_on=()
if [ "${LOAD_PIN:-1}" != 0 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  serve_on=(taskset -c 0) load_on=(taskset -c 1)
  echo "the service on CPU 0, wrk (and the scraper) on CPU 1" >&2
else
  echo "the service and wrk share the cores" >&2
fi

# The four services start once, each on a port of its own, and stay up (warm) for the whole
# run; the rounds move wrk from one to the next. Idle, a service costs its core nothing.
pull=39464
scrapes=$(mktemp)
pids=()
start() { # port, env..., -- args...
  local p="$1"; shift
  local envs=() args=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  args=("$@")
  env TSMON_MONITOR=none "${envs[@]}" "${serve_on[@]}" "$bin" --addr "127.0.0.1:$p" "${args[@]}" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -s "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "the service on port $p did not start" >&2; exit 1
}
stop_all() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -f "$scrapes"; }
trap stop_all EXIT
names=(bare disabled on scraped)
start "$port" TSMON_ENABLED=false -- --bare
start $((port + 1)) TSMON_ENABLED=false --
start $((port + 2)) TSMON_ENABLED=true --
start $((port + 3)) TSMON_ENABLED=true "TSMON_MONITOR=pull:127.0.0.1:$pull" --

load() { # variant index, seconds; prints "name requests/s"
  local i="$1" scraper=""
  if [ "${names[$i]}" = scraped ]; then
    # A scrape a second for the whole round; each scrape's bytes go to a log.
    (while :; do "${load_on[@]}" curl -s -o /dev/null -w '%{size_download}\n' "http://127.0.0.1:$pull/metrics" >> "$scrapes"; sleep 1; done) &
    scraper=$!
  fi
  "${load_on[@]}" wrk -t1 -c32 -d"${2}s" "http://127.0.0.1:$((port + i))/items/42" 2>/dev/null \
    | awk -v n="${names[$i]}" '/Requests\/sec/ {print n, $2}'
  if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; fi
}

# A warm-up second each (not counted), then the rounds; each round starts at the next
# variant, so none always follows the same one.
for i in 0 1 2 3; do load "$i" 1 >/dev/null; done
: > "$scrapes"
results=$(for r in $(seq "$rounds"); do
  for k in 0 1 2 3; do load $(((r + k) % 4)) "$secs"; done
done)
echo "$results"
echo "$results" | awk '
  { sum[$1] += $2; n[$1]++; v[$1, n[$1]] = $2 }
  function median_ratio(k,    i, j, t, m, r) {
    m = n[k] < n["bare"] ? n[k] : n["bare"]
    for (i = 1; i <= m; i++) r[i] = v[k, i] / v["bare", i]
    for (i = 2; i <= m; i++) for (j = i; j > 1 && r[j - 1] > r[j]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
    return sprintf("%.1f%% (rounds %.1f%% to %.1f%%)", 100 * (m % 2 ? r[(m + 1) / 2] : (r[m / 2] + r[m / 2 + 1]) / 2), 100 * r[1], 100 * r[m])
  }
  END {
    for (k in sum) mean[k] = sum[k] / n[k]
    printf "mean requests/s: bare %.0f, tsmon disabled %.0f, tsmon on %.0f, on and scraped every second %.0f\n", mean["bare"], mean["disabled"], mean["on"], mean["scraped"]
    print "of bare, the median of the rounds'"'"' ratios:"
    print "  tsmon on:                     " median_ratio("on") " (goal >= 98%)"
    print "  tsmon on, scraped every 1 s:  " median_ratio("scraped")
    print "  middleware, tsmon disabled:   " median_ratio("disabled") " (goal >= 99.5%)"
  }'
n=$(grep -c . "$scrapes" || true)
[ "$n" -gt 0 ] && echo "scrapes during the scraped rounds: $n, $(sort -n "$scrapes" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') bytes each (median)"
