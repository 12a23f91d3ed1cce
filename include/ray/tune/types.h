// Lumen extension (not part of Ray's C++ API): the vocabulary shared by
// Lumen Tune's parts -- search spaces, searchers, schedulers, stoppers and the
// trial runner. Ray Tune exists only in Python; `ray::tune` follows its names
// and semantics (see docs/tune.md).
//
// Everything here is plain data and interfaces. Searchers, schedulers and
// stoppers are driven by the experiment's single driver thread and are not
// thread-safe themselves; the runner never calls one from two threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ray/api/ray_exception.h"

namespace ray {
namespace tune {

/// A trial's config, a reported result, saved state: JSON-like values.
using Json = nlohmann::json;

/// Every Tune error a user can cause (a bad config, an unknown metric, a bad
/// search space) is a TuneError, thrown before any trial starts where possible.
class TuneError : public ray::internal::RayException {
 public:
  explicit TuneError(const std::string &msg) : ray::internal::RayException(msg) {}
};

/// "min" or "max", as Ray spells it; anything else is a TuneError.
enum class Mode { kMin, kMax };
Mode ParseMode(const std::string &mode);
const char *ModeName(Mode mode);
/// Higher is better internally: +value for kMax, -value for kMin.
inline double Score(Mode mode, double value) { return mode == Mode::kMax ? value : -value; }

/// The experiment's random source: one seed reproduces every sampled config
/// and every random choice a scheduler or searcher makes.
using Rng = std::mt19937_64;

/// Names of the result fields the runner fills in on every report (Ray's).
namespace fields {
inline constexpr const char *kTrainingIteration = "training_iteration";
inline constexpr const char *kTimeThisIterS = "time_this_iter_s";
inline constexpr const char *kTimeTotalS = "time_total_s";
inline constexpr const char *kTimestamp = "timestamp";
inline constexpr const char *kDone = "done";
inline constexpr const char *kTrialId = "trial_id";
inline constexpr const char *kConfig = "config";
inline constexpr const char *kTimeSinceRestore = "time_since_restore";
inline constexpr const char *kIterationsSinceRestore = "iterations_since_restore";
}  // namespace fields

enum class TrialStatus { kPending, kRunning, kPaused, kTerminated, kError };
const char *TrialStatusName(TrialStatus status);  // "PENDING", ... as Ray prints them

/// What schedulers and searchers see of a trial. The runner owns the trial;
/// this view stays valid for the duration of the call it is passed to.
struct TrialInfo {
  std::string id;
  Json config;  // the sampled config (no domains left in it)
  TrialStatus status = TrialStatus::kPending;
  bool has_checkpoint = false;  // a checkpoint exists to restore from
};

/// The runner's side, as a scheduler needs it (a fake in unit tests).
class TrialView {
 public:
  virtual ~TrialView() = default;
  /// Every trial the runner knows, in the order they were added.
  virtual std::vector<const TrialInfo *> Trials() const = 0;
  virtual const TrialInfo *Find(const std::string &trial_id) const = 0;
};

enum class Action { kContinue, kPause, kStop };
const char *ActionName(Action action);

/// A scheduler's answer to a result. Besides the action:
/// - `save_checkpoint`: the runner saves the trial's state now and keeps it as
///   the trial's latest checkpoint before applying the action (PBT keeps the
///   upper quantile's state this way);
/// - `exploit`: the runner restores the trial from `donor_id`'s latest
///   checkpoint and gives it `new_config` (Trainable::ResetConfig, or a restart
///   with the new config) before applying the action.
struct Exploit {
  std::string donor_id;
  Json new_config;
};
struct Decision {
  Action action = Action::kContinue;
  bool save_checkpoint = false;
  std::optional<Exploit> exploit;
};

/// A value space for one key of a search space: Uniform, Choice, RandInt, ...
/// (search_space.h has the concrete ones with Ray's names and rules).
class Domain {
 public:
  virtual ~Domain() = default;
  /// One value. `config` is the config sampled so far (SampleFrom reads it).
  virtual Json Sample(const Json &config, Rng &rng) const = 0;
  /// GridSearch: every value is a trial (cross product), nothing is sampled.
  virtual bool IsGrid() const { return false; }
  virtual std::vector<Json> GridValues() const { return {}; }
  /// For PBT's perturbation: whether values are numbers (perturbed by factors)
  /// and, if integers, cast back to integers.
  virtual bool IsNumeric() const { return false; }
  virtual bool IsInteger() const { return false; }
  /// Human-readable, e.g. "Uniform(0, 1)", for errors and the progress table.
  virtual std::string ToString() const = 0;
};
using DomainPtr = std::shared_ptr<const Domain>;

}  // namespace tune
}  // namespace ray
