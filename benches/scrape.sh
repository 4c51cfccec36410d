#!/usr/bin/env bash
# Scrape throughput and latency of the pull endpoint under wrk (200 connections, keep-alive)
# for two builds of the `pull-edge` test service, in alternating rounds on this machine.
# Usage: benches/scrape.sh [binary A] [binary B] [seconds per round, default 10] [rounds, default 3]
# With no binaries, A and B are both this checkout's release build (a noise check). To compare
# with an older commit, build its `pull-edge` (`cargo build --release -p tsmon-tests --bin
# pull-edge` in a worktree of it) and pass both paths. Needs wrk (Debian package `wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
if [ $# -lt 2 ]; then
  cargo build -q --release -p tsmon-tests --bin pull-edge
  a=target/release/pull-edge; b=$a
else
  a=$1; b=$2
fi
secs="${3:-10}"
rounds="${4:-3}"
port=39464

run() { # name binary
  local fifo; fifo=$(mktemp -u); mkfifo "$fifo"
  TSMON_MONITOR="pull:127.0.0.1:$port" TSMON_REPORT_RUNTIME_STATS=false "$2" <"$fifo" >/dev/null 2>&1 &
  local pid=$!
  exec 9>"$fifo"
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/metrics" >/dev/null 2>&1 && break; sleep 0.05; done
  wrk -t2 -c200 -d"${secs}s" --latency "http://127.0.0.1:$port/metrics" 2>/dev/null \
    | awk -v n="$1" '/Requests\/sec/ {rps=$2} / 99%/ {p99=$2} END {print n, rps, p99}'
  exec 9>&-
  wait "$pid" 2>/dev/null || true
  rm -f "$fifo"
}

results=$(for _ in $(seq "$rounds"); do run A "$a"; run B "$b"; done)
echo "$results"
echo "$results" | awk '{r[$1]+=$2; n[$1]++} END {
  a=r["A"]/n["A"]; b=r["B"]/n["B"];
  printf "mean requests/s: A %.0f, B %.0f; B/A = %.3f\n", a, b, b/a }'
