#!/usr/bin/env python3
"""torch.distributed's Gloo all-reduce, measured as bench/collective_bench.cc
measures Lumen's: in-place float32 sum, a barrier before each iteration, the
median of each rank's median iteration time, bus bandwidth 2(N-1)/N * S / t.

  python3 bench/collective_torch.py [--world N] [--quick] [--json PATH]

Needs Debian's python3-torch; prints a line and exits 0 without it.
"""
import argparse
import json
import os
import statistics
import sys
import time


def size_name(nbytes):
    return f"{nbytes >> 20}MiB" if nbytes >= 1 << 20 else f"{nbytes >> 10}KiB"


def member(rank, world, sizes, port, queue):
    import torch
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results = {}
    for nbytes in sizes:
        iterations = 5 if nbytes >= 64 << 20 else 20 if nbytes >= 1 << 20 else 200
        data = torch.ones(nbytes // 4, dtype=torch.float32)
        dist.all_reduce(data)
        times = []
        for _ in range(iterations):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(data)
            times.append(time.perf_counter() - start)
        results[nbytes] = statistics.median(times)
    queue.put((rank, results))
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    try:
        import torch.multiprocessing as mp
    except ImportError:
        print("collective_torch: python3-torch is not installed; skipped")
        return 0
    top = (16 << 20) if args.quick else (256 << 20)
    sizes = []
    n = 4 << 10
    while n <= top:
        sizes.append(n)
        n *= 4
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=member, args=(r, args.world, sizes, port, queue)) for r in range(args.world)]
    for p in procs:
        p.start()
    per_rank = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    w = args.world
    print(f"torch.distributed gloo, world {w}")
    print(f"{'size':<10} {'time_us':>12} {'busbw_GB/s':>12}")
    out = {}
    for nbytes in sizes:
        t = statistics.median(r[1][nbytes] for r in per_rank)
        busbw = 2.0 * (w - 1) / w * nbytes / t / 1e9
        print(f"{size_name(nbytes):<10} {t * 1e6:12.1f} {busbw:12.3f}")
        out[f"torch_allreduce_busbw_{size_name(nbytes)}"] = [busbw, 0]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
