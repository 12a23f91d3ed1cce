// Lumen extension (not part of Ray's C++ API): AsyncHyperBandScheduler (ASHA),
// Ray Tune's asynchronous successive halving in its stopping form
// (Li et al., arXiv:1810.05934).
//
// Each bracket s has rungs at milestones grace_period * rf^(k+s); a trial that
// reaches a rung first is compared with the scores already recorded there and
// stopped when below their (1 - 1/rf) quantile, so about 1/rf of the trials
// pass each rung. Driven by the runner's single driver thread, like every
// scheduler (trial_scheduler.h); randomness (the bracket of a new trial) comes
// from the Rng seeded with `seed`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ray/tune/trial_scheduler.h"

namespace ray {
namespace tune {

class AsyncHyperBandScheduler : public FIFOScheduler {
 public:
  /// Ray's parameters and defaults.
  struct Options {
    std::string time_attr = "training_iteration";
    std::optional<std::string> metric;
    std::optional<std::string> mode;  // "min" or "max"
    double max_t = 100;
    double grace_period = 1;
    double reduction_factor = 4;
    int brackets = 1;
    /// Stop trials at max_t; when false they run on and keep being compared.
    bool stop_last_trials = true;
    uint64_t seed = 0;
  };

  /// Throws TuneError on parameters Ray rejects (max_t <= 0, grace_period <= 0
  /// or > max_t, reduction_factor <= 1, brackets < 1, a bad mode).
  explicit AsyncHyperBandScheduler(Options options);
  AsyncHyperBandScheduler();

  std::optional<Json> OnTrialAdd(const TrialView &trials, const TrialInfo &trial) override;
  Decision OnTrialResult(const TrialView &trials, const TrialInfo &trial, const Json &result) override;
  void OnTrialComplete(const TrialView &trials, const TrialInfo &trial, const Json &result) override;
  void OnTrialRemove(const TrialView &trials, const TrialInfo &trial) override;
  std::string DebugString() const override;
  Json Save() const override;
  void Restore(const Json &state) override;

  /// Inspection (progress output, tests).
  struct Rung {
    double milestone = 0;
    std::map<std::string, double> recorded;  // trial id -> score (higher is better)
  };
  struct Bracket {
    std::vector<Rung> rungs;  // largest milestone first, as Ray keeps them
  };
  const std::vector<Bracket> &brackets() const { return brackets_; }
  /// The bracket a live trial was placed in; nullopt for an unknown trial.
  std::optional<int> BracketOf(const std::string &trial_id) const;
  int num_stopped() const { return num_stopped_; }
  /// The rung's cutoff: the (1 - 1/rf) percentile of its scores, nullopt when
  /// it holds none.
  std::optional<double> Cutoff(const Rung &rung) const;

 private:
  Action OnBracketResult(Bracket &bracket, const std::string &trial_id, double time, double score) const;

  Options options_;
  std::vector<Bracket> brackets_;
  std::unordered_map<std::string, int> trial_bracket_;
  int num_stopped_ = 0;
  Rng rng_;
};

/// Ray's alias.
using ASHAScheduler = AsyncHyperBandScheduler;

}  // namespace tune
}  // namespace ray
