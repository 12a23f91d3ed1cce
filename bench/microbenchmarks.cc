// Lumen microbenchmarks, named and measured like Ray's ray_perf.py: each
// benchmark warms up, then runs several timed trials of a fixed duration and
// reports the mean and standard deviation of the per-second rate.
//
//   microbenchmarks [--quick] [--json PATH] [--put-mib N]
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
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

static int Noop() { return 0; }
RAY_REMOTE(Noop);

namespace {

struct Result {
  std::string name;
  double value;
  double std;
  std::string unit;
};

std::vector<Result> g_results;

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void Record(const std::string &name, double value, double std, const std::string &unit) {
  g_results.push_back({name, value, std, unit});
  std::printf("%-36s %14.2f +- %-12.2f %s\n", name.c_str(), value, std, unit.c_str());
  std::fflush(stdout);
}

struct Durations {
  double warmup_s;
  double trial_s;
  int trials;
};

// fn performs one batch and returns how many operations (or bytes/GB) it did.
void Timeit(const std::string &name, const std::function<double()> &fn, const Durations &d,
            const std::string &unit) {
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
  double mean = 0;
  for (double r : rates) mean += r;
  mean /= rates.size();
  double var = 0;
  for (double r : rates) var += (r - mean) * (r - mean);
  double sd = rates.size() > 1 ? std::sqrt(var / (rates.size() - 1)) : 0.0;
  Record(name, mean, sd, unit);
}

void WriteJson(const std::string &path) {
  nlohmann::json out = nlohmann::json::array();
  for (const Result &r : g_results) {
    out.push_back({{"name", r.name}, {"value", r.value}, {"std", r.std}, {"unit", r.unit}});
  }
  std::ofstream f(path);
  f << out.dump(2) << "\n";
  if (!f) {
    std::fprintf(stderr, "could not write %s\n", path.c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char **argv) {
  bool quick = false;
  std::string json_path;
  size_t put_mib = 1024;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      json_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--put-mib") && i + 1 < argc) {
      put_mib = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--json PATH] [--put-mib N]\n", argv[0]);
      return 2;
    }
  }
  const Durations small = quick ? Durations{0.3, 1.0, 3} : Durations{1.0, 2.0, 5};
  const Durations big = quick ? Durations{0.0, 1.0, 3} : Durations{1.0, 3.0, 5};
  const int async_batch = quick ? 1000 : 10000;
  const int latency_samples = quick ? 500 : 5000;
  const size_t put_bytes = put_mib << 20;

  std::printf("Lumen microbenchmarks (%s mode; mean +- std over %d trials of %.1f s)\n",
              quick ? "quick" : "full", small.trials, small.trial_s);
  std::printf("%-36s %14s    %-12s %s\n", "name", "value", "std", "unit");

  // Physical floor: memcpy between two pre-faulted buffers, in this process.
  {
    std::vector<uint8_t> src(put_bytes, 1), dst(put_bytes, 0);
    Timeit(
        "memcpy_gigabytes (floor)",
        [&] {
          std::memcpy(dst.data(), src.data(), put_bytes);
          return static_cast<double>(put_bytes) / 1e9;
        },
        big, "GB/s");
  }

  // Fresh cluster: time to the first task result.
  ray::RayConfig cfg;
  cfg.head_args = {"--object-store-memory=4000000000"};
  auto init0 = Clock::now();
  ray::Init(cfg);
  auto init1 = Clock::now();
  int first = *ray::Task(Noop).Remote().Get();
  double first_ms = Since(init1) * 1e3;
  double init_first_ms = Since(init0) * 1e3;
  if (first != 0) return 1;
  Record("worker_startup_ms (submit->result)", first_ms, 0, "ms");
  Record("worker_startup_ms (Init->result)", init_first_ms, 0, "ms");

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

  {
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
    std::vector<uint8_t> payload(put_bytes, 7);
    std::string name = "single_client_put_gigabytes";
    if (put_mib != 1024) name += " (" + std::to_string(put_mib) + " MiB objects)";
    Timeit(
        name,
        [&] {
          ray::Put(payload);
          return static_cast<double>(put_bytes) / 1e9;
        },
        big, "GB/s");
  }

  {
    std::vector<double> us;
    us.reserve(latency_samples);
    for (int i = 0; i < 50; ++i) ray::Task(Noop).Remote().Get();
    for (int i = 0; i < latency_samples; ++i) {
      auto t0 = Clock::now();
      ray::Task(Noop).Remote().Get();
      us.push_back(Since(t0) * 1e6);
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) { return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))]; };
    Record("sync_task_latency_us p50", pct(0.50), 0, "us");
    Record("sync_task_latency_us p99", pct(0.99), 0, "us");
  }

  ray::Shutdown();
  if (!json_path.empty()) {
    WriteJson(json_path);
    std::printf("wrote %s\n", json_path.c_str());
  }
  return 0;
}
