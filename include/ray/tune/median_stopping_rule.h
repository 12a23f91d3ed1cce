// Lumen extension (not part of Ray's C++ API): MedianStoppingRule, Ray Tune's
// port of Vizier's median stopping rule (Golovin et al., KDD 2017).
//
// A trial at time t >= grace_period is stopped when its best metric so far is
// worse than the median, over the other trials that have reached t, of their
// mean metric between grace_period and t. With too few such trials it may
// yield its resources (PAUSE) to waiting trials. No randomness. Driven by the
// runner's single driver thread (trial_scheduler.h).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ray/tune/trial_scheduler.h"

namespace ray {
namespace tune {

class MedianStoppingRule : public FIFOScheduler {
 public:
  /// Ray's parameters and defaults.
  struct Options {
    std::string time_attr = "time_total_s";
    std::optional<std::string> metric;
    std::optional<std::string> mode;  // "min" or "max"
    double grace_period = 60;
    int min_samples_required = 3;
    /// A trial runs at least this long between two yields.
    double min_time_slice = 0;
    /// Stop a trial below the median; when false, pause it (it then runs on,
    /// FIFO, once resumed).
    bool hard_stop = true;
  };

  explicit MedianStoppingRule(Options options);
  MedianStoppingRule();

  std::optional<Json> OnTrialAdd(const TrialView &trials, const TrialInfo &trial) override;
  Decision OnTrialResult(const TrialView &trials, const TrialInfo &trial, const Json &result) override;
  void OnTrialComplete(const TrialView &trials, const TrialInfo &trial, const Json &result) override;
  std::string DebugString() const override;
  Json Save() const override;
  void Restore(const Json &state) override;

 private:
  using Sample = std::pair<double, double>;  // (time, metric value)

  double RunningMean(const std::vector<Sample> &samples, double time) const;
  double BestResult(const std::vector<Sample> &samples) const;
  void Record(const std::string &trial_id, const Json &result);

  Options options_;
  std::vector<std::string> trial_order_;  // first result first, as Ray's dict
  std::unordered_map<std::string, std::vector<Sample>> results_;
  std::unordered_map<std::string, double> last_pause_;
  std::set<std::string> stopped_trials_;
};

}  // namespace tune
}  // namespace ray
