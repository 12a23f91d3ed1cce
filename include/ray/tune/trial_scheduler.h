// Lumen extension (not part of Ray's C++ API): the trial scheduler interface of
// Lumen Tune, ported from Ray Tune's TrialScheduler, and the default FIFO
// scheduler.
//
// A scheduler is pure bookkeeping: the trial runner calls its hooks from the
// experiment's single driver thread and applies what they return. It never
// touches a trial itself, holds no threads and no globals, and takes every
// random choice from an Rng seeded in its constructor, so the same results in
// the same order give the same decisions. Save()/Restore() carry all of its
// state as Json so an interrupted experiment resumes exactly; constructor
// parameters (and any functions passed there) are not part of that state:
// Restore into a scheduler constructed with the same parameters.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ray/tune/types.h"

namespace ray {
namespace tune {

/// The metric Ray uses when only a mode was given ("_metric").
inline constexpr const char *kDefaultMetric = "_metric";

/// A decision about a trial other than the one a hook was called for (Ray's
/// schedulers stop or update such trials directly; Lumen's hand them to the
/// runner instead). The trial is PAUSED or PENDING when the order is given:
/// - kStop: end the trial (the runner then calls OnTrialRemove for it);
/// - kPause: leave it paused, after applying `exploit` (its next start uses
///   the donor's checkpoint and the new config).
struct TrialOrder {
  std::string trial_id;
  Decision decision;
};

class TrialScheduler {
 public:
  virtual ~TrialScheduler() = default;

  /// metric/mode given once at the top level. Returns false when the
  /// scheduler was constructed with its own metric or mode and another one is
  /// passed (the runner reports that conflict). With a mode but no metric the
  /// metric becomes kDefaultMetric. A bad mode is a TuneError.
  virtual bool SetSearchProperties(const std::optional<std::string> &metric,
                                   const std::optional<std::string> &mode);

  /// A new trial. Returns the config to give the trial instead of the one it
  /// was sampled with (PBT fills in mutated keys the config lacks), or nullopt.
  /// Throws TuneError when the scheduler needs a metric and mode and has none.
  virtual std::optional<Json> OnTrialAdd(const TrialView &trials, const TrialInfo &trial) = 0;

  /// A result of a RUNNING trial; the decision is applied before the trial's
  /// next step. Called after the runner filled in the auto fields, before it
  /// records the result as the trial's last. With an exploit, a PAUSE must not
  /// save the trial's own state: its next start restores the donor's
  /// checkpoint with the new config.
  virtual Decision OnTrialResult(const TrialView &trials, const TrialInfo &trial, const Json &result) = 0;

  /// A RUNNING trial finished (its trainable returned, or a stopper or this
  /// scheduler stopped it); `result` is its last result.
  virtual void OnTrialComplete(const TrialView &trials, const TrialInfo &trial, const Json &result) = 0;

  /// A RUNNING trial failed for good (no retries left).
  virtual void OnTrialError(const TrialView &trials, const TrialInfo &trial) = 0;

  /// A PAUSED or PENDING trial is ended (an order to stop it, or the
  /// experiment stops).
  virtual void OnTrialRemove(const TrialView &trials, const TrialInfo &trial) = 0;

  /// Which PENDING or PAUSED trial gets free resources next; nullopt when
  /// none should start now. Idempotent: asking twice gives the same answer.
  virtual std::optional<std::string> ChooseTrialToRun(const TrialView &trials) = 0;

  /// One line (or a few) for the progress output.
  virtual std::string DebugString() const = 0;

  /// All state as Json, and back. Restore expects the output of Save() of a
  /// scheduler constructed with the same parameters; the trials that state
  /// knows are not added again afterwards.
  virtual Json Save() const = 0;
  virtual void Restore(const Json &state) = 0;

  /// Orders about other trials that the last hook call produced, oldest first;
  /// taking them clears them. The runner takes them after every hook call and
  /// applies them after the decision for the reporting trial (whose
  /// checkpoint, when `save_checkpoint` is set, an exploit order may use).
  std::vector<TrialOrder> TakeOrders();

  /// Whether the runner may hand this scheduler several buffered results of a
  /// trial at once (Ray's _supports_buffered_results; HyperBand may not).
  virtual bool SupportsBufferedResults() const { return true; }

  const std::optional<std::string> &metric() const { return metric_; }
  const std::optional<Mode> &mode() const { return mode_; }

 protected:
  TrialScheduler() = default;
  TrialScheduler(const std::optional<std::string> &metric, const std::optional<std::string> &mode);

  void Order(const std::string &trial_id, Decision decision);
  /// metric/mode (and pending orders) for Save()/Restore() of subclasses.
  Json SaveBase() const;
  void RestoreBase(const Json &state);

  std::optional<std::string> metric_;
  std::optional<Mode> mode_;

 private:
  std::vector<TrialOrder> orders_;
};

/// Runs trials in the order they were added: the first PENDING trial, else
/// the first PAUSED one. Every result is CONTINUE. The default scheduler.
class FIFOScheduler : public TrialScheduler {
 public:
  FIFOScheduler() = default;

  std::optional<Json> OnTrialAdd(const TrialView &trials, const TrialInfo &trial) override;
  Decision OnTrialResult(const TrialView &trials, const TrialInfo &trial, const Json &result) override;
  void OnTrialComplete(const TrialView &trials, const TrialInfo &trial, const Json &result) override;
  void OnTrialError(const TrialView &trials, const TrialInfo &trial) override;
  void OnTrialRemove(const TrialView &trials, const TrialInfo &trial) override;
  std::optional<std::string> ChooseTrialToRun(const TrialView &trials) override;
  std::string DebugString() const override;
  Json Save() const override;
  void Restore(const Json &state) override;

 protected:
  FIFOScheduler(const std::optional<std::string> &metric, const std::optional<std::string> &mode)
      : TrialScheduler(metric, mode) {}
  /// Ray's FIFO choice, for subclasses that keep it.
  static std::optional<std::string> FirstPendingThenPaused(const TrialView &trials);
};

}  // namespace tune
}  // namespace ray
