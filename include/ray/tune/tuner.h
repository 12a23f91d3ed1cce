// Lumen extension (not part of Ray's C++ API): running a Tune experiment, as
// Ray Tune's Tuner(...).fit() and tune.run(...) do in Python.
//
//   void Train(const ray::tune::Json &config) {
//     for (int i = 0; i < 100; ++i) ray::tune::Report({{"loss", Step(config)}});
//   }
//   ...
//   ray::Init();
//   ray::tune::TuneConfig tune_config;
//   tune_config.metric = "loss";
//   tune_config.mode = "min";
//   tune_config.num_samples = 50;
//   tune_config.scheduler = std::make_shared<ray::tune::AsyncHyperBandScheduler>();
//   ray::tune::Tuner tuner(Train, {{"lr", ray::tune::LogUniform(1e-4, 1e-1)}}, tune_config);
//   ray::tune::ResultGrid results = tuner.Fit();
//   results.GetBestResult().config;
//
// Every trial runs as an actor holding its resources (1 CPU unless told
// otherwise); the driver's thread runs the experiment's loop: it asks the
// searcher for configs while resources allow, starts trials, takes their
// results, asks the stoppers and the scheduler, applies their decisions,
// writes each trial's files and the experiment's state, and prints the
// progress table. See docs/tune.md.
//
// Threading: a Tuner is used from one thread; Fit blocks until the
// experiment ends. ray::Init must have been called.
//
// Public header: must stay valid C++17.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ray/tune/resources.h"
#include "ray/tune/result_grid.h"
#include "ray/tune/search_space.h"
#include "ray/tune/searcher.h"
#include "ray/tune/stoppers.h"
#include "ray/tune/trainable.h"
#include "ray/tune/trial_scheduler.h"
#include "ray/tune/types.h"

namespace ray {
namespace tune {

/// Ray's TuneConfig.
struct TuneConfig {
  /// The metric and mode ("min" / "max") searchers, schedulers and
  /// ResultGrid::GetBestResult use unless given their own.
  std::string metric;
  std::string mode;
  /// Default: BasicVariantGenerator (random and grid search).
  std::shared_ptr<Searcher> search_alg;
  /// Default: FIFOScheduler.
  std::shared_ptr<TrialScheduler> scheduler;
  /// Trials to run (with grid search: times the grid); -1 until stopped.
  int64_t num_samples = 1;
  /// At most this many trials at once; 0: as many as the resources allow.
  int max_concurrent_trials = 0;
  /// Ends the experiment after this many seconds (0: no limit); running
  /// trials are stopped.
  double time_budget_s = 0;
  /// The default searcher's seed (Ray's random_state); unset: random.
  std::optional<uint64_t> seed;
  /// Lumen's spelling of Ray's tune.with_resources / resources_per_trial.
  Resources resources_per_trial;
};

/// Ray's FailureConfig: a trial that fails (its trainable throws, its worker
/// or node dies) is restarted from its latest checkpoint up to max_failures
/// times (-1: always); fail_fast ends the experiment at the first failure.
struct FailureConfig {
  int max_failures = 0;
  bool fail_fast = false;
};

/// Ray's RunConfig.
struct RunConfig {
  /// The experiment's folder is storage_path/name. Defaults:
  /// ~/lumen_results and "<trainable>_<date>".
  std::string name;
  std::string storage_path;
  /// Ray's stop= in its dict form: {"training_iteration": 10} ends a trial
  /// when any key reaches its value (MetricThresholdStopper).
  Json stop;
  /// Stoppers besides `stop`; a trial stops when any says so.
  std::vector<StopperPtr> stoppers;
  FailureConfig failure_config;
  /// 0: silent; 1: the progress table; 2: also a line per result.
  int verbose = 1;
  /// Seconds between progress tables when not on a terminal (Ray's
  /// max_report_frequency).
  double max_report_frequency_s = 5;
};

class Tuner {
 public:
  Tuner(TrainableRef trainable, Space param_space, TuneConfig tune_config = TuneConfig(),
        RunConfig run_config = RunConfig());

  /// Runs the experiment to its end. Bad settings (a mode that is neither
  /// min nor max, a scheduler or searcher without the metric it needs, an
  /// empty grid, a resource request no node can satisfy) throw TuneError
  /// before any trial starts. A trial that fails for good does not throw: its
  /// Result carries the error (Ray's ResultGrid.errors).
  ResultGrid Fit();

  /// Resumes the experiment whose folder is `path` (a driver killed mid-run
  /// included): finished trials keep their results, unfinished ones go on
  /// from their latest checkpoint (from scratch without one), and the search
  /// goes on where its saved state left it. With restart_errored, failed
  /// trials run again from scratch; with resume_errored, from their latest
  /// checkpoint. The trainable must be the same code, and the param space,
  /// search algorithm, scheduler and stoppers constructed as before (their
  /// state is restored into them): pass them again. RunConfig's name and
  /// storage_path are taken from `path`.
  static Tuner Restore(const std::string &path, TrainableRef trainable, Space param_space,
                       TuneConfig tune_config = TuneConfig(), RunConfig run_config = RunConfig(),
                       bool resume_errored = false, bool restart_errored = false);
  /// Whether `path` holds an experiment that Restore can resume.
  static bool CanRestore(const std::string &path);

  /// The experiment's folder (known once the Tuner is made).
  const std::string &experiment_path() const { return experiment_path_; }

 private:
  TrainableRef trainable_;
  Space param_space_;
  TuneConfig tune_config_;
  RunConfig run_config_;
  std::string experiment_path_;
  bool restoring_ = false;
  bool resume_errored_ = false;
  bool restart_errored_ = false;
};

/// Ray 1.x's tune.run in one call: Tuner(trainable, config, tune_config,
/// run_config).Fit().
ResultGrid Run(TrainableRef trainable, Space config, TuneConfig tune_config = TuneConfig(),
               RunConfig run_config = RunConfig());

}  // namespace tune
}  // namespace ray
