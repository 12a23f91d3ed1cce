// The microbenchmarks' harness: Ray's timeit (warm-up, then timed trials of a
// fixed duration), latency percentiles, the --filter selection, the printed
// lines and Ray's microbenchmark JSON. One thread (the driver's main); results
// are kept in this process until WriteJson.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace micro {

using Clock = std::chrono::steady_clock;

inline double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// --filter: benchmarks whose name contains one of `filters` run (all when empty).
void SetFilters(std::vector<std::string> filters);
/// True when `name` matches --filter (or there is no filter).
bool Selected(const std::string &name);
bool AnySelected(const std::vector<std::string> &names);

/// Prints one figure and keeps it for WriteJson.
void Record(const std::string &name, double value, double std, const std::string &unit,
            const std::string &note = "");

struct Durations {
  double warmup_s;
  double trial_s;
  int trials;
};

/// fn performs one batch and returns how many operations (or bytes/GB) it did;
/// records the mean and sd of the per-second rate over d.trials trials.
void Timeit(const std::string &name, const std::function<double()> &fn, const Durations &d,
            const std::string &unit, const std::string &note = "");

/// Latency percentiles of `fn` (one blocking round trip): `runs` runs of
/// `samples` calls after 50 warm-up calls; each percentile is the median of
/// the runs' percentiles, its sd their spread. A single run's p99 rests on its
/// few slowest calls, so it swings with whatever else the machine did then.
void Latencies(const std::string &name, const std::function<void()> &fn, int samples, int runs);

/// Runs one benchmark group; a group the runtime cannot run yet (an exception)
/// is reported and skipped so the remaining ones still run.
void Guarded(const std::string &what, const std::function<void()> &fn);

/// Ray's microbenchmark JSON: {key: [mean, sd], ..., "perf_metrics": [{perf_metric_name,
/// perf_metric_value, perf_metric_type}]}, plus Lumen's "units" and "notes" maps
/// (key -> text) so that a reader knows what each number counts. Exits on a write error.
void WriteJson(const std::string &path);

}  // namespace micro
