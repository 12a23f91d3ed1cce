#!/usr/bin/env python3
"""Plots the Lumen / Ray ratios of bench/results/compare.json as a PNG.

    build/bench-venv/bin/python bench/plot_compare.py [compare.json] [out.png]

Defaults: bench/results/compare.json -> docs/benchmarks-ratios.png. One bar per
benchmark on a log scale (higher is better for Lumen; 1x = as fast as Ray), with
issue 5's target drawn where it has one. Needs matplotlib (bench/compare puts it
in the build folder's venv).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = {
    "single_client_tasks_sync": 10, "1_1_actor_calls_sync": 10, "single_client_tasks_async": 10,
    "1_1_actor_calls_async": 10, "n_n_actor_calls_async": 10, "single_client_put_calls": 5,
    "single_client_get_calls": 5, "single_client_put_gigabytes": 1, "worker_cold_start_ms": 10,
    "actor_create_sync_ms_p50": 10, "idle_worker_rss_mb": 5,
}


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "results", "compare.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "benchmarks-ratios.png")
    with open(src) as f:
        rows = [r for r in json.load(f) if r.get("ratio")]
    rows.reverse()  # first benchmark at the top
    names = [r["name"] for r in rows]
    ratios = [r["ratio"] for r in rows]
    colors = ["#2a9d8f" if x >= TARGETS.get(r["name"], 1) else ("#e9c46a" if x >= 1 else "#e76f51")
              for r, x in zip(rows, ratios)]
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    ax.barh(names, ratios, color=colors)
    ax.set_xscale("log")
    ax.axvline(1, color="black", linewidth=1)
    for i, r in enumerate(rows):
        t = TARGETS.get(r["name"])
        if t:
            ax.plot([t, t], [i - 0.4, i + 0.4], color="#264653", linewidth=2)
        ax.text(ratios[i] * 1.08, i, f"{ratios[i]:.2g}x", va="center", fontsize=7)
    ax.set_xlabel("Lumen / Ray (log scale; for latencies, start-up and memory: Ray / Lumen)")
    ax.set_title("Lumen vs Ray on the same machine (green: meets issue 5's target, dark tick; "
                 "yellow: faster than Ray; red: slower)", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
