// The microbenchmarks' groups beyond the plain task and put figures that
// main() runs itself, one function per group, and the sizes they take. Each
// group records its figures with micro::Record; a group that throws is
// reported and skipped (micro::Guarded).
#pragma once

#include <ray/api.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

#include "micro_harness.h"

struct ActorSizes {
  micro::Durations small;
  int async_batch;      // 1:1 async and concurrent: calls in flight per batch (Ray: 1000)
  int one_n_calls;      // 1:n: calls to each actor per batch (Ray: 5000)
  int n_n_tasks;        // n:n: caller tasks (Ray: 4)
  int n_n_calls;        // n:n: calls per caller task (Ray: 5000)
  int with_arg_calls;   // n:n with arg: calls per client actor (Ray: 1000)
  int latency_samples;  // sync actor call latency: calls per run
  int latency_runs;     // ... and runs
  int creations;        // actor_create_sync repetitions
  int num_actors;       // n of the 1:n and n:n benchmarks
};

// Ray's actor benchmarks (ray_perf.py shapes) plus Lumen's latency percentiles
// and actor creation time (micro_actors.cc).
void RunActorBenchmarks(const ActorSizes &z);

// Sizes of the ray_perf.py shapes that RunRayShapeExtras runs.
struct ExtraSizes {
  micro::Durations small;
  micro::Durations big;
  int batch;               // tasks_and_get_batch and wait_1k_refs: tasks per round (Ray: 1000)
  int multi_clients;       // multi_client_tasks_async: client actors (Ray: 4)
  int multi_client_tasks;  // multi_client_tasks_async: tasks per client per round (Ray: 10000)
  int containing_refs;     // get_object_containing_10k_refs: refs in the object (Ray: 10000)
  int put_tasks;           // multi_client_put_*: tasks per round (Ray: 10)
  int large_puts;          // multi_client_put_gigabytes: puts per task (Ray: 10)
  int64_t large_bytes;     // multi_client_put_gigabytes: bytes per put (Ray: 80 MiB)
};

// The ray_perf.py benchmarks beyond plain tasks, puts and actors: batches,
// several submitting clients, ray.wait, gets of objects holding refs, and puts
// from several tasks at once (micro_shapes.cc).
void RunRayShapeExtras(const ExtraSizes &z);

// ray_perf.py's multi_client_tasks_async: client actors, each submitting a batch
// of tasks and getting them. Run last: after its client actors are killed, the
// node does not always grant new task leases (the leases those actors held are
// not reclaimed), so anything after it could wait forever.
void RunMultiClientTasks(const ExtraSizes &z);

// A 1 GiB object read by tasks and Gets, as a ray::Buffer and as a std::vector
// (Lumen only; does nothing against Ray's headers, which have no ray::Buffer).
void RunLargeValueBenchmarks(const micro::Durations &d, size_t bytes);

// Memory of an idle worker (VmRSS and Pss of a worker waiting for work).
void RunIdleWorkerMemory();

// Scheduling with resource requests, and Ray's placement_group_create/removal.
void RunResourceBenchmarks(const micro::Durations &d, int batch, int groups);

// Kills every actor, ignoring errors (the benchmarks clean up after themselves).
template <typename T>
void KillAll(std::vector<ray::ActorHandle<T>> &actors) {
  for (auto &a : actors) {
    try {
      a.Kill();
    } catch (const std::exception &) {
    }
  }
  actors.clear();
}
