// Lumen extension (not part of Ray's C++ API): a native Tree-structured Parzen
// Estimator searcher. Ray Tune only offers TPE by calling Optuna or HyperOpt;
// this follows Optuna's univariate TPESampler (its defaults and its Parzen
// estimator: sigmas from neighbour distances, a prior kernel, the "magic clip")
// without either library.
//
// For the first n_startup_trials completed trials it samples at random. Then,
// for each parameter on its own: the completed trials are split into the best
// gamma(n) = min(ceil(gamma_fraction * n), gamma_max) ("good") and the rest
// ("bad"); a Parzen estimator (a mixture of truncated normals, one kernel per
// observation plus a prior kernel over the whole range; categorical values get
// smoothed per-kernel distributions) is fitted to each; n_ei_candidates values
// are drawn from the good estimator l(x), and the one with the largest
// l(x) / g(x) is suggested. Log domains are modelled in log space, quantised
// and integer domains on their grid.
//
// Supports Uniform, QUniform, LogUniform, QLogUniform, RandInt, QRandInt,
// LogRandInt, QLogRandInt and Choice; constants pass through. Randn/QRandn (no
// bounds), GridSearch and SampleFrom are refused with TuneError, as are a
// missing metric or mode, before any trial starts. Running trials are not
// modelled (Optuna without constant_liar); failed trials and trials without
// the metric are ignored.
//
// Threading: none (driven by the experiment's driver thread). All randomness
// comes from one Rng seeded in the constructor; Save()/Restore() carry it and
// every observation, so a restored search continues the same sequence.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ray/tune/searcher.h"

namespace ray {
namespace tune {

struct TpeOptions {
  /// Optional here; SetSearchProperties' metric and mode replace these.
  std::string metric;
  std::string mode;
  /// Random suggestions until this many trials have completed (Optuna: 10).
  int n_startup_trials = 10;
  /// Candidates drawn from l(x) per parameter (Optuna: 24).
  int n_ei_candidates = 24;
  /// The "good" set: min(ceil(gamma_fraction * n), gamma_max) trials (Optuna: 0.1, 25).
  double gamma_fraction = 0.1;
  int gamma_max = 25;
  /// Weight of the prior kernel against each observation's (Optuna: 1).
  double prior_weight = 1.0;
  /// Lower bound on a kernel's width, (high - low) / min(100, 1 + kernels) (Optuna: on).
  bool consider_magic_clip = true;
  /// Let the outermost kernels widen to the range's ends (Optuna: off).
  bool consider_endpoints = false;
  /// Unset: seeded from the OS (not reproducible).
  std::optional<uint64_t> seed;
};

class TpeSearch : public Searcher {
 public:
  /// Throws TuneError on bad options (n_startup_trials < 0, n_ei_candidates < 1, ...).
  explicit TpeSearch(TpeOptions options = {});
  ~TpeSearch() override;

  bool SetSearchProperties(const SearchProperties &properties) override;
  Suggestion Suggest(const std::string &trial_id) override;
  void OnTrialComplete(const std::string &trial_id, const Json &result, bool error) override;
  Json Save() const override;
  void Restore(const Json &state) override;

  /// Completed trials that count as observations.
  size_t NumObservations() const { return observations_.size(); }

  /// One searchable parameter of the space (public for the implementation's
  /// helpers; not an API).
  struct Param;

 private:
  struct Observation {
    std::vector<double> x;  // per parameter: model coordinate, or category index
    double score;           // higher is better (Score(mode, value))
  };

  std::vector<double> SampleRandom();
  std::vector<double> SampleModel();
  Json MakeConfig(const std::vector<double> &x) const;

  TpeOptions options_;
  Rng rng_;
  bool ready_ = false;  // SetSearchProperties succeeded
  std::vector<Param> params_;
  Json skeleton_;  // the constants, with an object for every sub-space
  std::vector<Observation> observations_;
  std::map<std::string, std::vector<double>> live_;  // suggested, not completed
};

}  // namespace tune
}  // namespace ray
