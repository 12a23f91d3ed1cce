#!/usr/bin/env python3
"""Ray's microbenchmark shapes on Python's own tools, for bench/compare.

    baselines.py SYSTEM [--quick] [--json PATH]

SYSTEM is one of:
  mp      multiprocessing: Pool(ncpu) for tasks, a Process + Pipe for an actor,
          multiprocessing.shared_memory for puts
  joblib  joblib.Parallel(n_jobs=ncpu) (loky backend)
  dask    dask.distributed LocalCluster(n_workers=ncpu, threads_per_worker=1,
          processes=True): futures for tasks, scatter/result for put/get,
          Dask actors for actor calls
  ray     Ray (Python) on what `ray microbenchmark` does not measure: sync task
          and actor call latency p50/p99, actor creation, first task after
          ray.init, ray.init to first result, idle worker RSS/PSS, and
          task_arg_gigabytes / single_client_get_gigabytes (a 1 GiB numpy array)
  ray-perf-quick
          Ray's own `ray microbenchmark` code (ray._private.ray_perf.main) with
          its timeit shortened like --quick (no 10 s settle sleep, 0.2 s
          warm-up, 2 runs of 1 s), without the async-actor and Ray Client
          benchmarks; prints Ray's "NAME per second MEAN +- SD" lines

Timing is Ray's timeit (ray_microbenchmark_helpers.py): warm-up, then several
timed runs of a fixed length, multiplier x calls / elapsed, mean and sd over the
runs (1 s warm-up, 4 runs of 2 s); --quick: 0.2 s warm-up, 2 runs of 1 s.
Latency percentiles are the median over 5 runs (--quick: 3) of each run's
percentile; start-up figures the median over 10 starts from nothing (--quick:
5; Ray and Dask, which take seconds to start, 5 and 3). Output keys are Ray's (run_microbenchmark.py),
so the results line up with `ray microbenchmark` and Lumen's microbenchmarks.
A shape a system has no counterpart for is left out; bench/compare shows n/a.
"""
import argparse
import json
import multiprocessing as mproc
import os
import statistics
import sys
import time

# Always a fresh local Ray on this machine: with no address, ray.init() may join
# whatever cluster /tmp/ray/ray_current_cluster last named (a stale one hangs
# here for minutes), and a RAY_ADDRESS in the environment would measure elsewhere.
os.environ["RAY_ADDRESS"] = "local"

NCPU = os.cpu_count() or 2
QUICK = False
STARTUPS = 10      # cluster/pool starts behind each start-up figure (--quick: 5)
LATENCY_RUNS = 5   # runs behind each latency percentile (--quick: 3)
RESULTS = {}
UNITS = {}
NOTES = {}


def noop():
    return b"ok"


def noop_arg(_x):
    return b"ok"


def timeit(key, fn, multiplier=1, unit="ops/s", note=None):
    """Ray's timeit: warm up, then runs of trial_s; mean and sd of the rates."""
    warm, trial, runs = (0.2, 1.0, 2) if QUICK else (1.0, 2.0, 4)
    start = time.perf_counter()
    count = 0
    while time.perf_counter() - start < warm or count == 0:
        fn()
        count += 1
    step = count // 10 + 1
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        count = 0
        while time.perf_counter() - start < trial:
            for _ in range(step):
                fn()
            count += step
        rates.append(multiplier * count / (time.perf_counter() - start))
    record(key, statistics.mean(rates), statistics.pstdev(rates), unit, note)


def record(key, value, sd=0.0, unit="", note=None):
    RESULTS[key] = [value, sd]
    UNITS[key] = unit
    if note:
        NOTES[key] = note
    print(f"{key:44s} {value:14.2f} +- {sd:<10.2f} {unit}{'  ' + note if note else ''}", flush=True)


def derive_batch():
    """tasks_and_get_batch is tasks_async's shape (1000 tasks, then get them all)
    counted in batches: derived from it rather than timed twice."""
    mean, sd = RESULTS["single_client_tasks_async"]
    record("single_client_tasks_and_get_batch", mean / 1000, sd / 1000, "batches/s",
           "(= single_client_tasks_async / 1000: the same shape)")


def median_sd(values):
    return statistics.median(values), statistics.stdev(values) if len(values) > 1 else 0.0


def percentiles(key_base, fn, samples):
    """Latency p50/p99 of one blocking call: LATENCY_RUNS runs of `samples`
    calls; each percentile is the median of the runs' (as in Lumen's suite)."""
    runs = LATENCY_RUNS
    for _ in range(min(50, samples)):
        fn()
    p50s, p99s = [], []
    for _ in range(runs):
        us = []
        for _ in range(samples):
            t0 = time.perf_counter()
            fn()
            us.append((time.perf_counter() - t0) * 1e6)
        us.sort()
        p50s.append(us[len(us) // 2])
        p99s.append(us[min(len(us) - 1, len(us) * 99 // 100)])
    note = f"(median of {runs} runs of {samples} calls)"
    record(key_base + "_p50", *median_sd(p50s), "us", note)
    record(key_base + "_p99", *median_sd(p99s), "us", note)


def startups(once, notes, n=None):
    """Start-up figures: `once()` starts the system from nothing, returns
    {key: ms}, and stops it again; each key gets the median of n starts."""
    n = n or STARTUPS
    samples = {}
    for _ in range(n):
        for key, ms in once().items():
            samples.setdefault(key, []).append(ms)
    for key, values in samples.items():
        record(key, *median_sd(values), "ms", f"{notes[key]} (median of {n} starts)")


def rss_mb(pid):
    """(VmRSS, Pss) of a process in MB, from /proc."""
    def field(path, name):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(name + ":"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return None
    return field(f"/proc/{pid}/status", "VmRSS"), field(f"/proc/{pid}/smaps_rollup", "Pss")


def record_idle(pid, what):
    time.sleep(1.0)
    rss, pss = rss_mb(pid)
    if rss is not None:
        record("idle_worker_rss_mb", rss, 0, "MB", f"({what})")
    if pss is not None:
        record("idle_worker_pss_mb", pss, 0, "MB")


# ---------------------------------------------------------------- multiprocessing

def _actor_loop(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(b"ok")


def put_payload(np):
    """The bytes single_client_put_gigabytes puts: Ray's np.zeros(100Mi, int64), 800 MiB.
    Its pages are the kernel's shared zero page until written, so a copy of it reads one
    cached page over and over: every system here (Ray's own benchmark and Lumen's, which
    allocates its buffer the same way) copies the same kind of source."""
    return np.zeros(100 * 1024 * 1024, dtype=np.int64)


def run_mp():
    from multiprocessing import shared_memory

    import numpy as np

    ctx = mproc.get_context("fork")

    def start_once():
        t0 = time.perf_counter()
        pool = ctx.Pool(NCPU)
        pool.apply(noop)
        first = (time.perf_counter() - t0) * 1e3
        pool.terminate()
        pool.join()
        return {"init_to_first_result_ms": first, "worker_cold_start_ms": first}

    startups(start_once, {"init_to_first_result_ms": f"(Pool({NCPU}) -> first apply result)",
                          "worker_cold_start_ms": "(Pool start -> first result; workers start with the pool)"})
    pool = ctx.Pool(NCPU)
    timeit("single_client_tasks_sync", lambda: pool.apply(noop), 1, "tasks/s", "(pool.apply)")

    def batch():
        rs = [pool.apply_async(noop) for _ in range(1000)]
        for r in rs:
            r.get()

    timeit("single_client_tasks_async", batch, 1000, "tasks/s", "(1000 apply_async, then get)")
    derive_batch()
    percentiles("sync_task_latency_us", lambda: pool.apply(noop), 500 if QUICK else 5000)
    pid = pool.apply(os.getpid)
    record_idle(pid, "Pool worker after tasks")

    # put: copy 800 MiB (Ray's size) into a shared-memory segment made once.
    arr = put_payload(np)
    seg = shared_memory.SharedMemory(create=True, size=arr.nbytes)
    try:
        dst = np.ndarray(arr.shape, dtype=arr.dtype, buffer=seg.buf)
        timeit("single_client_put_gigabytes", lambda: np.copyto(dst, arr), arr.nbytes / 1e9, "GB/s",
               "(np.zeros 800 MiB copied into a pre-made shared_memory segment)")
        del dst
    finally:
        seg.close()
        seg.unlink()
    pool.close()
    pool.join()

    # An "actor": one dedicated process answering over a Pipe.
    def start_actor():
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_actor_loop, args=(child,))
        p.start()
        return p, parent

    def stop_actor(p, conn):
        conn.send(None)
        p.join()

    def create_once():
        p, conn = start_actor()
        conn.send(0)
        conn.recv()
        stop_actor(p, conn)

    samples = []
    for _ in range(10 if QUICK else 50):
        t0 = time.perf_counter()
        create_once()
        samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    record("actor_create_sync_ms_p50", samples[len(samples) // 2], 0, "ms", "(Process start + first Pipe reply)")

    p, conn = start_actor()

    def call():
        conn.send(0)
        conn.recv()

    def calls_async():
        # 1000 calls, 100 in flight at a time (all 1000 at once can fill both
        # socket buffers and deadlock the two processes).
        for _ in range(10):
            for _ in range(100):
                conn.send(0)
            for _ in range(100):
                conn.recv()

    timeit("1_1_actor_calls_sync", call, 1, "calls/s", "(Process + Pipe)")
    timeit("1_1_actor_calls_async", calls_async, 1000, "calls/s", "(Process + Pipe, 1000 calls, 100 in flight)")
    percentiles("sync_actor_call_latency_us", call, 500 if QUICK else 5000)
    stop_actor(p, conn)


# ---------------------------------------------------------------- joblib

def run_joblib():
    from joblib import Parallel, delayed
    from joblib.externals.loky import get_reusable_executor

    def start_once():
        t0 = time.perf_counter()
        with Parallel(n_jobs=NCPU) as par:
            par([delayed(noop)()])
        first = (time.perf_counter() - t0) * 1e3
        get_reusable_executor().shutdown(wait=True)  # the next start is a cold one
        return {"init_to_first_result_ms": first, "worker_cold_start_ms": first}

    what = "(first Parallel call, loky workers start)"
    startups(start_once, {"init_to_first_result_ms": what, "worker_cold_start_ms": what})
    par = Parallel(n_jobs=NCPU)
    par.__enter__()  # keep one loky pool across calls (as `with Parallel(...) as par:` does)
    timeit("single_client_tasks_sync", lambda: par([delayed(noop)()]), 1, "tasks/s", "(Parallel of 1 task)")
    timeit("single_client_tasks_async", lambda: par(delayed(noop)() for _ in range(1000)), 1000, "tasks/s",
           "(Parallel of 1000 tasks, auto batching)")
    derive_batch()
    percentiles("sync_task_latency_us", lambda: par([delayed(noop)()]), 200 if QUICK else 2000)
    pid = par([delayed(os.getpid)()])[0]
    record_idle(pid, "loky worker after tasks")
    par.__exit__(None, None, None)
    get_reusable_executor().shutdown(wait=True)


# ---------------------------------------------------------------- dask

class DaskActor:
    def small_value(self):
        return b"ok"


def run_dask():
    import logging

    import numpy as np
    from dask.distributed import Client, LocalCluster, as_completed

    logging.getLogger("distributed").setLevel(logging.ERROR)
    def start():
        cluster = LocalCluster(n_workers=NCPU, threads_per_worker=1, processes=True, dashboard_address=None)
        return cluster, Client(cluster)

    def start_once():
        t0 = time.perf_counter()
        cluster, client = start()
        client.submit(noop, pure=False).result()
        first = (time.perf_counter() - t0) * 1e3
        client.close()
        cluster.close()
        return {"init_to_first_result_ms": first, "worker_cold_start_ms": first}

    # A LocalCluster takes seconds to start and stop: fewer starts.
    startups(start_once, {"init_to_first_result_ms": f"(LocalCluster({NCPU} workers) + Client -> first result)",
                          "worker_cold_start_ms": "(cluster start -> first result; workers start with it)"},
             n=3 if QUICK else 5)
    cluster, client = start()
    try:
        timeit("single_client_tasks_sync", lambda: client.submit(noop, pure=False).result(), 1, "tasks/s")

        def batch():
            client.gather([client.submit(noop, pure=False) for _ in range(1000)])

        timeit("single_client_tasks_async", batch, 1000, "tasks/s", "(1000 submits, gather)")
        derive_batch()

        def wait_1k():
            # Dask's one-at-a-time idiom: as_completed yields each future as it is ready.
            for _ in as_completed([client.submit(noop, pure=False) for _ in range(1000)]):
                pass

        timeit("single_client_wait_1k_refs", wait_1k, 1, "rounds/s", "(as_completed over 1000 futures)")
        percentiles("sync_task_latency_us", lambda: client.submit(noop, pure=False).result(),
                    100 if QUICK else 500)
        fut = client.scatter(0)
        timeit("single_client_get_calls", lambda: fut.result(), 1, "calls/s", "(future.result of scatter(0))")
        timeit("single_client_put_calls", lambda: client.scatter(0), 1, "calls/s", "(scatter(0))")
        arr = put_payload(np)
        timeit("single_client_put_gigabytes", lambda: client.scatter(arr, hash=False), arr.nbytes / 1e9, "GB/s",
               "(scatter of np.zeros 800 MiB)")
        del arr
        workers = list(client.scheduler_info()["workers"])
        pid = client.submit(os.getpid, pure=False, workers=workers[:1]).result()
        record_idle(pid, "Dask worker process after tasks")

        samples = []
        for _ in range(5 if QUICK else 20):
            t0 = time.perf_counter()
            a = client.submit(DaskActor, actor=True, pure=False).result()
            a.small_value().result()
            samples.append((time.perf_counter() - t0) * 1e3)
            del a
        samples.sort()
        record("actor_create_sync_ms_p50", samples[len(samples) // 2], 0, "ms", "(Dask actor + first call)")
        a = client.submit(DaskActor, actor=True, pure=False).result()
        timeit("1_1_actor_calls_sync", lambda: a.small_value().result(), 1, "calls/s", "(Dask actor)")

        def actor_async():
            fs = [a.small_value() for _ in range(1000)]
            for f in fs:
                f.result()

        timeit("1_1_actor_calls_async", actor_async, 1000, "calls/s", "(Dask actor, 1000 in flight)")
        percentiles("sync_actor_call_latency_us", lambda: a.small_value().result(), 100 if QUICK else 500)
    finally:
        client.close()
        cluster.close()


# ---------------------------------------------------------------- Ray (Python)

def run_ray():
    import ray

    @ray.remote
    def small_value():
        return b"ok"

    @ray.remote
    def pid():
        return os.getpid()

    @ray.remote(num_cpus=0)
    class Actor:
        def small_value(self):
            return b"ok"

    def start_once():
        t0 = time.perf_counter()
        ray.init(include_dashboard=False, logging_level="ERROR")
        t1 = time.perf_counter()
        ray.get(small_value.remote())
        t2 = time.perf_counter()
        ray.shutdown()
        return {"init_to_first_result_ms": (t2 - t0) * 1e3, "worker_cold_start_ms": (t2 - t1) * 1e3}

    # ray.init takes seconds: fewer starts.
    startups(start_once, {"init_to_first_result_ms": "(ray.init -> first task result)",
                          "worker_cold_start_ms": "(first task on a fresh cluster: submit -> result)"},
             n=3 if QUICK else 5)
    ray.init(include_dashboard=False, logging_level="ERROR")
    try:
        percentiles("sync_task_latency_us", lambda: ray.get(small_value.remote()), 500 if QUICK else 5000)
        record_idle(ray.get(pid.remote()), "Ray task worker after tasks")
        a = Actor.remote()
        ray.get(a.small_value.remote())
        percentiles("sync_actor_call_latency_us", lambda: ray.get(a.small_value.remote()), 500 if QUICK else 5000)
        ray.kill(a)
        samples = []
        for _ in range(10 if QUICK else 50):
            t0 = time.perf_counter()
            a = Actor.remote()
            ray.get(a.small_value.remote())
            samples.append((time.perf_counter() - t0) * 1e3)
            ray.kill(a)
        samples.sort()
        record("actor_create_sync_ms_p50", samples[len(samples) // 2], 0, "ms",
               "(create + first call, one at a time)")
        record("actor_create_sync_ms_p90", samples[min(len(samples) - 1, len(samples) * 9 // 10)], 0, "ms")
        run_ray_large_values(ray)
    finally:
        ray.shutdown()


def run_ray_large_values(ray):
    """task_arg_gigabytes and single_client_get_gigabytes, as Lumen's
    microbenchmarks measure them: a 1 GiB float64 array (ones: written pages)
    ray.put once; a task summing it (numpy reads it in place from the object
    store), and ray.get of it (a zero-copy view). GB/s = bytes / (task round
    trip | get)."""
    import numpy as np

    @ray.remote
    def sum_array(a):
        return float(a.sum())

    n = (1 << 30) // 8
    ref = ray.put(np.full(n, 1.0))
    gb = n * 8 / 1e9
    note = "(1024 MiB float64 array, ray.put once)"

    def task():
        if ray.get(sum_array.remote(ref)) != n:
            raise RuntimeError("a task summed the argument wrongly")

    timeit("task_arg_gigabytes", task, gb, "GB/s", "(task summing a numpy array argument) " + note)
    timeit("single_client_get_gigabytes", lambda: ray.get(ref), gb, "GB/s", "(ray.get: a numpy view) " + note)
    del ref


def run_ray_perf_quick():
    import numpy as np
    import ray._private.ray_perf as ray_perf

    def quick_timeit(name, fn, multiplier=1, warmup_time_sec=10):
        if "async-actor" in name:
            return [None]
        start = time.perf_counter()
        count = 0
        while time.perf_counter() - start < 0.2 or count == 0:
            fn()
            count += 1
        step = count // 10 + 1
        stats = []
        for _ in range(2):
            start = time.perf_counter()
            count = 0
            while time.perf_counter() - start < 1:
                for _ in range(step):
                    fn()
                count += step
            stats.append(multiplier * count / (time.perf_counter() - start))
        mean, sd = float(np.mean(stats)), float(np.std(stats))
        print(name, "per second", round(mean, 2), "+-", round(sd, 2), flush=True)
        return [(name, mean, sd)]

    ray_perf.timeit = quick_timeit
    ray_perf.client_microbenchmark_main = lambda results=None: results
    ray_perf.main()


def main():
    global QUICK, STARTUPS, LATENCY_RUNS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("system", choices=["mp", "joblib", "dask", "ray", "ray-perf-quick"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    QUICK = args.quick
    if QUICK:
        STARTUPS, LATENCY_RUNS = 5, 3
    {"mp": run_mp, "joblib": run_joblib, "dask": run_dask, "ray": run_ray,
     "ray-perf-quick": run_ray_perf_quick}[args.system]()
    if args.json:
        out = dict(RESULTS)
        out["units"] = UNITS
        out["notes"] = NOTES
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
