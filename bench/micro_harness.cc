#include "micro_harness.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "bench_stats.h"

namespace micro {
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

}  // namespace

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

void SetFilters(std::vector<std::string> filters) { g_filters = std::move(filters); }

void Record(const std::string &name, double value, double std, const std::string &unit,
            const std::string &note) {
  g_results.push_back({name, value, std, unit, note});
  std::printf("%-36s %14.2f +- %-12.2f %s%s%s\n", name.c_str(), value, std, unit.c_str(),
              note.empty() ? "" : "  ", note.c_str());
  std::fflush(stdout);
}

using bench::MeanSd;
using bench::MedianSd;
using bench::Percentile;

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

void Guarded(const std::string &what, const std::function<void()> &fn) {
  try {
    fn();
  } catch (const std::exception &e) {
    std::printf("%-36s skipped: %s\n", what.c_str(), e.what());
    std::fflush(stdout);
  }
}

void Timeit(const std::string &name, const std::function<double()> &fn, const Durations &d,
            const std::string &unit, const std::string &note) {
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

}  // namespace micro
