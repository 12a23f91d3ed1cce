#!/usr/bin/env python3
"""The seed's two data-heavy shapes in Python, for bench/compare (the C++ side
is bench/seed_shapes.cc, run on Lumen and on Ray C++).

    seed_shapes.py SYSTEM [--quick] [--small] [--repeat R] [--json PATH]

SYSTEM is one of:
  ray     Ray Python with numpy: ray.put once, then one task per filter or keyword
  mp      multiprocessing: Pool(ncpu); the matrix copied once into a
          multiprocessing.shared_memory segment that each task maps by name, the
          corpus pickled into every task's arguments (as apply_async does)

Both shapes, with the sizes and work of seed_shapes.cc:
  seed_matrix_filters  a 2048 x 2048 float64 matrix, 16 tasks: filter i is kind
                       i % 4 with factor k = 1 + i // 4 (scale by k; 3x3 box blur
                       x k; threshold at 0.1 k to 1/0; |4-neighbour Laplacian| x k;
                       edges clamped), each returning (i, sum, min, max); vectorised
                       with numpy
  seed_keyword_search  200 documents of 20,000 space-separated words (a list of
                       str), one task per keyword (16), each counting the keyword's
                       whole-word occurrences in every document

Each shape runs R times (default 5, --quick 3): Put + submit + get of every
result (the wall time), then the same functions serially in this process (the
serial time). Records the medians and speed-up = serial / tasks under the keys
<shape>_s, <shape>_serial_s and <shape>_speedup, in the JSON format of
baselines.py. Exits 1 if a task's result differs from the serial one.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

os.environ["RAY_ADDRESS"] = "local"  # a fresh local Ray (see baselines.py)

NCPU = os.cpu_count() or 2
NUM_FILTERS = 16
# seed_shapes.cc's kWords and keywords.
WORDS = ["the", "of", "and", "to", "in", "is", "ray", "task", "actor", "object", "store", "node", "cluster",
         "worker", "driver", "gpu", "cpu", "model", "train", "tune", "data", "queue", "lease", "spill", "grpc",
         "plasma", "raylet", "serve", "memory", "put", "get", "wait", "remote", "future"]
KEYWORDS = ["ray", "actor", "object", "cluster", "worker", "gpu", "spill", "grpc", "plasma", "raylet", "train",
            "tune", "serve", "lease", "queue", "future"]
RESULTS, UNITS, NOTES = {}, {}, {}


def make_matrix(n):
    return np.random.default_rng(0x9E3779B9).random((n, n))


def apply_filter(m, fid):
    """seed_shapes.cc's Filter, vectorised: kind fid % 4, factor 1 + fid // 4."""
    kind, k = fid % 4, 1 + fid // 4
    n = m.shape[0]
    if kind == 0:
        out = m * k
    elif kind == 1:
        p = np.pad(m, 1, mode="edge")
        s = np.zeros_like(m)
        for dr in range(3):
            for dc in range(3):
                s += p[dr:dr + n, dc:dc + n]
        out = s / 9 * k
    elif kind == 2:
        out = (m >= 0.1 * k).astype(np.float64)
    else:
        p = np.pad(m, 1, mode="edge")
        out = np.abs(4 * m - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]) * k
    return fid, float(out.sum()), float(out.min()), float(out.max())


def make_corpus(docs, words):
    rng = np.random.default_rng(0x243F6A88)
    vocab = np.array(WORDS)
    idx = np.minimum(rng.integers(0, len(WORDS), (docs, words)), rng.integers(0, len(WORDS), (docs, words)))
    return [" ".join(vocab[row].tolist()) for row in idx]


def count(corpus, keyword):
    """Whole-word occurrences: a document is words joined by single spaces, so
    its words are doc.split(" ") (the plainest and, measured here, the fastest
    of split, a \\b regex and a look-around regex)."""
    return sum(doc.split(" ").count(keyword) for doc in corpus)


def record(key, value, sd, unit, note=None):
    RESULTS[key] = [value, sd]
    UNITS[key] = unit
    if note:
        NOTES[key] = note
    print(f"{key:44s} {value:14.4f} +- {sd:<10.4f} {unit}{'  ' + note if note else ''}", flush=True)


def measure(shape, repeat, run_tasks, run_serial, what):
    """R rounds of tasks then serial; records the medians and the speed-up."""
    task_s, serial_s = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        got = run_tasks()
        task_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        want = run_serial()
        serial_s.append(time.perf_counter() - t0)
        if list(got) != list(want):
            raise SystemExit(f"{shape}: a task's result differs from the serial computation")
    t, s = statistics.median(task_s), statistics.median(serial_s)
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0  # noqa: E731
    note = f"(median of {repeat}; {what})"
    record(f"{shape}_s", t, sd(task_s), "s", note)
    record(f"{shape}_serial_s", s, sd(serial_s), "s", "(the same functions serially in the driver)")
    record(f"{shape}_speedup", s / t, 0.0, "x", "(serial / tasks)")


# ---------------------------------------------------------------- Ray (Python)

def run_ray(n, docs, words, repeat):
    import ray

    ray.init(include_dashboard=False, logging_level="ERROR")
    try:
        remote_filter = ray.remote(apply_filter)
        remote_count = ray.remote(count)
        m = make_matrix(n)

        def matrix_tasks():
            ref = ray.put(m)
            return ray.get([remote_filter.remote(ref, i) for i in range(NUM_FILTERS)])

        measure("seed_matrix_filters", repeat, matrix_tasks, lambda: [apply_filter(m, i) for i in range(NUM_FILTERS)],
                "ray.put of the numpy matrix, 16 tasks read it in place")
        corpus = make_corpus(docs, words)

        def keyword_tasks():
            ref = ray.put(corpus)
            return ray.get([remote_count.remote(ref, k) for k in KEYWORDS])

        measure("seed_keyword_search", repeat, keyword_tasks, lambda: [count(corpus, k) for k in KEYWORDS],
                "ray.put of the list of str, each task unpickles it")
    finally:
        ray.shutdown()


# ---------------------------------------------------------------- multiprocessing

def _filter_shared(name, shape, fid):
    from multiprocessing import resource_tracker, shared_memory

    seg = shared_memory.SharedMemory(name=name)
    # The driver owns the segment: keep this process's tracker from unlinking it.
    resource_tracker.unregister(seg._name, "shared_memory")  # noqa: SLF001
    try:
        m = np.ndarray(shape, dtype=np.float64, buffer=seg.buf)
        out = apply_filter(m, fid)
        del m
        return out
    finally:
        seg.close()


def run_mp(n, docs, words, repeat):
    import multiprocessing as mproc
    from multiprocessing import shared_memory

    pool = mproc.get_context("fork").Pool(NCPU)
    try:
        pool.apply(os.getpid)  # the workers are up before timing, as Ray's are after init
        m = make_matrix(n)

        def matrix_tasks():
            seg = shared_memory.SharedMemory(create=True, size=m.nbytes)
            try:
                np.copyto(np.ndarray(m.shape, dtype=m.dtype, buffer=seg.buf), m)  # the "put"
                rs = [pool.apply_async(_filter_shared, (seg.name, m.shape, i)) for i in range(NUM_FILTERS)]
                return [r.get() for r in rs]
            finally:
                seg.close()
                seg.unlink()

        measure("seed_matrix_filters", repeat, matrix_tasks, lambda: [apply_filter(m, i) for i in range(NUM_FILTERS)],
                f"matrix copied once into shared_memory, Pool({NCPU}) tasks map it by name")
        corpus = make_corpus(docs, words)

        def keyword_tasks():
            rs = [pool.apply_async(count, (corpus, k)) for k in KEYWORDS]
            return [r.get() for r in rs]

        measure("seed_keyword_search", repeat, keyword_tasks, lambda: [count(corpus, k) for k in KEYWORDS],
                f"Pool({NCPU}).apply_async(count, (corpus, keyword)): the corpus pickled per task")
    finally:
        pool.close()
        pool.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("system", choices=["ray", "mp"])
    ap.add_argument("--quick", action="store_true", help="3 rounds instead of 5")
    ap.add_argument("--small", action="store_true", help="256 x 256 matrix, 20 documents of 2,000 words")
    ap.add_argument("--repeat", type=int)
    ap.add_argument("--json")
    args = ap.parse_args()
    repeat = args.repeat or (3 if args.quick else 5)
    n, docs, words = (256, 20, 2000) if args.small else (2048, 200, 20000)
    {"ray": run_ray, "mp": run_mp}[args.system](n, docs, words, repeat)
    if args.json:
        out = dict(RESULTS)
        out["units"], out["notes"] = UNITS, NOTES
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
