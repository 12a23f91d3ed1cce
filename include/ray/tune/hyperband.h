// Lumen extension (not part of Ray's C++ API): HyperBandScheduler, Ray Tune's
// synchronous HyperBand (Li et al., "Hyperband", JMLR 2018).
//
// Trials fill brackets s = 0, 1, ..., s_max (a band), bracket s taking
// n0 = ceil((s_max+1)/(s+1) * eta^s) trials that first run r0 = int(max_t *
// eta^-s) units of time_attr. A trial reaching its bracket's milestone is
// PAUSED until every live trial of the bracket has; then successive halving
// keeps the best ceil(n/eta), stops the others (orders for paused ones, see
// TrialOrder) and raises the milestone. ChooseTrialToRun resumes released
// trials, least-complete bracket first. No randomness. Driven by the runner's
// single driver thread (trial_scheduler.h).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "ray/tune/trial_scheduler.h"

namespace ray {
namespace tune {

class HyperBandScheduler : public FIFOScheduler {
 public:
  /// Ray's parameters and defaults.
  struct Options {
    std::string time_attr = "training_iteration";
    std::optional<std::string> metric;
    std::optional<std::string> mode;  // "min" or "max"
    double max_t = 81;
    double reduction_factor = 3;  // eta
    bool stop_last_trials = true;
  };

  /// Throws TuneError on max_t <= 0, reduction_factor <= 1 or a bad mode.
  explicit HyperBandScheduler(Options options);
  HyperBandScheduler();

  std::optional<Json> OnTrialAdd(const TrialView &trials, const TrialInfo &trial) override;
  Decision OnTrialResult(const TrialView &trials, const TrialInfo &trial, const Json &result) override;
  void OnTrialComplete(const TrialView &trials, const TrialInfo &trial, const Json &result) override;
  void OnTrialError(const TrialView &trials, const TrialInfo &trial) override;
  void OnTrialRemove(const TrialView &trials, const TrialInfo &trial) override;
  std::optional<std::string> ChooseTrialToRun(const TrialView &trials) override;
  std::string DebugString() const override;
  Json Save() const override;
  void Restore(const Json &state) override;
  bool SupportsBufferedResults() const override { return false; }

  /// Brackets per band (s_max + 1), and bracket s's size and first milestone.
  int brackets_per_band() const { return s_max_1_; }
  int BracketSize(int s) const;
  int BracketInitialBudget(int s) const;

  /// Inspection (progress output, tests).
  struct BracketStatus {
    int band = 0;
    int s = 0;
    int max_size = 0;       // n: trials the bracket keeps now
    double milestone = 0;   // cumulative r the live trials must reach
    int halvings_left = 0;  // successive halvings still to come
    std::vector<std::string> live_trials;
    double completion = 0;  // 0..1
  };
  std::vector<BracketStatus> Brackets() const;
  int num_stopped() const { return num_stopped_; }

 private:
  struct LiveResult {
    double time = 0;  // 0 until the first result (Ray's None)
    std::optional<double> score;
  };
  struct Bracket {
    int band = 0;
    int s = 0;
    int n = 0;
    double r = 0;
    double cumul_r = 0;
    int halves = 0;
    double total_work = 0;
    double completed_progress = 0;
    std::vector<std::string> all_trials;
    std::vector<std::string> live_order;  // insertion order, as Ray's dict
    std::unordered_map<std::string, LiveResult> live;
    std::set<std::string> to_unpause;
  };

  Bracket CreateBracket(int band, int s) const;
  double TotalWork(double n, double r, int s) const;
  bool CurIterDone(const Bracket &bracket) const;
  bool Finished(const Bracket &bracket) const;
  bool ContinueTrial(const Bracket &bracket, const std::string &trial_id) const;
  double Completion(const Bracket &bracket) const;
  void CleanupTrial(Bracket &bracket, const std::string &trial_id);
  void StopOther(Bracket &bracket, const std::string &trial_id);
  /// Ray's _process_bracket. `reporting` is the trial whose result is being
  /// handled (the only RUNNING trial a halving can meet), if any.
  Action ProcessBracket(Bracket &bracket, const std::optional<std::string> &reporting);
  void Forget(const TrialInfo &trial);

  Options options_;
  int s_max_1_ = 0;
  std::vector<Bracket> brackets_;
  /// Bands of bracket indices; nullopt where Ray leaves a None (r0 == 0).
  std::vector<std::vector<std::optional<int>>> bands_ = {{}};
  std::optional<int> current_bracket_;
  std::unordered_map<std::string, int> trial_bracket_;
  /// Trials this scheduler ordered stopped; their removal is bookkeeping only.
  std::set<std::string> ordered_stop_;
  int num_stopped_ = 0;
};

}  // namespace tune
}  // namespace ray
