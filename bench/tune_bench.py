#!/usr/bin/env python3
"""Ray Tune on bench/tune_bench.cc's shapes, for bench/compare (issue 17).

    tune_bench.py [--quick] [--only NAME[,NAME...]] [--json OUT]

Prints one JSON object per figure ({"name", "value", "unit"}), the names
tune_bench.cc uses, and with --json writes them as {name: [value, 0]}. Ray
Tune runs on a local Ray started here with this machine's CPUs; every trial
is its own actor, as in Lumen. Ray Tune's per-trial cost (about a second on
this machine) makes some shapes smaller than Lumen's: the numbers of trials
are printed with each figure and are per-trial rates or percentages, so they
compare.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

import ray
from ray import tune


def trivial(config):
    tune.report({"score": 1})


def timed_reports(config):
    last_us = 0.0
    for i in range(config["reports"]):
        t0 = time.monotonic()
        tune.report({"score": i, "last_report_us": last_us})
        last_us = (time.monotonic() - t0) * 1e6


def sleeper(config):
    time.sleep(config["seconds"])
    tune.report({"score": 1})


def synthetic(config):
    x, y = config["x"], config["y"]
    for t in range(1, config["max_t"] + 1):
        time.sleep(config["step_s"])
        # t_wall: CLOCK_MONOTONIC, the same clock as the driver's.
        tune.report({"loss": (x - 0.3) ** 2 + (y - 0.7) ** 2 + 1.0 / t, "t_wall": time.monotonic()})


def run(fn, space, name, storage, **tune_config):
    tuner = tune.Tuner(fn, param_space=space, tune_config=tune.TuneConfig(**tune_config),
                       run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0))
    return tuner.fit()


def driver_rss_mb():
    """RssAnon + RssFile of this process (not its shared memory), as tune_bench.cc reads it."""
    kb = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                kb += float(line.split()[1])
    return kb / 1024.0


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--json")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    wanted = lambda what: not only or what in only  # noqa: E731
    figures = {}

    def emit(name, value, unit, note=""):
        figures[name] = [value, 0]
        print(json.dumps({"name": name, "value": value, "unit": unit, "note": note}), flush=True)

    storage = tempfile.mkdtemp(prefix="ray-tune-bench-")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    cpus = ray.cluster_resources().get("CPU", 1)
    if wanted("trivial"):
        n = 10 if args.quick else 100
        t0 = time.monotonic()
        run(trivial, {"x": tune.uniform(0, 1)}, "trivial", storage, num_samples=n)
        emit("tune_trials_per_s", n / (time.monotonic() - t0), "trials/s", f"{n} trials")
    if wanted("report"):
        grid = run(timed_reports, {"reports": 100 if args.quick else 500, "x": tune.uniform(0, 1)}, "report",
                   storage, num_samples=2)
        us = []
        for r in grid:
            df = r.metrics_dataframe
            us.extend(df["last_report_us"].tolist()[1:])
        emit("tune_report_decision_us_p50", percentile(us, 0.5), "us")
        emit("tune_report_decision_us_p99", percentile(us, 0.99), "us")
    if wanted("sleep"):
        # Lumen's figure is over 1,000 trials (20 with --quick); Ray Tune's
        # own overhead of about a second per trial makes that ~20 minutes.
        n = 6 if args.quick else 100
        t0 = time.monotonic()
        run(sleeper, {"seconds": 1.0, "x": tune.uniform(0, 1)}, "sleep", storage, num_samples=n)
        wall = time.monotonic() - t0
        ideal = math.ceil(n / cpus) * 1.0
        emit("tune_sleep_trials_s", wall, "s", f"{n} trials")
        emit("tune_sleep_ideal_s", ideal, "s")
        emit("tune_sleep_overhead_pct", 100 * (wall - ideal) / ideal, "%", f"{n} trials")
    if wanted("asha"):
        scheduler = tune.schedulers.ASHAScheduler(max_t=27, grace_period=1, reduction_factor=3)
        t0 = time.monotonic()
        # The same configs as tune_bench.cc: a k x k grid (k = 4 quick, 8 full).
        k = 4 if args.quick else 8
        axis = [(i + 0.5) / k for i in range(k)]
        grid = run(synthetic, {"x": tune.grid_search(axis), "y": tune.grid_search(axis), "max_t": 27,
                               "step_s": 0.01}, "asha", storage, num_samples=1, metric="loss", mode="min",
                   scheduler=scheduler)
        wall = time.monotonic() - t0
        target = 0.08
        first = None
        for r in grid:
            df = r.metrics_dataframe
            hit = df[df["loss"] <= target]
            if len(hit):
                t = float(hit["t_wall"].min())
                first = t if first is None else min(first, t)
        emit("tune_asha_time_to_target_s", (first - t0) if first is not None else wall, "s")
        emit("tune_asha_wall_s", wall, "s")
        emit("tune_asha_best_loss", float(grid.get_best_result().metrics["loss"]), "loss")
    if wanted("memory"):
        # Ray Tune's driver at this many trials (Lumen's figure is at 10,000;
        # Ray Tune at ~1 trial/s would take hours): peak RSS of this process.
        n = 10 if args.quick else 100
        grid = run(trivial, {"x": tune.uniform(0, 1)}, "memory", storage, num_samples=n)
        emit("tune_driver_rss_mb", driver_rss_mb(), "MB", f"{n} trials")
        del grid
    ray.shutdown()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
