#!/usr/bin/env python3
"""Prints each benchmark's overhead over the bare fn of its group, from criterion's output.

Usage: summarize.py target/criterion
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
groups = {}
for bench in root.glob("*/*/new/benchmark.json"):
    meta = json.loads(bench.read_text())
    estimates = json.loads((bench.parent / "estimates.json").read_text())
    groups.setdefault(meta["group_id"], {})[meta["function_id"]] = estimates["median"]["point_estimate"]

for group in ("call", "two_threads"):
    times = groups.get(group, {})
    bare = times.get("bare")
    if bare is None:
        continue
    print(f"\n{group} (median ns; overhead = time - bare {bare:.2f} ns)")
    tsmon = times.get("tsmon/sync", 0.0) - bare
    for name, t in sorted(times.items(), key=lambda kv: kv[1]):
        overhead = t - bare
        ratio = f"{overhead / tsmon:6.1f}x tsmon/sync" if tsmon > 0 and name != "bare" else ""
        print(f"  {name:45} {t:9.2f}  overhead {overhead:9.2f}  {ratio}")

one = groups.get("call", {})
two = groups.get("two_threads", {})
if "tsmon/sync" in one and "tsmon/sync" in two:
    o1 = one["tsmon/sync"] - one["bare"]
    o2 = two["tsmon/sync"] - two["bare"]
    print(f"\ntwo threads / one thread, tsmon overhead: {o2 / o1:.2f}x (goal <= 2x)")
