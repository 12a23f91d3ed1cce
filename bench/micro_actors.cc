// Actor benchmarks: ray_perf.py's 1:1, 1:n and n:n shapes, sync call latency
// and actor creation time.
#include <ray/api.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "micro_groups.h"
#include "micro_remote.h"

using bench::Percentile;
using micro::AnySelected;
using micro::Clock;
using micro::Durations;
using micro::Guarded;
using micro::Latencies;
using micro::Record;
using micro::Selected;
using micro::Since;
using micro::Timeit;

namespace {

std::vector<ray::ActorHandle<BenchActor>> MakeActors(int n) {
  std::vector<ray::ActorHandle<BenchActor>> actors;
  for (int i = 0; i < n; ++i) actors.push_back(ray::Actor(BenchActor::Create).Remote());
  // Wait until every actor answers, so creation is not part of the timing.
  std::vector<ray::ObjectRef<int>> ready;
  for (auto &a : actors) ready.push_back(a.Task(&BenchActor::SmallValue).Remote());
  ray::Get(ready);
  return actors;
}
}  // namespace

void RunActorBenchmarks(const ActorSizes &z) {
  const std::string n_actors = "n=" + std::to_string(z.num_actors) + " actors";
  const std::string n_note = "(" + n_actors + ")";

  if (AnySelected({"1_1_actor_calls_sync", "1_1_actor_calls_async", "sync_actor_call_latency_us"})) {
    Guarded("1_1_actor_calls_*", [&] {
      std::vector<ray::ActorHandle<BenchActor>> a = MakeActors(1);
      Timeit(
          "1_1_actor_calls_sync",
          [&] {
            a[0].Task(&BenchActor::SmallValue).Remote().Get();
            return 1.0;
          },
          z.small, "calls/s");
      Timeit(
          "1_1_actor_calls_async",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            refs.reserve(z.async_batch);
            for (int i = 0; i < z.async_batch; ++i)
              refs.push_back(a[0].Task(&BenchActor::SmallValue).Remote());
            ray::Get(refs);
            return static_cast<double>(z.async_batch);
          },
          z.small, "calls/s");
      Latencies(
          "sync_actor_call_latency_us", [&] { a[0].Task(&BenchActor::SmallValue).Remote().Get(); },
          z.latency_samples, z.latency_runs);
      KillAll(a);
    });
  }

  if (Selected("1_1_actor_calls_concurrent")) {
    Guarded("1_1_actor_calls_concurrent", [&] {
      std::vector<ray::ActorHandle<BenchActor>> a;
      a.push_back(ray::Actor(BenchActor::Create).SetMaxConcurrency(16).Remote());
      a[0].Task(&BenchActor::SmallValue).Remote().Get();
      Timeit(
          "1_1_actor_calls_concurrent",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            refs.reserve(z.async_batch);
            for (int i = 0; i < z.async_batch; ++i)
              refs.push_back(a[0].Task(&BenchActor::SmallValue).Remote());
            ray::Get(refs);
            return static_cast<double>(z.async_batch);
          },
          z.small, "calls/s");
      KillAll(a);
    });
  }

  // One Client actor calls n actors, one_n_calls each, and gets them all.
  if (Selected("1_n_actor_calls_async")) {
    Guarded("1_n_actor_calls_async", [&] {
      std::vector<ray::ActorHandle<BenchActor>> servers = MakeActors(z.num_actors);
      ray::ActorHandle<BenchClient> client = ray::Actor(BenchClient::Create).Remote(servers);
      Timeit(
          "1_n_actor_calls_async",
          [&] {
            client.Task(&BenchClient::SmallValueBatch).Remote(z.one_n_calls).Get();
            return static_cast<double>(z.one_n_calls) * servers.size();
          },
          z.small, "calls/s", n_note);
      client.Kill();
      KillAll(servers);
    });
  }

  // n_n_tasks caller tasks, each making n_n_calls calls round-robin over n actors.
  if (Selected("n_n_actor_calls_async")) {
    Guarded("n_n_actor_calls_async", [&] {
      std::vector<ray::ActorHandle<BenchActor>> actors = MakeActors(z.num_actors);
      Timeit(
          "n_n_actor_calls_async",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            for (int t = 0; t < z.n_n_tasks; ++t)
              refs.push_back(ray::Task(ActorCallsWork).Remote(actors, z.n_n_calls));
            ray::Get(refs);
            return static_cast<double>(z.n_n_tasks) * z.n_n_calls;
          },
          z.small, "calls/s", "(" + n_actors + ", " + std::to_string(z.n_n_tasks) + " caller tasks)");
      KillAll(actors);
    });
  }

  // n Client actors, each with its own server actor, passing a ray::Put(0) ref.
  if (Selected("n_n_actor_calls_with_arg_async")) {
    Guarded("n_n_actor_calls_with_arg_async", [&] {
      std::vector<ray::ActorHandle<BenchActor>> servers = MakeActors(z.num_actors);
      std::vector<ray::ActorHandle<BenchClient>> clients;
      for (auto &s : servers) {
        clients.push_back(
            ray::Actor(BenchClient::Create).Remote(std::vector<ray::ActorHandle<BenchActor>>{s}));
      }
      Timeit(
          "n_n_actor_calls_with_arg_async",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            for (auto &c : clients)
              refs.push_back(c.Task(&BenchClient::SmallValueBatchArg).Remote(z.with_arg_calls));
            ray::Get(refs);
            return static_cast<double>(z.with_arg_calls) * clients.size();
          },
          z.small, "calls/s", n_note);
      KillAll(clients);
      KillAll(servers);
    });
  }

  // Create an actor, wait for the answer to its first call, kill it; repeat.
  if (Selected("actor_create_sync_ms")) {
    Guarded("actor_create_sync_ms", [&] {
      std::vector<double> ms;
      for (int i = 0; i < z.creations; ++i) {
        auto t0 = Clock::now();
        ray::ActorHandle<BenchActor> a = ray::Actor(BenchActor::Create).Remote();
        a.Task(&BenchActor::SmallValue).Remote().Get();
        ms.push_back(Since(t0) * 1e3);
        a.Kill();
      }
      std::sort(ms.begin(), ms.end());
      std::string note = "(" + std::to_string(z.creations) + " actors, create + first call, one at a time)";
      Record("actor_create_sync_ms p50", Percentile(ms, 0.50), 0, "ms", note);
      Record("actor_create_sync_ms p90", Percentile(ms, 0.90), 0, "ms");
    });
  }
}
