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
// Not a test: it asserts nothing beyond the results being readable.
#include <ray/api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "bench_stats.h"

using Clock = std::chrono::steady_clock;

static int Noop() { return 0; }
RAY_REMOTE(Noop);

// Ray's ray_perf.py `Actor`: small_value / small_value_arg.
class BenchActor {
 public:
  static BenchActor *Create() { return new BenchActor(); }
  int SmallValue() { return 0; }
  int SmallValueArg(int /*x*/) { return 0; }
};
RAY_REMOTE(BenchActor::Create, &BenchActor::SmallValue, &BenchActor::SmallValueArg);

// Ray's ray_perf.py `Client`: an actor that drives its server actors.
class BenchClient {
 public:
  explicit BenchClient(std::vector<ray::ActorHandle<BenchActor>> servers) : servers_(std::move(servers)) {}
  static BenchClient *Create(std::vector<ray::ActorHandle<BenchActor>> servers) {
    return new BenchClient(std::move(servers));
  }

  // n calls to every server, then one Get over all of them.
  int SmallValueBatch(int n) {
    std::vector<ray::ObjectRef<int>> refs;
    refs.reserve(servers_.size() * n);
    for (auto &s : servers_) {
      for (int i = 0; i < n; ++i) refs.push_back(s.Task(&BenchActor::SmallValue).Remote());
    }
    ray::Get(refs);
    return static_cast<int>(refs.size());
  }

  // Same, each call passing a ray::Put(0) reference as its argument.
  int SmallValueBatchArg(int n) {
    ray::ObjectRef<int> x = ray::Put(0);
    std::vector<ray::ObjectRef<int>> refs;
    refs.reserve(servers_.size() * n);
    for (auto &s : servers_) {
      for (int i = 0; i < n; ++i) refs.push_back(s.Task(&BenchActor::SmallValueArg).Remote(x));
    }
    ray::Get(refs);
    return static_cast<int>(refs.size());
  }

 private:
  std::vector<ray::ActorHandle<BenchActor>> servers_;
};
RAY_REMOTE(BenchClient::Create, &BenchClient::SmallValueBatch, &BenchClient::SmallValueBatchArg);

// Ray's n:n `work` task: n calls spread round-robin over all the actors.
static int ActorCallsWork(std::vector<ray::ActorHandle<BenchActor>> actors, int n) {
  std::vector<ray::ObjectRef<int>> refs;
  refs.reserve(n);
  for (int i = 0; i < n; ++i)
    refs.push_back(actors[i % actors.size()].Task(&BenchActor::SmallValue).Remote());
  ray::Get(refs);
  return n;
}
RAY_REMOTE(ActorCallsWork);

// ray_perf.py's multi_client_put_calls `do_put_small`: 100 small puts in a task.
static int PutSmallMany() {
  for (int i = 0; i < 100; ++i) ray::Put(0);
  return 100;
}
RAY_REMOTE(PutSmallMany);

// The put benchmarks' payload, made the way Ray's np.zeros makes it: calloc,
// whose large blocks are fresh mmap pages that stay the kernel's shared zero
// page until written, so the put reads one cached page over and over (as
// Ray's does) and is bound by writing. construct() leaves the elements alone:
// the memory is zero already, and std::vector would otherwise write every byte.
template <typename T>
struct ZeroPageAllocator {
  using value_type = T;
  ZeroPageAllocator() = default;
  template <typename U>
  ZeroPageAllocator(const ZeroPageAllocator<U> &) {}
  T *allocate(size_t n) {
    void *p = std::calloc(n, sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T *>(p);
  }
  void deallocate(T *p, size_t) { std::free(p); }
  template <typename U>
  void construct(U *) noexcept {}
  template <typename U, typename... Args>
  void construct(U *p, Args &&...args) {
    ::new (static_cast<void *>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const ZeroPageAllocator<U> &) const {
    return true;
  }
  template <typename U>
  bool operator!=(const ZeroPageAllocator<U> &) const {
    return false;
  }
};
using ZeroBytes = std::vector<uint8_t, ZeroPageAllocator<uint8_t>>;

// ray_perf.py's multi_client_put_gigabytes `do_put`: `count` puts of `bytes`
// zero bytes (Ray: 10 puts of np.zeros(10Mi, int64) = 80 MiB). The buffer is
// made once per worker process, like the driver's single_client_put_gigabytes
// payload, so the timing is the put and not the allocation.
static int PutLargeMany(int64_t bytes, int count) {
  static ZeroBytes payload;
  if (payload.size() != static_cast<size_t>(bytes)) ZeroBytes(static_cast<size_t>(bytes)).swap(payload);
  for (int i = 0; i < count; ++i) ray::Put(payload);
  return count;
}
RAY_REMOTE(PutLargeMany);

// ray_perf.py's `create_object_containing_ref`: a result holding n refs.
static std::vector<ray::ObjectRef<int>> MakeRefs(int n) {
  std::vector<ray::ObjectRef<int>> refs;
  refs.reserve(n);
  for (int i = 0; i < n; ++i) refs.push_back(ray::Put(1));
  return refs;
}
RAY_REMOTE(MakeRefs);

// The process id of the worker that runs it (for idle worker memory).
static int WorkerPid() { return static_cast<int>(getpid()); }
RAY_REMOTE(WorkerPid);

// Large arguments and gets (Lumen only: they read through ray::Buffer<T>, a
// Lumen extension; Ray's C++ headers have no <ray/api/buffer.h>). The sum has
// four partial sums so that the adds keep up with memory, not their latency.
#if __has_include(<ray/api/buffer.h>)
#define LUMEN_BENCH_HAS_BUFFER 1
static double SumDoubles(const double *p, size_t n) {
  double s[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s[0] += p[i];
    s[1] += p[i + 1];
    s[2] += p[i + 2];
    s[3] += p[i + 3];
  }
  for (; i < n; ++i) s[0] += p[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}
// task_arg_gigabytes: the argument read in place from the stored object.
static double SumBuffer(ray::Buffer<double> a) { return SumDoubles(a.data(), a.size()); }
// task_arg_gigabytes_vector: the plain way, a std::vector taken by value (by
// value so that every task decodes its own copy; a const& argument would come
// from the worker's cache of decoded arguments after the first task).
static double SumVector(std::vector<double> a) { return SumDoubles(a.data(), a.size()); }
RAY_REMOTE(SumBuffer, SumVector);
#endif

// ray_perf.py's multi_client_tasks_async `Actor.small_value_batch`: an actor
// that submits n no-op tasks and Gets them all.
class TaskClient {
 public:
  static TaskClient *Create() { return new TaskClient(); }
  int SmallValueBatch(int n) {
    std::vector<ray::ObjectRef<int>> refs;
    refs.reserve(n);
    for (int i = 0; i < n; ++i) refs.push_back(ray::Task(Noop).Remote());
    ray::Get(refs);
    return n;
  }
};
RAY_REMOTE(TaskClient::Create, &TaskClient::SmallValueBatch);

namespace {

struct Result {
  std::string name;
  double value;
  double std;
  std::string unit;
  std::string note;  // e.g. the actor count of a scale-out benchmark
};

std::vector<Result> g_results;
std::vector<std::string> g_filters;  // --filter: empty runs everything

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// True when `name` matches --filter (or there is no filter).
bool Selected(const std::string &name) {
  if (g_filters.empty()) return true;
  for (const std::string &f : g_filters) {
    if (name.find(f) != std::string::npos) return true;
  }
  return false;
}

bool AnySelected(const std::vector<std::string> &names) {
  for (const std::string &n : names) {
    if (Selected(n)) return true;
  }
  return false;
}

void Record(const std::string &name, double value, double std, const std::string &unit,
            const std::string &note = "") {
  g_results.push_back({name, value, std, unit, note});
  std::printf("%-36s %14.2f +- %-12.2f %s%s%s\n", name.c_str(), value, std, unit.c_str(),
              note.empty() ? "" : "  ", note.c_str());
  std::fflush(stdout);
}

using bench::MeanSd;
using bench::MedianSd;
using bench::Percentile;

// Latency percentiles of `fn` (one blocking round trip): `runs` runs of
// `samples` calls after 50 warm-up calls; each percentile is the median of
// the runs' percentiles, its sd their spread. A single run's p99 rests on its
// few slowest calls, so it swings with whatever else the machine did then.
void Latencies(const std::string &name, const std::function<void()> &fn, int samples, int runs) {
  if (!Selected(name)) return;
  for (int i = 0; i < 50; ++i) fn();
  std::vector<double> p50s, p99s, us;
  us.reserve(samples);
  for (int r = 0; r < runs; ++r) {
    us.clear();
    for (int i = 0; i < samples; ++i) {
      auto t0 = Clock::now();
      fn();
      us.push_back(Since(t0) * 1e6);
    }
    std::sort(us.begin(), us.end());
    p50s.push_back(Percentile(us, 0.50));
    p99s.push_back(Percentile(us, 0.99));
  }
  std::string note = "(median of " + std::to_string(runs) + " runs of " + std::to_string(samples) + " calls)";
  auto [p50, p50_sd] = MedianSd(p50s);
  auto [p99, p99_sd] = MedianSd(p99s);
  Record(name + " p50", p50, p50_sd, "us", note);
  Record(name + " p99", p99, p99_sd, "us", note);
}

// Runs one benchmark group; a group the runtime cannot run yet (an exception)
// is reported and skipped so the remaining ones still run.
void Guarded(const std::string &what, const std::function<void()> &fn) {
  try {
    fn();
  } catch (const std::exception &e) {
    std::printf("%-36s skipped: %s\n", what.c_str(), e.what());
    std::fflush(stdout);
  }
}

struct Durations {
  double warmup_s;
  double trial_s;
  int trials;
};

// fn performs one batch and returns how many operations (or bytes/GB) it did.
void Timeit(const std::string &name, const std::function<double()> &fn, const Durations &d,
            const std::string &unit, const std::string &note = "") {
  if (!Selected(name)) return;
  auto w0 = Clock::now();
  do fn();
  while (Since(w0) < d.warmup_s);
  std::vector<double> rates;
  for (int t = 0; t < d.trials; ++t) {
    double ops = 0;
    auto t0 = Clock::now();
    double el;
    do {
      ops += fn();
    } while ((el = Since(t0)) < d.trial_s);
    rates.push_back(ops / el);
  }
  auto [mean, sd] = MeanSd(rates);
  Record(name, mean, sd, unit, note);
}

// Ray's release key for a printed name (run_microbenchmark.py): spaces, ':' and
// '-' become '_', parentheses are dropped.
std::string RayKey(const std::string &name) {
  std::string key;
  for (char c : name) {
    if (c == ' ' || c == ':' || c == '-') {
      key += '_';
    } else if (c != '(' && c != ')') {
      key += c;
    }
  }
  return key;
}

// Ray's microbenchmark JSON: {key: [mean, sd], ..., "perf_metrics": [{perf_metric_name,
// perf_metric_value, perf_metric_type}]}, plus Lumen's "units" and "notes" maps
// (key -> text) so that a reader knows what each number counts.
void WriteJson(const std::string &path) {
  nlohmann::json out = nlohmann::json::object();
  nlohmann::json metrics = nlohmann::json::array();
  nlohmann::json units = nlohmann::json::object();
  nlohmann::json notes = nlohmann::json::object();
  for (const Result &r : g_results) {
    std::string key = RayKey(r.name);
    out[key] = {r.value, r.std};
    const char *type = r.unit == "MB"                       ? "MEMORY"
                       : (r.unit == "us" || r.unit == "ms") ? "LATENCY"
                                                            : "THROUGHPUT";
    metrics.push_back(
        {{"perf_metric_name", key}, {"perf_metric_value", r.value}, {"perf_metric_type", type}});
    units[key] = r.unit;
    if (!r.note.empty()) notes[key] = r.note;
  }
  out["perf_metrics"] = metrics;
  out["units"] = units;
  out["notes"] = notes;
  std::ofstream f(path);
  f << out.dump(2) << "\n";
  if (!f) {
    std::fprintf(stderr, "could not write %s\n", path.c_str());
    std::exit(1);
  }
}

struct ActorSizes {
  Durations small;
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

std::vector<ray::ActorHandle<BenchActor>> MakeActors(int n) {
  std::vector<ray::ActorHandle<BenchActor>> actors;
  for (int i = 0; i < n; ++i) actors.push_back(ray::Actor(BenchActor::Create).Remote());
  // Wait until every actor answers, so creation is not part of the timing.
  std::vector<ray::ObjectRef<int>> ready;
  for (auto &a : actors) ready.push_back(a.Task(&BenchActor::SmallValue).Remote());
  ray::Get(ready);
  return actors;
}

// Ray's actor benchmarks (ray_perf.py shapes) plus Lumen's latency percentiles
// and actor creation time.
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

// Sizes of the ray_perf.py shapes that RunRayShapeExtras runs.
struct ExtraSizes {
  Durations small;
  Durations big;
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
// from several tasks at once.
void RunRayShapeExtras(const ExtraSizes &z) {
  const std::string batch_note = "(" + std::to_string(z.batch) + " tasks per batch)";
  Timeit(
      "single_client_tasks_and_get_batch",
      [&] {
        std::vector<ray::ObjectRef<int>> refs;
        refs.reserve(z.batch);
        for (int i = 0; i < z.batch; ++i) refs.push_back(ray::Task(Noop).Remote());
        ray::Get(refs);
        return 1.0;
      },
      z.small, "batches/s", batch_note);

  // Submit a batch, then Wait for one ready ref at a time until none is left.
  Timeit(
      "single_client_wait_1k_refs",
      [&] {
        std::vector<ray::ObjectRef<int>> not_ready;
        not_ready.reserve(z.batch);
        for (int i = 0; i < z.batch; ++i) not_ready.push_back(ray::Task(Noop).Remote());
        while (!not_ready.empty()) {
          ray::WaitResult<int> r = ray::Wait(not_ready, 1, -1);
          not_ready.assign(r.unready.begin(), r.unready.end());
        }
        return 1.0;
      },
      z.small, "rounds/s", "(" + std::to_string(z.batch) + " refs, Wait for one at a time)");

  if (Selected("single_client_get_object_containing_10k_refs")) {
    Guarded("single_client_get_object_containing_10k_refs", [&] {
      ray::ObjectRef<std::vector<ray::ObjectRef<int>>> outer = ray::Task(MakeRefs).Remote(z.containing_refs);
      outer.Get();
      Timeit(
          "single_client_get_object_containing_10k_refs",
          [&] {
            ray::Get(outer);
            return 1.0;
          },
          z.small, "gets/s", "(" + std::to_string(z.containing_refs) + " refs in the object)");
    });
  }

  if (Selected("multi_client_put_calls")) {
    Guarded("multi_client_put_calls", [&] {
      Timeit(
          "multi_client_put_calls",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            for (int i = 0; i < z.put_tasks; ++i) refs.push_back(ray::Task(PutSmallMany).Remote());
            ray::Get(refs);
            return 100.0 * z.put_tasks;
          },
          z.small, "calls/s", "(" + std::to_string(z.put_tasks) + " tasks x 100 puts)");
    });
  }

  if (Selected("multi_client_put_gigabytes")) {
    Guarded("multi_client_put_gigabytes", [&] {
      Timeit(
          "multi_client_put_gigabytes",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            for (int i = 0; i < z.put_tasks; ++i)
              refs.push_back(ray::Task(PutLargeMany).Remote(z.large_bytes, z.large_puts));
            ray::Get(refs);
            return static_cast<double>(z.put_tasks) * z.large_puts * z.large_bytes / 1e9;
          },
          z.big, "GB/s",
          "(" + std::to_string(z.put_tasks) + " tasks x " + std::to_string(z.large_puts) + " puts of " +
              std::to_string(z.large_bytes >> 20) + " MiB)");
    });
  }
}

// ray_perf.py's multi_client_tasks_async: client actors, each submitting a batch
// of tasks and getting them. Run last: after its client actors are killed, the
// node does not always grant new task leases (the leases those actors held are
// not reclaimed), so anything after it could wait forever.
void RunMultiClientTasks(const ExtraSizes &z) {
  // Client actors, each submitting a batch of tasks and getting them.
  if (Selected("multi_client_tasks_async")) {
    Guarded("multi_client_tasks_async", [&] {
      std::vector<ray::ActorHandle<TaskClient>> clients;
      for (int i = 0; i < z.multi_clients; ++i) clients.push_back(ray::Actor(TaskClient::Create).Remote());
      std::vector<ray::ObjectRef<int>> ready;
      for (auto &c : clients) ready.push_back(c.Task(&TaskClient::SmallValueBatch).Remote(1));
      ray::Get(ready);
      Timeit(
          "multi_client_tasks_async",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            for (auto &c : clients)
              refs.push_back(c.Task(&TaskClient::SmallValueBatch).Remote(z.multi_client_tasks));
            ray::Get(refs);
            return static_cast<double>(z.multi_clients) * z.multi_client_tasks;
          },
          z.small, "tasks/s",
          "(" + std::to_string(z.multi_clients) + " client actors x " + std::to_string(z.multi_client_tasks) +
              " tasks)");
      KillAll(clients);
    });
  }
}

#ifdef LUMEN_BENCH_HAS_BUFFER
// A 1 GiB std::vector<double> (1.0 everywhere: written, so no page is the
// kernel's shared zero page) Put once, then:
//   task_arg_gigabytes           a task summing it as a ray::Buffer<double>
//   task_arg_gigabytes_vector    ... as a std::vector<double> taken by value
//   single_client_get_gigabytes  ray::Get of it as a ray::Buffer<double>
//   single_client_get_gigabytes_vector  ray::Get of it as a std::vector<double>
// GB/s = the object's bytes / the time of one task round trip (submit, run,
// Get the sum) or of one Get. The Buffer rows are numpy's counterparts in Ray
// Python (an array read in place from shared memory); the vector rows copy.
void RunLargeValueBenchmarks(const Durations &d, size_t bytes) {
  if (!AnySelected({"task_arg_gigabytes", "single_client_get_gigabytes"})) return;
  Guarded("task_arg_gigabytes", [&] {
    const size_t n = bytes / sizeof(double);
    const double gb = static_cast<double>(n * sizeof(double)) / 1e9;
    const std::string note = "(" + std::to_string((n * sizeof(double)) >> 20) + " MiB of doubles, Put once)";
    ray::ObjectRef<std::vector<double>> vec_ref = ray::Put(std::vector<double>(n, 1.0));
    auto check = [n](double sum) {
      if (sum != static_cast<double>(n)) throw std::runtime_error("a task summed the argument wrongly");
    };
    Timeit(
        "task_arg_gigabytes",
        [&] {
          check(*ray::Task(SumBuffer).Remote(vec_ref).Get());
          return gb;
        },
        d, "GB/s", "(task summing a ray::Buffer<double> argument) " + note);
    Timeit(
        "task_arg_gigabytes_vector",
        [&] {
          check(*ray::Task(SumVector).Remote(vec_ref).Get());
          return gb;
        },
        d, "GB/s", "(task summing a std::vector<double> argument taken by value) " + note);
    Timeit(
        "single_client_get_gigabytes_vector",
        [&] {
          if (ray::Get(vec_ref)->size() != n) throw std::runtime_error("Get returned a wrong size");
          return gb;
        },
        d, "GB/s", "(ray::Get as std::vector<double>) " + note);
    // The same bytes Put as a Buffer (on the wire a Buffer<T> is a
    // std::vector<T>), so that Get returns a view.
    ray::ObjectRef<ray::Buffer<double>> buf_ref = ray::Put(ray::Buffer<double>(std::vector<double>(n, 1.0)));
    Timeit(
        "single_client_get_gigabytes",
        [&] {
          if (ray::Get(buf_ref)->size() != n) throw std::runtime_error("Get returned a wrong size");
          return gb;
        },
        d, "GB/s", "(ray::Get as ray::Buffer<double>: a view) " + note);
  });
}
#endif

// A number from a "Name:   value kB" line of a /proc file, in kB (-1 if absent).
long ProcKb(const std::string &path, const std::string &field) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, field.size(), field) == 0 && line.size() > field.size() && line[field.size()] == ':')
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

// Memory of an idle worker: the resident set (and proportional set, which
// splits pages shared with other processes) of a worker that has run a task
// and now waits for the next, read from /proc.
void RunIdleWorkerMemory() {
  if (!AnySelected({"idle_worker_rss_mb", "idle_worker_pss_mb"})) return;
  Guarded("idle_worker_rss_mb", [&] {
    int pid = *ray::Task(WorkerPid).Remote().Get();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const std::string dir = "/proc/" + std::to_string(pid);
    long rss = ProcKb(dir + "/status", "VmRSS");
    long pss = ProcKb(dir + "/smaps_rollup", "Pss");
    if (rss < 0) throw std::runtime_error("cannot read " + dir + "/status");
    Record("idle_worker_rss_mb", rss / 1024.0, 0, "MB", "(VmRSS of a task worker after one task)");
    if (pss >= 0 && Selected("idle_worker_pss_mb"))
      Record("idle_worker_pss_mb", pss / 1024.0, 0, "MB", "(Pss: shared pages split between sharers)");
  });
}

// Scheduling with resource requests, and Ray's placement_group_create/removal
// (groups of one small bundle of a custom resource: create, Wait, remove).
void RunResourceBenchmarks(const Durations &d, int batch, int groups) {
  auto async_tasks = [batch](const std::function<ray::ObjectRef<int>()> &submit) {
    return [batch, submit] {
      std::vector<ray::ObjectRef<int>> refs;
      refs.reserve(batch);
      for (int i = 0; i < batch; ++i) refs.push_back(submit());
      ray::Get(refs);
      return static_cast<double>(batch);
    };
  };
  auto fractional_cpu = [] { return ray::Task(Noop).SetResource("CPU", 0.5).Remote(); };
  auto custom_resource = [] { return ray::Task(Noop).SetResources({{"CPU", 1}, {"custom", 1}}).Remote(); };
  Guarded("single_client_tasks_async_*", [&] {
    Timeit("single_client_tasks_async_fractional_cpu", async_tasks(fractional_cpu), d, "tasks/s",
           "(each asks for CPU 0.5)");
    Timeit("single_client_tasks_async_custom_resource", async_tasks(custom_resource), d, "tasks/s",
           "(each asks for CPU 1 and custom 1 of 100)");
  });
  if (Selected("single_client_tasks_async_in_placement_group")) {
    Guarded("single_client_tasks_async_in_placement_group", [&] {
      ray::PlacementGroup pg =
          ray::CreatePlacementGroup({"bench_pg", {{{"CPU", 1}}}, ray::PlacementStrategy::PACK});
      if (!pg.Wait(30)) throw std::runtime_error("the benchmark's placement group was not created");
      Timeit("single_client_tasks_async_in_placement_group",
             async_tasks([&pg] { return ray::Task(Noop).SetPlacementGroup(pg, 0).Remote(); }), d, "tasks/s",
             "(bundle 0 of a {CPU: 1} group)");
      ray::RemovePlacementGroup(pg.GetID());
    });
  }
  if (Selected("placement_group_create/removal")) {
    Guarded("placement_group_create/removal", [&] {
      Timeit(
          "placement_group_create/removal",
          [groups] {
            std::vector<ray::PlacementGroup> pgs;
            pgs.reserve(groups);
            for (int i = 0; i < groups; ++i) {
              pgs.push_back(
                  ray::CreatePlacementGroup({"", {{{"custom", 0.001}}}, ray::PlacementStrategy::PACK}));
            }
            for (auto &pg : pgs) {
              if (!pg.Wait(30)) throw std::runtime_error("a placement group was not created");
            }
            for (auto &pg : pgs) ray::RemovePlacementGroup(pg.GetID());
            return static_cast<double>(groups);
          },
          d, "groups/s", "(" + std::to_string(groups) + " one-bundle groups: create, Wait, remove)");
    });
  }
}

}  // namespace

int main(int argc, char **argv) {
  bool quick = false;
  std::string json_path;
  size_t put_mib = 800;  // Ray: np.zeros(100Mi, int64) = 800 MiB
  int num_actors = static_cast<int>(std::thread::hardware_concurrency());
  int startups = -1;
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
        if (comma > pos) g_filters.push_back(list.substr(pos, comma - pos));
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

#ifdef LUMEN_BENCH_HAS_BUFFER
  RunLargeValueBenchmarks(big, size_t{1} << 30);
#endif

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
    WriteJson(json_path);
    std::printf("wrote %s\n", json_path.c_str());
  }
  return 0;
}
