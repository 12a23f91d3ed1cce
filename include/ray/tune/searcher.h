// Lumen extension (not part of Ray's C++ API): Ray Tune's searchers in C++.
//
// A Searcher proposes configs (Ray's ray.tune.search.Searcher): the runner
// calls SetSearchProperties once before any trial (metric, mode, the search
// space, num_samples), then Suggest(trial_id) whenever it could start a trial,
// OnTrialResult for every report and OnTrialComplete when a trial ends.
// Save()/Restore() carry the whole search state as Json, so an interrupted
// experiment resumes with the same sequence of suggestions.
//
// Here: BasicVariantGenerator (random and grid search, Ray's default),
// ConcurrencyLimiter and Repeater (wrappers). tpe_search.h has the native TPE.
//
// Threading: none. A searcher is driven by the experiment's single driver
// thread; all randomness comes from an Rng seeded in its constructor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ray/tune/search_space.h"
#include "ray/tune/types.h"

namespace ray {
namespace tune {

/// Suggest's answer: a config, "not now" (Ray's None: ask again later, e.g.
/// when a trial ends) or "finished" (Ray's Searcher.FINISHED: no more trials).
class Suggestion {
 public:
  static Suggestion Of(Json config) { return Suggestion(Kind::kConfig, std::move(config)); }
  static Suggestion NotNow() { return Suggestion(Kind::kNotNow, Json()); }
  static Suggestion Finished() { return Suggestion(Kind::kFinished, Json()); }

  bool has_config() const { return kind_ == Kind::kConfig; }
  bool is_not_now() const { return kind_ == Kind::kNotNow; }
  bool is_finished() const { return kind_ == Kind::kFinished; }
  /// The config; TuneError unless has_config().
  const Json &config() const;

 private:
  enum class Kind { kConfig, kNotNow, kFinished };
  Suggestion(Kind kind, Json config) : kind_(kind), config_(std::move(config)) {}
  Kind kind_;
  Json config_;
};

/// What the runner tells a searcher before the first trial (Ray's
/// set_search_properties(metric, mode, config, **spec)).
struct SearchProperties {
  std::string metric;  // empty: not given
  std::string mode;    // "min", "max", or empty: not given; anything else is a TuneError
  Space space;
  /// Ray's num_samples: -1 is unlimited. Only searchers whose
  /// ManagesNumSamples() is true read it (BasicVariantGenerator repeats the
  /// grid this many times); for the others the runner stops asking after
  /// num_samples suggestions, as Ray's SearchGenerator does.
  int64_t num_samples = 1;
};

class Searcher {
 public:
  virtual ~Searcher() = default;

  /// Takes the experiment's metric, mode and space. Values given here replace
  /// those given to the searcher's constructor (as in Ray). Returns false when
  /// the searcher keeps a space of its own and ignores this one. Throws
  /// TuneError for anything this searcher cannot search (before any trial).
  virtual bool SetSearchProperties(const SearchProperties &properties) = 0;
  virtual Suggestion Suggest(const std::string &trial_id) = 0;
  virtual void OnTrialResult(const std::string & /*trial_id*/, const Json & /*result*/) {}
  /// `result` is the trial's last result (null if it reported none); `error`
  /// says it failed.
  virtual void OnTrialComplete(const std::string &trial_id, const Json &result, bool error) = 0;
  /// The search state. Restore() takes it back; call SetSearchProperties with
  /// the same properties first, as on the first run.
  virtual Json Save() const = 0;
  virtual void Restore(const Json &state) = 0;
  /// Ray's set_max_concurrency: true when the searcher limits concurrency
  /// itself (ConcurrencyLimiter then leaves it to it).
  virtual bool SetMaxConcurrency(int /*max_concurrent*/) { return false; }
  /// Whether the searcher applies num_samples itself (see SearchProperties).
  virtual bool ManagesNumSamples() const { return false; }

  /// As set by the constructor or SetSearchProperties; empty when not set.
  const std::string &metric() const { return metric_; }
  std::optional<Mode> mode() const { return mode_; }

 protected:
  /// Applies a non-empty metric and mode from `properties` (TuneError on a bad mode).
  void TakeMetricAndMode(const SearchProperties &properties);

  std::string metric_;
  std::optional<Mode> mode_;
};

// ---------------------------------------------------------------------------

struct BasicVariantOptions {
  /// Configs to run first, each replacing one of the num_samples samples (Ray):
  /// a point's keys override the space (a preset grid key is no longer a
  /// grid), the rest is sampled. A key not in the space is a TuneError.
  std::vector<Json> points_to_evaluate;
  /// At most this many live trials (Suggest says "not now" beyond); 0: no limit.
  int max_concurrent = 0;
  /// Ray's random_state; unset: seeded from the OS (not reproducible).
  std::optional<uint64_t> seed;
  /// Ray's constant_grid_search: sample the other domains once per sample and
  /// keep them over its grid points (SampleFrom functions that read a grid
  /// value are still computed per point). Off: sampled afresh per grid point.
  bool constant_grid_search = false;
};

/// Ray's default search algorithm: every grid point of the space (the cross
/// product of its GridSearch values), num_samples times, each with the other
/// domains sampled afresh; points_to_evaluate first. Then Finished.
class BasicVariantGenerator : public Searcher {
 public:
  explicit BasicVariantGenerator(BasicVariantOptions options = {});

  bool SetSearchProperties(const SearchProperties &properties) override;
  Suggestion Suggest(const std::string &trial_id) override;
  void OnTrialComplete(const std::string &trial_id, const Json &result, bool error) override;
  Json Save() const override;
  void Restore(const Json &state) override;
  bool SetMaxConcurrency(int max_concurrent) override;
  bool ManagesNumSamples() const override { return true; }

  /// Trials in all (Ray's total_samples); -1 when num_samples is unlimited.
  int64_t TotalSamples() const;

 private:
  BasicVariantOptions options_;
  Space space_;
  std::vector<Space> presets_;  // space_ with each point applied
  int64_t num_samples_ = 1;
  Rng rng_;
  // Position: which sample (presets first, then plain samples) and which grid
  // point inside it comes next.
  int64_t sample_ = 0;
  uint64_t grid_index_ = 0;
  Json fixed_ = Json::object();  // constant_grid_search: this sample's non-grid values
  std::set<std::string> live_;
};

// ---------------------------------------------------------------------------

/// Ray's ConcurrencyLimiter: at most max_concurrent live trials from the
/// wrapped searcher ("not now" beyond). With batch, completions are held back
/// and handed to the wrapped searcher together once the whole batch has ended.
/// A wrapped searcher that limits concurrency itself (SetMaxConcurrency true)
/// is left to do so.
class ConcurrencyLimiter : public Searcher {
 public:
  /// max_concurrent > 0, else TuneError.
  ConcurrencyLimiter(std::unique_ptr<Searcher> searcher, int max_concurrent, bool batch = false);

  bool SetSearchProperties(const SearchProperties &properties) override;
  Suggestion Suggest(const std::string &trial_id) override;
  void OnTrialResult(const std::string &trial_id, const Json &result) override;
  void OnTrialComplete(const std::string &trial_id, const Json &result, bool error) override;
  Json Save() const override;
  void Restore(const Json &state) override;
  bool SetMaxConcurrency(int max_concurrent) override;
  bool ManagesNumSamples() const override { return searcher_->ManagesNumSamples(); }

  Searcher &searcher() { return *searcher_; }

 private:
  struct Cached {
    Json result;
    bool error;
  };
  std::unique_ptr<Searcher> searcher_;
  int max_concurrent_;
  bool batch_;
  bool limit_ = true;  // false when the wrapped searcher limits itself
  std::set<std::string> live_;
  int unfinished_ = 0;
  std::map<std::string, Cached> cached_;
};

// ---------------------------------------------------------------------------

/// Ray's Repeater: runs each config of the wrapped searcher `repeat` times and
/// reports the mean of the metric (NaN-skipping; NaN for a repeat that reported
/// no metric) to the wrapped searcher as one completed trial. With set_index,
/// each repeat's config carries "__trial_index__" = 0..repeat-1 (for seeds).
/// num_samples counts every repeat (Ray): use a multiple of `repeat`.
class Repeater : public Searcher {
 public:
  static constexpr const char *kTrialIndex = "__trial_index__";
  /// repeat >= 1, else TuneError.
  explicit Repeater(std::unique_ptr<Searcher> searcher, int repeat = 1, bool set_index = true);

  bool SetSearchProperties(const SearchProperties &properties) override;
  Suggestion Suggest(const std::string &trial_id) override;
  void OnTrialComplete(const std::string &trial_id, const Json &result, bool error) override;
  Json Save() const override;
  void Restore(const Json &state) override;
  bool ManagesNumSamples() const override { return searcher_->ManagesNumSamples(); }

  Searcher &searcher() { return *searcher_; }

 private:
  struct Group {
    std::string primary;  // the trial id the wrapped searcher knows
    Json config;
    std::vector<std::string> trials;
    std::map<std::string, double> scores;  // by trial id, once complete
  };
  std::unique_ptr<Searcher> searcher_;
  int repeat_;
  bool set_index_;
  std::vector<Group> groups_;
  std::map<std::string, size_t> group_of_;  // trial id -> index into groups_
};

}  // namespace tune
}  // namespace ray
