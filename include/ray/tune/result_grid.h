// Lumen extension (not part of Ray's C++ API): the results of a Tune
// experiment, as Ray Tune's ResultGrid / Result give them in Python.
//
//   ray::tune::ResultGrid grid = tuner.Fit();   // or ResultGrid::Load(dir)
//   const ray::tune::Result &best = grid.GetBestResult("loss", "min");
//   best.config["lr"], best.metrics["loss"], best.metrics_history.size()
//   grid.WriteCsv("results.csv");               // Ray's get_dataframe()
//
// An experiment's folder holds one folder per trial with params.json (the
// config), result.json (one JSON object per reported result), progress.csv
// (the same, flattened with "/" between nested keys), error.txt when the trial
// failed and checkpoint_NNNNNN/ folders; ResultGrid::Load reads them back.
//
// Threading: a ResultGrid is an immutable value once built; const methods may
// be called from several threads at once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "ray/tune/types.h"

namespace ray {
namespace tune {

/// One trial's outcome.
struct Result {
  std::string trial_id;
  std::string path;  // the trial's folder; empty when it has none
  Json config = Json::object();
  /// The last reported result (with the fields the runner fills in); an
  /// empty object if the trial reported nothing.
  Json metrics = Json::object();
  /// Every reported result, oldest first (Ray's metrics_dataframe).
  std::vector<Json> metrics_history;
  /// The folder of the trial's latest checkpoint; empty when it has none.
  std::string checkpoint_path;
  /// Set when the trial failed: the error's text.
  std::optional<std::string> error;
  TrialStatus status = TrialStatus::kTerminated;
};

class ResultGrid {
 public:
  /// `default_metric` / `default_mode`: what GetBestResult uses when given
  /// none (the experiment's TuneConfig metric and mode, as in Ray).
  explicit ResultGrid(std::vector<Result> results, std::string default_metric = "",
                      std::optional<Mode> default_mode = std::nullopt, std::string experiment_path = "");

  /// Reads an experiment's folder (every sub-folder holding a params.json is
  /// a trial). A trial with an error.txt is ERROR, the others TERMINATED.
  /// Throws TuneError when `experiment_path` is not a readable folder.
  static ResultGrid Load(const std::string &experiment_path, std::string default_metric = "",
                         std::optional<Mode> default_mode = std::nullopt);

  size_t size() const { return results_.size(); }
  bool empty() const { return results_.empty(); }
  const Result &operator[](size_t i) const { return results_.at(i); }
  std::vector<Result>::const_iterator begin() const { return results_.begin(); }
  std::vector<Result>::const_iterator end() const { return results_.end(); }
  const std::string &experiment_path() const { return experiment_path_; }

  /// The best trial by `metric` and `mode` ("min" / "max"; empty: the
  /// defaults given at construction), comparing per `scope`, as Ray's
  /// get_best_result / get_best_trial:
  ///   "last"         each trial's last reported value (the default);
  ///   "avg"          the mean of all its reported values;
  ///   "last-5-avg"   the mean of its last 5 (and "last-10-avg": 10);
  ///   "all"          its best value at any point.
  /// Trials that never reported `metric` are skipped, and so are NaN and
  /// infinite values when `filter_nan_and_inf`. Throws TuneError for a
  /// missing metric or mode, a bad mode or scope, or when no trial qualifies.
  const Result &GetBestResult(const std::string &metric = "", const std::string &mode = "",
                              const std::string &scope = "last", bool filter_nan_and_inf = true) const;

  /// The trials that failed, and how many did / did not.
  std::vector<const Result *> Errors() const;
  size_t num_errors() const;
  size_t num_terminated() const;

  /// Ray's get_dataframe() as CSV: one row per trial -- its last result, or
  /// with `filter_metric` and `filter_mode` its best result by that metric --
  /// with nested keys flattened ("config/lr"), then trial_id and logdir.
  /// Columns are the union over rows, in first-seen order.
  std::string ToCsv(const std::string &filter_metric = "", const std::string &filter_mode = "") const;
  /// ToCsv written to `path`; throws TuneError when it cannot be written.
  void WriteCsv(const std::string &path, const std::string &filter_metric = "",
                const std::string &filter_mode = "") const;

 private:
  const std::string &MetricOrDefault(const std::string &metric, const char *what) const;
  Mode ModeOrDefault(const std::string &mode, const char *what) const;

  std::vector<Result> results_;
  std::string default_metric_;
  std::optional<Mode> default_mode_;
  std::string experiment_path_;
};

}  // namespace tune
}  // namespace ray
