// Lumen microbenchmarks, named and measured like Ray's ray_perf.py: each
// benchmark warms up, then runs several timed trials of a fixed duration and
// reports the mean and standard deviation of the per-second rate.
//
//   microbenchmarks [--quick] [--json PATH] [--put-mib N (800)] [--filter S[,S...]]
//                   [--actors N] [--startups N]
//
// --startups sets how many fresh clusters the start-up figures take the median
// of (default 10, --quick 5); bench/compare gives Ray's C++ driver 1.
// --filter runs only the benchmarks whose name contains one of the given
// substrings (e.g. `--filter actor`). --actors sets n for the 1:n and n:n actor
// benchmarks (default: the number of CPUs the machine reports; Ray's ray_perf.py
// uses cpu_count() // 2). The actor benchmarks follow ray_perf.py's shapes:
//   1_1_actor_calls_sync        Get(actor.SmallValue()) one call at a time
//   1_1_actor_calls_async       batches of 1000 calls to one actor, then Get all
//   1_1_actor_calls_concurrent  the same on an actor with SetMaxConcurrency(16)
//   1_n_actor_calls_async       one client actor calls each of n actors k times, Gets all
//   n_n_actor_calls_async       4 tasks each make k calls round-robin over n actors
//   n_n_actor_calls_with_arg_async  n client actors, each with its own server
//                               actor, k calls each passing a ray::Put(0) ref
// plus sync_actor_call_latency_us p50/p99 and actor_create_sync_ms (create an
// actor, Get its first call's result, kill it; one at a time).
// Resources: placement_group_create/removal (Ray's name: one-bundle groups
// created, waited for and removed, in batches), and
// single_client_tasks_async_{fractional_cpu,custom_resource,in_placement_group}
// (the async task benchmark with a resource request on every task).
//
// More of ray_perf.py: single_client_tasks_and_get_batch (1000 tasks, Get; batches/s),
// single_client_wait_1k_refs (1000 tasks, then Wait for one at a time; rounds/s),
// single_client_get_object_containing_10k_refs (Get of a task result holding 10k
// refs; gets/s), multi_client_put_calls (10 tasks x 100 Put(0)),
// multi_client_put_gigabytes (10 tasks x 10 puts of 80 MiB; GB/s) and
// multi_client_tasks_async (4 client actors each submitting and getting k tasks).
// Start-up and footprint: worker_cold_start_ms (first task on a fresh cluster),
// init_to_first_result_ms (ray::Init -> first result), idle_worker_rss_mb and
// idle_worker_pss_mb (/proc of a worker waiting for work).
// Large values (Lumen only; see RunLargeValueBenchmarks): task_arg_gigabytes
// (a task summing a 1 GiB ray::Buffer<double> argument Put once; GB/s per task
// round trip), single_client_get_gigabytes (ray::Get of it as a Buffer), and
// their _vector variants (the same through std::vector<double>, which copies).
//
// --json writes Ray's microbenchmark JSON: {key: [mean, sd], "perf_metrics": [...]}
// with Ray's keys (spaces, ':' and '-' -> '_', no parentheses), plus "units" and
// "notes" maps. bench/compare sets these figures beside Ray's.
//
// Not a test: it asserts nothing beyond the results being readable.#include <ray/api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_stats.h"
#include "micro_groups.h"
#include "micro_harness.h"
#include "micro_remote.h"

using bench::MedianSd;
using micro::AnySelected;
using micro::Clock;
using micro::Durations;
using micro::Latencies;
using micro::Record;
using micro::Selected;
using micro::Since;
using micro::Timeit;

int main(int argc, char **argv) {
  bool quick = false;
  std::string json_path;
  size_t put_mib = 800;  // Ray: np.zeros(100Mi, int64) = 800 MiB
  int num_actors = static_cast<int>(std::thread::hardware_concurrency());
  int startups = -1;
  std::vector<std::string> filters;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      json_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--put-mib") && i + 1 < argc) {
      put_mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--actors") && i + 1 < argc) {
      num_actors = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--startups") && i + 1 < argc) {
      startups = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) {
      std::string list = argv[++i];
      size_t pos = 0;
      while (pos <= list.size()) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        if (comma > pos) filters.push_back(list.substr(pos, comma - pos));
        pos = comma + 1;
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--quick] [--json PATH] [--put-mib N] [--filter SUBSTRING[,SUBSTRING...]] "
                   "[--actors N] [--startups N]\n",
                   argv[0]);
      return 2;
    }
  }
  num_actors = std::max(1, num_actors);
  micro::SetFilters(std::move(filters));
  // Ray's timeit: 1 s warm-up, then 4 runs of 2 s; --quick shortens both.
  const Durations small = quick ? Durations{0.3, 1.0, 3} : Durations{1.0, 2.0, 4};
  const Durations big = quick ? Durations{0.0, 1.0, 3} : Durations{1.0, 3.0, 4};
  const int async_batch = quick ? 1000 : 10000;
  const int latency_samples = quick ? 500 : 5000;
  const int latency_runs = quick ? 3 : 5;
  // Init -> first result is one sample per cluster start: take several.
  if (startups < 0) startups = quick ? 5 : 10;
  const size_t put_bytes = put_mib << 20;
  ActorSizes actor_sizes;
  actor_sizes.small = small;
  actor_sizes.async_batch = 1000;
  actor_sizes.one_n_calls = quick ? 1000 : 5000;
  actor_sizes.n_n_tasks = 4;
  actor_sizes.n_n_calls = quick ? 1000 : 5000;
  actor_sizes.with_arg_calls = quick ? 500 : 1000;
  actor_sizes.latency_samples = latency_samples;
  actor_sizes.latency_runs = latency_runs;
  actor_sizes.creations = quick ? 10 : 50;
  actor_sizes.num_actors = num_actors;

  std::printf("Lumen microbenchmarks (%s mode; mean +- std over %d trials of %.1f s)\n",
              quick ? "quick" : "full", small.trials, small.trial_s);
  std::printf("%-36s %14s    %-12s %s\n", "name", "value", "std", "unit");

  // Physical floor: memcpy between two pre-faulted buffers, in this process.
  if (Selected("memcpy_gigabytes_floor")) {
    std::vector<uint8_t> src(put_bytes, 1), dst(put_bytes, 0);
    Timeit(
        "memcpy_gigabytes_floor",
        [&] {
          std::memcpy(dst.data(), src.data(), put_bytes);
          return static_cast<double>(put_bytes) / 1e9;
        },
        big, "GB/s");
  }

  ray::RayConfig cfg;
  // "custom" is the resource Ray's placement-group benchmark reserves from.
  cfg.head_args = {"--object-store-memory=4000000000", "--resources={\"custom\":100}"};

  // Fresh clusters: time to the first task result, over several starts. The
  // last one stays up for the benchmarks below (so --startups 1 never starts
  // a second cluster in this process).
  const bool time_starts = AnySelected({"worker_cold_start_ms", "init_to_first_result_ms"});
  std::vector<double> cold_ms, init_first_ms;
  for (int i = 0, n = time_starts ? startups : 1; i < n; ++i) {
    auto init0 = Clock::now();
    ray::Init(cfg);
    auto init1 = Clock::now();
    int first = *ray::Task(Noop).Remote().Get();
    cold_ms.push_back(Since(init1) * 1e3);
    init_first_ms.push_back(Since(init0) * 1e3);
    if (first != 0) return 1;
    if (i + 1 < n) ray::Shutdown();
  }
  const std::string of = " (median of " + std::to_string(cold_ms.size()) + " cluster starts)";
  if (Selected("worker_cold_start_ms")) {
    auto [median, sd] = MedianSd(cold_ms);
    Record("worker_cold_start_ms", median, sd, "ms",
           "(first task on a fresh cluster: submit -> result)" + of);
  }
  if (Selected("init_to_first_result_ms")) {
    auto [median, sd] = MedianSd(init_first_ms);
    Record("init_to_first_result_ms", median, sd, "ms", "(ray::Init -> first task result)" + of);
  }

  Timeit(
      "single_client_tasks_sync",
      [] {
        ray::Task(Noop).Remote().Get();
        return 1.0;
      },
      small, "tasks/s");

  Timeit(
      "single_client_tasks_async",
      [&] {
        std::vector<ray::ObjectRef<int>> refs;
        refs.reserve(async_batch);
        for (int i = 0; i < async_batch; ++i) refs.push_back(ray::Task(Noop).Remote());
        ray::Get(refs);
        return static_cast<double>(async_batch);
      },
      small, "tasks/s");

  Timeit(
      "single_client_put_calls",
      [] {
        ray::Put(0);
        return 1.0;
      },
      small, "calls/s");

  if (Selected("single_client_get_calls")) {
    ray::ObjectRef<int> ref = ray::Put(0);
    Timeit(
        "single_client_get_calls",
        [&] {
          ray::Get(ref);
          return 1.0;
        },
        small, "calls/s");
  }

  {
    std::string name = "single_client_put_gigabytes";
    if (put_mib != 800) name += " (" + std::to_string(put_mib) + " MiB objects)";
    if (Selected(name)) {
      ZeroBytes payload(put_bytes);  // Ray's np.zeros(100Mi, int64)
      Timeit(
          name,
          [&] {
            ray::Put(payload);
            return static_cast<double>(put_bytes) / 1e9;
          },
          big, "GB/s");
    }
  }

  RunLargeValueBenchmarks(big, size_t{1} << 30);

  Latencies(
      "sync_task_latency_us", [] { ray::Task(Noop).Remote().Get(); }, latency_samples, latency_runs);

  ExtraSizes extra_sizes;
  extra_sizes.small = small;
  extra_sizes.big = big;
  extra_sizes.batch = 1000;
  extra_sizes.multi_clients = 4;
  extra_sizes.multi_client_tasks = quick ? 1000 : 10000;
  extra_sizes.containing_refs = 10000;
  extra_sizes.put_tasks = 10;
  extra_sizes.large_puts = 10;
  extra_sizes.large_bytes = int64_t{80} << 20;
  RunIdleWorkerMemory();
  RunRayShapeExtras(extra_sizes);

  RunResourceBenchmarks(small, quick ? 1000 : async_batch, quick ? 20 : 100);

  RunActorBenchmarks(actor_sizes);
  RunMultiClientTasks(extra_sizes);

  ray::Shutdown();
  if (!json_path.empty()) {
    micro::WriteJson(json_path);
    std::printf("wrote %s\n", json_path.c_str());
  }
  return 0;
}
