"""Ray's side of bench/cluster_compare: bench/cluster_bench.cc's measures on a
three-node Ray cluster on this machine (ray.cluster_utils.Cluster: node A the
head with resource "A", B and C with "B"/"C" and one "pool" each, each its own
raylet and object store), with Ray's Python API.

    python cluster_compare_ray.py ROUNDS STORE_BYTES

Prints one JSON object: {key: [median, sd], "units": {...}} (no floor: the
C++ tool measures it once for both).
"""
import json
import statistics
import sys
import time

import numpy as np
import ray
from ray.cluster_utils import Cluster

GIB = 1 << 30


def med_sd(samples):
    return [statistics.median(samples), statistics.stdev(samples) if len(samples) > 1 else 0.0]


@ray.remote
def size(a):
    return a.nbytes + int(a[a.size // 2])


@ray.remote
def nothing():
    return 0


@ray.remote
def node_id():
    return ray.get_runtime_context().get_node_id()


@ray.remote(max_restarts=1, resources={"pool": 1}, num_cpus=0)
class Survivor:
    def where(self):
        return ray.get_runtime_context().get_node_id()


def main():
    rounds, store = int(sys.argv[1]), int(sys.argv[2])
    cluster = Cluster(initialize_head=True,
                      head_node_args=dict(num_cpus=2, resources={"A": 1000}, object_store_memory=store))
    nodes = {"B": cluster.add_node(num_cpus=2, resources={"B": 1000, "pool": 1}, object_store_memory=store),
             "C": cluster.add_node(num_cpus=2, resources={"C": 1000, "pool": 1}, object_store_memory=store)}
    ray.init(address=cluster.address, logging_level="ERROR")
    cluster.wait_for_nodes()
    out, units = {}, {}

    transfer = []
    for r in range(rounds):
        ref = ray.put(np.full(GIB // 8, r, dtype=np.int64))
        start = time.perf_counter()
        ray.get(size.options(resources={"B": 0.001}).remote(ref))
        transfer.append(GIB / 1e9 / (time.perf_counter() - start))
        del ref
    out["cross_node_transfer_gigabytes"], units["cross_node_transfer_gigabytes"] = med_sd(transfer), "GB/s"

    broadcast = []
    for r in range(rounds):
        ref = ray.put(np.full(GIB // 8, r + 10, dtype=np.int64))
        start = time.perf_counter()
        ray.get([size.options(resources={"B": 0.001}).remote(ref), size.options(resources={"C": 0.001}).remote(ref)])
        broadcast.append(time.perf_counter() - start)
        del ref
    out["broadcast_1gib_seconds"], units["broadcast_1gib_seconds"] = med_sd(broadcast), "s"

    tasks, n = [], 3000
    for r in range(rounds + 1):  # round 0 warms each node's workers up
        start = time.perf_counter()
        ray.get([nothing.options(resources={"ABC"[i % 3]: 0.001}).remote() for i in range(n)])
        if r > 0:
            tasks.append(n / (time.perf_counter() - start))
    out["tasks_across_3_nodes"], units["tasks_across_3_nodes"] = med_sd(tasks), "tasks/s"

    b = ray.get(node_id.options(resources={"B": 0.001}).remote())
    survivor = Survivor.remote()
    first = ray.get(survivor.where.remote())
    start = time.perf_counter()
    cluster.remove_node(nodes["B"] if first == b else nodes["C"], allow_graceful=False)
    deadline = start + 300
    while time.perf_counter() < deadline:
        try:
            if ray.get(survivor.where.remote(), timeout=max(1.0, deadline - time.perf_counter())) != first:
                break
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
            pass
    out["node_death_to_actor_answer_ms"] = [(time.perf_counter() - start) * 1000, 0.0]
    units["node_death_to_actor_answer_ms"] = "ms"

    out["units"] = units
    print(json.dumps(out))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
