#!/usr/bin/env python3
"""Markdown tables for docs/benchmarks.md from bench/results/compare-detail.json.

    python3 bench/report.py [compare-detail.json]

Prints the machine, the side-by-side table and Lumen's figures as multiples of
this machine's floors (bench/floors.cc).
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fmt(v):
    if v is None:
        return "n/a"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "results", "compare-detail.json")
    with open(src) as f:
        d = json.load(f)
    m, v, fl = d["machine"], d["versions"], d["floors"]
    print(f"Run: `bench/compare{' --quick' if d['mode'] == 'quick' else ''}`, {d['date']}, {d['seconds']} s.\n"
          f"Machine: {m.get('cores')} cores, CPU `{m.get('cpu')}`, {m.get('memory_gib')} GiB memory, kernel "
          f"{m.get('kernel')}; 1-minute load {m.get('loadavg_at_start', ['?'])[0]} at the start and "
          f"{m.get('loadavg_at_end', ['?'])[0]} at the end.\n"
          f"Versions: Ray {v.get('ray')} and ray-cpp "
          f"{v.get('ray-cpp')} (PyPI), Python {v.get('python')}, numpy {v.get('numpy')}, joblib {v.get('joblib')}, "
          f"dask/distributed {v.get('dask')}/{v.get('distributed')}.\n")
    ray_head = "Ray (published)" if d["ray_published"] else "Ray (Python)"
    print(f"| benchmark | unit | Lumen | {ray_head} | Ray (C++) | multiprocessing | joblib | Dask | Lumen ÷ Ray |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for r in d["rows"]:
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] is not None else "n/a"
        print(f"| `{r['name']}` | {r['unit']} | {fmt(r['lumen'])} | {fmt(r['ray'])} | {fmt(r['ray_cpp'])} | "
              f"{fmt(r['multiprocessing'])} | {fmt(r['joblib'])} | {fmt(r['dask'])} | {ratio} |")
    for s, why in d.get("problems", {}).items():
        print(f"\n{s}: {why}")

    rtt = fl.get("uds_round_trip_us_p50")
    mem = fl.get("memcpy_gigabytes")
    print("\nFloors measured by `build/bin/floors` in the same run: Unix-socket 64-byte round trip "
          f"p50 {fmt(rtt)} µs (p99 {fmt(fl.get('uds_round_trip_us_p99'))} µs, mean "
          f"{fmt(fl.get('uds_round_trip_us_mean'))} µs); memcpy of a pre-faulted 1 GiB buffer "
          f"{fmt(mem)} GB/s; memset {fmt(fl.get('memset_gigabytes'))} GB/s.\n")
    rows = {r["name"]: r for r in d["rows"]}
    print("| Lumen figure | value | floor | multiple of the floor |")
    print("|---|--:|--:|--:|")

    def per_op_us(name):
        x = rows.get(name, {}).get("lumen")
        return 1e6 / x if x else None

    lines = [
        ("single_client_tasks_sync (µs per task)", per_op_us("single_client_tasks_sync"), rtt, "UDS round trip"),
        ("1_1_actor_calls_sync (µs per call)", per_op_us("1_1_actor_calls_sync"), rtt, "UDS round trip"),
        ("sync_task_latency_us_p50", rows["sync_task_latency_us_p50"]["lumen"], rtt, "UDS round trip"),
        ("sync_actor_call_latency_us_p50", rows["sync_actor_call_latency_us_p50"]["lumen"], rtt, "UDS round trip"),
    ]
    for name, val, floor, what in lines:
        mult = val / floor if val and floor else None
        print(f"| {name} | {fmt(val)} µs | {fmt(floor)} µs ({what}) | {fmt(mult)}× |")
    for name in ("single_client_put_gigabytes", "multi_client_put_gigabytes"):
        val = rows[name]["lumen"]
        mult = mem / val if val and mem else None
        share = val / mem if val and mem else None
        print(f"| {name} | {fmt(val)} GB/s | {fmt(mem)} GB/s (memcpy) | {fmt(mult)}× the time "
              f"({share:.0%} of memcpy) |" if share else f"| {name} | n/a | | |")


if __name__ == "__main__":
    main()
