// Lumen extension (not part of Ray's C++ API): PopulationBasedTraining, Ray
// Tune's PBT (Jaderberg et al., arXiv:1711.09846).
//
// Every perturbation_interval of time_attr a trial is ranked among the
// population: the top quantile_fraction keep a checkpoint (Decision::
// save_checkpoint), the bottom quantile_fraction clone a random top trial's
// checkpoint and continue with a perturbed copy of its config
// (Decision::exploit). In synch mode every trial waits (PAUSE) at the
// interval until all have reached it, then all are ranked at once; exploits of
// paused trials come as TrialOrders. Each exploit is kept in a policy log the
// runner writes to pbt_global.txt and pbt_policy_<trial>.txt.
//
// Driven by the runner's single driver thread (trial_scheduler.h). Every
// random choice -- initial values of missing keys, donors, perturbations --
// comes from the Rng seeded with `seed`; a Domain samples from it too. User
// functions without an Rng argument bring their own randomness.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ray/tune/trial_scheduler.h"

namespace ray {
namespace tune {

/// How PBT mutates one config key (Ray's hyperparam_mutations values):
/// - a list of values: move to a neighbour in the list, or resample from it;
/// - a Domain or a function: multiply by a perturbation factor, or resample;
/// - nested: a mutation per key of a nested config object.
class Mutation {
 public:
  using Sampler = std::function<Json()>;
  using RngSampler = std::function<Json(Rng &)>;
  using Nested = std::vector<std::pair<std::string, Mutation>>;

  static Mutation Values(std::vector<Json> values);
  static Mutation Of(DomainPtr domain);
  static Mutation Of(Sampler sampler);
  static Mutation Of(RngSampler sampler);
  static Mutation Of(Nested nested);

  enum class Kind { kValues, kDomain, kFunction, kNested };
  Kind kind() const { return kind_; }
  const std::vector<Json> &values() const { return values_; }
  const DomainPtr &domain() const { return domain_; }
  const Nested &nested() const { return nested_; }
  /// A fresh value: a random list element, a Domain sample, the function's.
  Json Sample(Rng &rng) const;

 private:
  Mutation() = default;

  Kind kind_ = Kind::kValues;
  std::vector<Json> values_;
  DomainPtr domain_;
  RngSampler sampler_;
  Nested nested_;
};

/// Key -> mutation, in the order keys are explored (Ray's dict order).
using HyperparamMutations = Mutation::Nested;

/// One exploit, as Ray logs it: [target, donor, target iteration, donor
/// iteration, donor config, new config]. The iterations are each trial's last
/// training_iteration the runner had recorded before this result (Ray reads
/// trial.last_result, which it updates only after the scheduler's decision).
struct PbtPolicyEntry {
  std::string target;
  std::string donor;
  int64_t target_iteration = 0;
  int64_t donor_iteration = 0;
  Json donor_config;
  Json new_config;

  /// The JSON array Ray writes, one per line, to pbt_global.txt / pbt_policy.
  Json ToJson() const;
};

class PopulationBasedTraining : public FIFOScheduler {
 public:
  /// Ray's parameters and defaults.
  struct Options {
    std::string time_attr = "time_total_s";
    std::optional<std::string> metric;
    std::optional<std::string> mode;  // "min" or "max"
    double perturbation_interval = 60;
    double burn_in_period = 0;
    HyperparamMutations hyperparam_mutations;
    double quantile_fraction = 0.25;  // in [0, 0.5]
    double resample_probability = 0.25;
    std::vector<double> perturbation_factors = {1.2, 0.8};
    /// Applied to the config after the built-in perturbations.
    std::function<Json(Json)> custom_explore_fn;
    /// Keep the policy log.
    bool log_config = true;
    /// A result without time_attr or the metric is a TuneError (else ignored).
    bool require_attrs = true;
    bool synch = false;
    uint64_t seed = 0;
  };

  /// Throws TuneError on what Ray rejects: neither mutations nor
  /// custom_explore_fn, quantile_fraction outside [0, 0.5], a
  /// perturbation_interval <= 0, no perturbation factors, an empty value
  /// list, a bad mode.
  explicit PopulationBasedTraining(Options options);

  /// Returns the config with every mutated key it lacks sampled.
  std::optional<Json> OnTrialAdd(const TrialView &trials, const TrialInfo &trial) override;
  Decision OnTrialResult(const TrialView &trials, const TrialInfo &trial, const Json &result) override;
  /// The runnable trial that has trained least (in synch mode: only those
  /// short of the next synchronisation point).
  std::optional<std::string> ChooseTrialToRun(const TrialView &trials) override;
  std::string DebugString() const override;
  Json Save() const override;
  void Restore(const Json &state) override;

  /// explore(): a perturbed copy of `config` (Ray's _explore). Public for the
  /// runner's replay and for tests.
  Json Explore(const Json &config);

  /// Every exploit so far, oldest first (pbt_global.txt).
  const std::vector<PbtPolicyEntry> &policy_log() const { return policy_log_; }
  /// A trial's policy (pbt_policy_<trial>.txt): its donor's policy at the
  /// time of the exploit followed by the exploit, for each exploit of the
  /// trial (Ray copies the donor's file, then appends).
  std::vector<PbtPolicyEntry> TrialPolicy(const std::string &trial_id) const;

  int num_checkpoints() const { return num_checkpoints_; }
  int num_perturbations() const { return num_perturbations_; }
  /// The trials' last scores (higher is better), lower and upper quantile, by id.
  std::pair<std::vector<std::string>, std::vector<std::string>> Quantiles(const TrialView &trials) const;

 private:
  struct TrialState {
    std::optional<double> last_score;
    bool has_checkpoint = false;
    double last_perturbation_time = 0;
    double last_train_time = 0;
    int64_t last_iteration = 0;
  };

  Json ExploreNested(const Json &config, const HyperparamMutations &mutations);
  /// Checkpoint if `trial_id` is in the upper quantile, exploit if in the
  /// lower. Fills `decision` (the reporting trial's) or orders (another's).
  void CheckpointOrExploit(const TrialView &trials, const std::string &trial_id, bool reporting,
                           const std::vector<std::string> &lower, const std::vector<std::string> &upper,
                           Decision &decision);
  TrialState &State(const std::string &trial_id);

  Options options_;
  std::vector<std::string> trial_order_;
  std::map<std::string, TrialState> states_;
  double next_perturbation_sync_ = 0;
  int num_checkpoints_ = 0;
  int num_perturbations_ = 0;
  std::vector<PbtPolicyEntry> policy_log_;
  /// Per trial: indexes into policy_log_ (its pbt_policy file's lines).
  std::map<std::string, std::vector<size_t>> trial_policy_;
  Rng rng_;
};

}  // namespace tune
}  // namespace ray
