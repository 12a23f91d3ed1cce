// The live progress table of a Tune experiment, as Ray Tune's CLIReporter
// prints it: a status header (elapsed time, the scheduler's own line, the
// resources in use, the results folder, trial counts by status) and a table of
// trials (name, status, location, the sampled parameters, the latest metrics).
//
// On a terminal each report replaces the previous one in place (the cursor
// moves back over it and clears it); into a pipe or file each report is
// printed as plain lines after the last. Reports come at most every
// max_report_frequency_s seconds unless forced (the runner forces the last).
//
// Threading: one reporter per experiment, used by the driver's thread.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "ray/tune/types.h"

namespace ray {
namespace tune {
namespace internal {

struct ProgressOptions {
  /// Config keys to show (flattened, "a/b"); empty: every key that varies
  /// between trials, or every key when there is one trial.
  std::vector<std::string> parameter_columns;
  /// Result keys to show besides iterations and total time; empty: the
  /// experiment's metric and any of Ray's usual names the results carry
  /// (loss, mean_loss, accuracy, mean_accuracy, episode_reward_mean).
  std::vector<std::string> metric_columns;
  size_t max_progress_rows = 20;
  double max_report_frequency_s = 5;
  /// Rows sorted by this metric (best first) instead of by status.
  std::string sort_by_metric;
  Mode mode = Mode::kMin;
};

struct ProgressRow {
  std::string name;
  TrialStatus status = TrialStatus::kPending;
  std::string location;  // e.g. "pid=1234"; empty while pending
  Json config = Json::object();
  Json last_result = Json::object();  // empty before the first report
};

struct ProgressSnapshot {
  double elapsed_s = 0;
  std::string scheduler_line;  // e.g. the scheduler's debug string
  std::string resources_line;  // e.g. "2.0/2 CPUs, 0/0 GPUs"
  std::string logdir;
  std::string metric;         // the experiment's metric, if any
  int64_t total_trials = -1;  // -1: not known yet (unlimited samples)
  std::vector<ProgressRow> rows;
};

class ProgressReporter {
 public:
  ProgressReporter(ProgressOptions options, std::ostream &out, bool in_place);

  /// The report's text (pure; for tests and plain output).
  std::string Render(const ProgressSnapshot &snapshot) const;
  /// Prints the report if max_report_frequency_s has passed since the last
  /// one (by `now_s`, any monotonic seconds) or `force`.
  void Report(const ProgressSnapshot &snapshot, double now_s, bool force = false);
  /// Whether Report would print now: the caller builds a snapshot (a copy of
  /// every trial's row) only then.
  bool Due(double now_s) const {
    return !reported_ || now_s - last_report_s_ >= options_.max_report_frequency_s;
  }

 private:
  std::vector<std::string> ParameterColumns(const std::vector<ProgressRow> &rows) const;
  std::vector<std::string> MetricColumns(const ProgressSnapshot &snapshot) const;

  ProgressOptions options_;
  std::ostream &out_;
  bool in_place_;
  bool reported_ = false;
  double last_report_s_ = 0;
  size_t last_lines_ = 0;  // lines of the previous report (in place: to clear)
};

}  // namespace internal
}  // namespace tune
}  // namespace ray
