// The cost of recording a user metric (<ray/api/metric.h>) on the calling
// thread: what ray::Counter::Inc, Gauge::Set and Histogram::Observe cost per
// call, alone and with threads recording at once. No cluster: recording never
// does I/O (the changes leave on the core worker's flush timer), so the figure
// is the same with or without one.
//
//   metric_bench [--quick] [--json PATH]
//
//   <metric>_<tags>_1t_ns        one thread, ns per call (median of runs)
//   counter_2tags_<N>t_same_ns   N threads on one tag set: wall ns per call per thread
//   counter_2tags_<N>t_own_ns    N threads, each its own tag set of one metric
//
// The JSON output uses the microbenchmarks' format: {key: [value, sd], "units": {key: unit}}.
#include <ray/api/metric.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench_figures.h"
#include "bench_stats.h"

using Clock = std::chrono::steady_clock;
using Tags = std::unordered_map<std::string, std::string>;

namespace {

bench::Figures g_figures;

void Report(const std::string &key, std::pair<double, double> median_sd) {
  g_figures.Report(key, median_sd.first, median_sd.second, "ns");
}

// ns per call of `record` over `calls` calls on each of `threads` threads
// (wall time of the slowest thread / calls), the median of `runs` runs.
std::pair<double, double> Measure(int threads, long calls, int runs, const std::function<void(int)> &record) {
  std::vector<double> per_call;
  for (int r = 0; r < runs; ++r) {
    std::vector<std::thread> pool;
    std::vector<double> ns(threads);
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const auto start = Clock::now();
        for (long i = 0; i < calls; ++i) record(t);
        ns[t] = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / calls;
      });
    for (auto &t : pool) t.join();
    double slowest = 0;
    for (double v : ns) slowest = std::max(slowest, v);
    per_call.push_back(slowest);
  }
  return bench::MedianSd(per_call);
}

}  // namespace

int main(int argc, char **argv) {
  bool quick = false;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--json PATH]\n", argv[0]);
      return 2;
    }
  }
  const long calls = quick ? 200000 : 2000000;
  const int runs = quick ? 3 : 7;
  const int max_threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));

  ray::Counter counter("bench_counter", "", "1", {"route", "code"});
  ray::Gauge gauge("bench_gauge", "", "1", {"route", "code"});
  ray::Histogram histogram("bench_latency", "", "ms", {0.1, 1, 10, 100, 1000}, {"route", "code"});
  const Tags none;
  const Tags two{{"route", "/api/items"}, {"code", "200"}};
  std::vector<Tags> own;
  for (int t = 0; t < max_threads; ++t)
    own.push_back({{"route", "/api/" + std::to_string(t)}, {"code", "200"}});

  Report("counter_notags_1t_ns", Measure(1, calls, runs, [&](int) { counter.Inc(1, none); }));
  Report("counter_2tags_1t_ns", Measure(1, calls, runs, [&](int) { counter.Inc(1, two); }));
  Report("gauge_2tags_1t_ns", Measure(1, calls, runs, [&](int) { gauge.Set(3, two); }));
  long n = 0;
  Report("histogram_2tags_1t_ns",
         Measure(1, calls, runs, [&](int) { histogram.Observe(static_cast<double>(++n % 2000), two); }));
  std::vector<int> thread_counts{2};
  if (max_threads > 2) thread_counts.push_back(max_threads);
  for (int threads : thread_counts) {
    Report("counter_2tags_" + std::to_string(threads) + "t_same_ns",
           Measure(threads, calls / threads, runs, [&](int) { counter.Inc(1, two); }));
    Report("counter_2tags_" + std::to_string(threads) + "t_own_ns",
           Measure(threads, calls / threads, runs, [&](int t) { counter.Inc(1, own[t]); }));
  }

  if (!json_path.empty() && !g_figures.WriteJson(json_path)) return 1;
  return 0;
}
