// tune_bench: Lumen Tune's driver overheads, the shapes of issue 17 (and of
// Ray Tune's own scalability notes), beside bench/tune_bench.py's Ray Tune run
// of the same shapes in bench/compare. One JSON object per figure on stdout:
// {"name": ..., "value": ..., "unit": ...}.
//
//   tune_trials_per_s          N trials of a trivial objective (one Report each)
//   tune_report_decision_us    p50 / p99 of Report -> the driver's decision back,
//                              measured inside the trainable over many reports
//   tune_sleep_overhead_pct    N trials of S seconds each against the ideal
//                              (N * S / CPUs): how much the driver adds
//   tune_driver_rss_mb         the driver's peak RSS after M trivial trials
//   tune_asha_time_to_target_s ASHA on a synthetic objective with a known
//                              optimum: seconds until a trial reaches the target
//
//   tune_bench [--quick] [--only NAME[,NAME...]]
#include <ray/api.h>
#include <ray/tune.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace tune = ray::tune;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Trivial(const tune::Json &) { tune::Report({{"score", 1}}); }

// Times every Report (the round trip to the driver's decision) and reports
// the times it measured so far with each result.
void TimedReports(const tune::Json &config) {
  const int n = config["reports"];
  double last_us = 0;
  for (int i = 0; i < n; ++i) {
    const double t0 = Now();
    tune::Report({{"score", i}, {"last_report_us", last_us}});
    last_us = (Now() - t0) * 1e6;
  }
}

void Sleeper(const tune::Json &config) {
  std::this_thread::sleep_for(std::chrono::duration<double>(config["seconds"].get<double>()));
  tune::Report({{"score", 1}});
}

// loss(x, y, t) = (x - 0.3)^2 + (y - 0.7)^2 + 1/t; each iteration costs
// config["step_s"] seconds of work (a sleep, as a GPU step would be).
void Synthetic(const tune::Json &config) {
  const double x = config["x"], y = config["y"], step = config["step_s"];
  for (int t = 1; t <= config["max_t"].get<int>(); ++t) {
    std::this_thread::sleep_for(std::chrono::duration<double>(step));
    // t_wall: CLOCK_MONOTONIC, the same clock in every process of the machine.
    tune::Report({{"loss", (x - 0.3) * (x - 0.3) + (y - 0.7) * (y - 0.7) + 1.0 / t}, {"t_wall", Now()}});
  }
}

tune::RunConfig Quiet(const std::string &name) {
  tune::RunConfig rc;
  rc.name = name;
  const char *tmp = std::getenv("TMPDIR");
  rc.storage_path = std::string(tmp ? tmp : "/tmp") + "/lumen_tune_bench";
  rc.verbose = 0;
  std::error_code ec;
  std::filesystem::remove_all(rc.storage_path + "/" + name, ec);  // a previous run's trials
  return rc;
}

void Emit(const char *name, double value, const char *unit) {
  std::printf("{\"name\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", name, value, unit);
  std::fflush(stdout);
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

// The driver's own memory: RssAnon + RssFile, leaving out RssShmem (the
// object store's shared pages the driver has mapped are not its own, and
// ru_maxrss would count them). tune_bench.py reads the same fields.
double DriverRssMb() {
  std::ifstream in("/proc/self/status");
  double kb = 0;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("RssAnon:", 0) == 0 || line.rfind("RssFile:", 0) == 0) kb += std::atof(line.c_str() + 8);
  return kb / 1024.0;
}

void TrialsPerSecond(int n) {
  tune::TuneConfig tc;
  tc.num_samples = n;
  const tune::RunConfig rc = Quiet("trivial");  // clears the last run's folder first, untimed
  const double t0 = Now();
  tune::ResultGrid grid = tune::Tuner(Trivial, {{"x", tune::Uniform(0, 1)}}, tc, rc).Fit();
  const double s = Now() - t0;
  if (grid.size() != static_cast<size_t>(n) || grid.num_errors())
    std::fprintf(stderr, "trivial: bad results\n");
  Emit("tune_trials_per_s", n / s, "trials/s");
}

void ReportLatency(int trials, int reports) {
  tune::TuneConfig tc;
  tc.num_samples = trials;
  tune::ResultGrid grid =
      tune::Tuner(TimedReports, {{"reports", reports}, {"x", tune::Uniform(0, 1)}}, tc, Quiet("report"))
          .Fit();
  std::vector<double> us;
  for (const tune::Result &r : grid)
    for (size_t i = 1; i < r.metrics_history.size(); ++i)
      us.push_back(r.metrics_history[i]["last_report_us"]);
  if (us.empty()) return;
  Emit("tune_report_decision_us_p50", Percentile(us, 0.5), "us");
  Emit("tune_report_decision_us_p99", Percentile(us, 0.99), "us");
}

void SleepOverhead(int n, double seconds) {
  const auto total = ray::ClusterResources();
  const double cpus = total.count("CPU") ? total.at("CPU") : 1;
  tune::TuneConfig tc;
  tc.num_samples = n;
  const tune::RunConfig rc = Quiet("sleep");
  const double t0 = Now();
  tune::Tuner(Sleeper, {{"seconds", seconds}, {"x", tune::Uniform(0, 1)}}, tc, rc).Fit();
  const double wall = Now() - t0, ideal = std::ceil(n / cpus) * seconds;
  Emit("tune_sleep_trials_s", wall, "s");
  Emit("tune_sleep_ideal_s", ideal, "s");
  Emit("tune_sleep_overhead_pct", 100 * (wall - ideal) / ideal, "%");
}

void DriverMemory(int n) {
  tune::TuneConfig tc;
  tc.num_samples = n;
  // Measured while the results are held, as a user holds them after Fit.
  tune::ResultGrid grid = tune::Tuner(Trivial, {{"x", tune::Uniform(0, 1)}}, tc, Quiet("memory")).Fit();
  Emit("tune_driver_rss_mb", DriverRssMb(), "MB");
}

// A k x k grid of configs (the same in tune_bench.py), so both systems search
// the same points.
void AshaTimeToTarget(int k, double step_s, double target) {
  tune::AsyncHyperBandScheduler::Options asha;
  asha.max_t = 27;
  asha.grace_period = 1;
  asha.reduction_factor = 3;
  asha.seed = 1;
  tune::TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  tc.scheduler = std::make_shared<tune::AsyncHyperBandScheduler>(asha);
  std::vector<tune::Json> axis;
  for (int i = 0; i < k; ++i) axis.push_back((i + 0.5) / k);
  const tune::RunConfig rc = Quiet("asha");
  const double t0 = Now();
  tune::ResultGrid grid =
      tune::Tuner(
          Synthetic,
          {{"x", tune::GridSearch(axis)}, {"y", tune::GridSearch(axis)}, {"max_t", 27}, {"step_s", step_s}},
          tc, rc)
          .Fit();
  const double wall = Now() - t0;
  double first = -1;  // when the first result at or below the target came
  for (const tune::Result &r : grid)
    for (const auto &h : r.metrics_history)
      if (h["loss"].get<double>() <= target && (first < 0 || h["t_wall"].get<double>() < first))
        first = h["t_wall"];
  Emit("tune_asha_time_to_target_s", first < 0 ? wall : first - t0, "s");
  Emit("tune_asha_wall_s", wall, "s");
  Emit("tune_asha_best_loss", grid.GetBestResult().metrics["loss"].get<double>(), "loss");
}

}  // namespace

int main(int argc, char **argv) {
  bool quick = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--only trivial,report,sleep,memory,asha]\n", argv[0]);
      return 2;
    }
  }
  auto wanted = [&](const char *what) {
    return only.empty() || ("," + only + ",").find(std::string(",") + what + ",") != std::string::npos;
  };
  ray::Init();
  if (wanted("trivial")) TrialsPerSecond(1000);
  if (wanted("report")) ReportLatency(2, quick ? 500 : 2000);
  if (wanted("sleep")) SleepOverhead(quick ? 20 : 1000, 1.0);
  if (wanted("asha")) AshaTimeToTarget(quick ? 4 : 8, 0.01, 0.08);
  if (wanted("memory")) DriverMemory(quick ? 2000 : 10000);
  ray::Shutdown();
  return 0;
}
