// Lumen extension (not part of Ray's C++ API): stoppers, Ray Tune's per-trial
// and experiment-wide stopping criteria (ray.tune.stopper).
//
// The runner asks ShouldStop(trial_id, result) on every result (true ends
// that trial) and StopAll() after results (true ends the experiment). Like the
// schedulers, stoppers are called only from the experiment's single driver
// thread, are not thread-safe, and Save()/Restore() their state as Json so a
// resumed experiment goes on counting where it stopped.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ray/tune/types.h"

namespace ray {
namespace tune {

class Stopper {
 public:
  virtual ~Stopper() = default;
  /// Whether the trial should end given this result (called for every result).
  virtual bool ShouldStop(const std::string &trial_id, const Json &result) = 0;
  /// Whether the whole experiment should end.
  virtual bool StopAll() = 0;
  /// State to carry over a resume; stateless stoppers keep the defaults.
  virtual Json Save() const { return Json::object(); }
  virtual void Restore(const Json &) {}
};
using StopperPtr = std::shared_ptr<Stopper>;

/// Never stops anything (Ray's NoopStopper).
class NoopStopper : public Stopper {
 public:
  bool ShouldStop(const std::string &, const Json &) override { return false; }
  bool StopAll() override { return false; }
};

/// The dict form of `stop`: {"training_iteration": 10, "mean_accuracy": 0.98}
/// stops a trial as soon as any key's value is >= its threshold (Ray compares
/// with >= whatever the metric's mode; for a loss, stop on a negated metric or
/// use a FunctionStopper). Keys may name nested fields as "a/b". A result
/// without one of the keys is a TuneError, as in Ray.
class MetricThresholdStopper : public Stopper {
 public:
  /// `criteria` must be an object of numbers (TuneError otherwise).
  explicit MetricThresholdStopper(Json criteria);
  bool ShouldStop(const std::string &trial_id, const Json &result) override;
  bool StopAll() override { return false; }

 private:
  Json criteria_;
};

/// A function (trial_id, result) -> stop this trial.
class FunctionStopper : public Stopper {
 public:
  using Function = std::function<bool(const std::string &trial_id, const Json &result)>;
  explicit FunctionStopper(Function function);
  bool ShouldStop(const std::string &trial_id, const Json &result) override;
  bool StopAll() override { return false; }

 private:
  Function function_;
};

/// Stops a trial after max_iter results (counted per trial by this stopper).
class MaximumIterationStopper : public Stopper {
 public:
  explicit MaximumIterationStopper(int64_t max_iter);
  bool ShouldStop(const std::string &trial_id, const Json &result) override;
  bool StopAll() override { return false; }
  Json Save() const override;
  void Restore(const Json &state) override;

 private:
  int64_t max_iter_;
  std::map<std::string, int64_t> iterations_;
};

/// Stops a trial whose metric has plateaued: the standard deviation of its
/// last num_results values is below `std`, after grace_period results, and,
/// with a metric_threshold, once the value is at least as good as it.
class TrialPlateauStopper : public Stopper {
 public:
  struct Options {
    std::string metric;
    double std = 0.01;
    int num_results = 4;
    int grace_period = 4;
    std::optional<double> metric_threshold;
    std::optional<std::string> mode;  // "min" or "max"; required with a threshold
  };
  explicit TrialPlateauStopper(Options options);
  bool ShouldStop(const std::string &trial_id, const Json &result) override;
  bool StopAll() override { return false; }
  Json Save() const override;
  void Restore(const Json &state) override;

 private:
  Options options_;
  std::optional<Mode> mode_;
  std::map<std::string, int64_t> iterations_;
  /// Last num_results values per trial; nullopt for a result without the metric.
  std::map<std::string, std::deque<std::optional<double>>> results_;
};

/// Stops the experiment once the best `top` values of `metric` over all
/// results have had a standard deviation <= `std` for `patience` results in a
/// row (at least one: patience 0 and 1 both stop at the first such result, as
/// in Ray).
class ExperimentPlateauStopper : public Stopper {
 public:
  struct Options {
    std::string metric;
    double std = 0.001;
    int top = 10;
    std::string mode = "min";
    int patience = 0;
  };
  /// TuneError on a mode other than min/max, top <= 1, patience < 0, std <= 0.
  explicit ExperimentPlateauStopper(Options options);
  bool ShouldStop(const std::string &trial_id, const Json &result) override;
  bool StopAll() override;
  Json Save() const override;
  void Restore(const Json &state) override;

 private:
  bool HasPlateaued() const;

  Options options_;
  Mode mode_;
  int64_t iterations_ = 0;
  std::vector<double> top_values_;  // ascending
};

/// Stops the experiment once `timeout_s` seconds have passed, counted from the
/// first StopAll() call (so setup is not charged) on `clock` (seconds; a
/// steady clock by default). Over a resume only the remaining budget carries.
class TimeoutStopper : public Stopper {
 public:
  using Clock = std::function<double()>;
  explicit TimeoutStopper(double timeout_s, Clock clock = nullptr);
  bool ShouldStop(const std::string &, const Json &) override { return false; }
  bool StopAll() override;
  Json Save() const override;
  void Restore(const Json &state) override;

 private:
  double timeout_s_;
  double budget_s_;
  std::optional<double> last_check_;
  Clock clock_;
};

/// Several stoppers joined by OR.
class CombinedStopper : public Stopper {
 public:
  explicit CombinedStopper(std::vector<StopperPtr> stoppers);
  /// Asks the stoppers in order and stops at the first yes: later ones are not
  /// called for that result (Ray's any() over a generator), so their counters
  /// do not advance.
  bool ShouldStop(const std::string &trial_id, const Json &result) override;
  bool StopAll() override;
  Json Save() const override;
  void Restore(const Json &state) override;

 private:
  std::vector<StopperPtr> stoppers_;
};

}  // namespace tune
}  // namespace ray
