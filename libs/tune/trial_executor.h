// Lumen Tune (a Lumen extension), internal: the driver's side of running
// trials. TrialExecutor starts each trial as an actor (trial_actor.h) holding
// the trial's resources, keeps one Next call outstanding per running trial,
// and turns what comes back -- a result, the trainable's end, its exception,
// the worker's death -- into TrialEvents. The trial runner (the experiment's
// loop, Tuner/Run) drives it; users never see it, as Ray keeps its trial
// executor internal, so this header is not under include/ray.
//
// Protocol, per trial: Start issues the first Next. WaitAny hands over the
// next event of any running trial. After a kResult the trial waits, blocked
// in Report or between Steps, until the runner calls Continue (the next Next),
// Stop, Pause, or, between results only, SaveCheckpoint, Restore or
// ResetConfig. After kDone or kError the trial is gone (its actor ended).
//
// Threading: not thread-safe; one driver thread calls everything.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <ray/api.h>

#include "actor_reaper.h"
#include "ray/tune/resources.h"
#include "ray/tune/trainable.h"
#include "timeouts.h"
#include "trial_actor.h"

namespace ray {
namespace tune {
namespace internal {

struct TrialStart {
  std::string trial_id;
  TrainableRef trainable;
  Json config;
  Resources resources;
  /// The trial's own folder: its checkpoints go here.
  std::string trial_dir;
  /// A checkpoint folder to start from (a restart after a failure, a resume).
  std::optional<std::string> restore_from;
};

struct TrialEvent {
  enum class Kind {
    kResult,  // one reported result; the trial waits for the runner's decision
    kDone,    // the trainable finished; `metrics` is its final result (done: true)
    kError,   // the trainable threw, or its worker died; `error` says which
  };
  Kind kind = Kind::kResult;
  std::string trial_id;
  Json metrics;
  /// The trial's copy of the checkpoint reported with this result.
  std::optional<std::string> checkpoint;
  std::string error;
};

/// What the experiment loop (tune_controller.h) needs of the trials'
/// execution: TrialExecutor's actors in a real run, a fake in its unit tests.
class TrialBackend {
 public:
  virtual ~TrialBackend() = default;
  virtual void Start(const TrialStart &start) = 0;
  virtual std::optional<TrialEvent> WaitAny(std::chrono::milliseconds timeout) = 0;
  virtual void Continue(const std::string &trial_id) = 0;
  virtual void Stop(const std::string &trial_id) = 0;
  virtual std::optional<std::string> Pause(const std::string &trial_id) = 0;
  virtual std::optional<std::string> SaveCheckpoint(const std::string &trial_id) = 0;
  virtual void Restore(const std::string &trial_id, const std::string &checkpoint_dir) = 0;
  virtual bool ResetConfig(const std::string &trial_id, const Json &config) = 0;
  virtual std::size_t NumRunning() const = 0;
};

struct ExecutorOptions {
  /// How long Stop waits for the trainable to end on its own before killing
  /// its actor.
  std::chrono::milliseconds stop_grace = kStopGrace;
};

class TrialExecutor : public TrialBackend {
 public:
  explicit TrialExecutor(ExecutorOptions options = {}) : reaper_(options.stop_grace) {}
  /// Kills the actors of trials still running, and returns once every trial's
  /// actor is gone.
  ~TrialExecutor() override;
  TrialExecutor(const TrialExecutor &) = delete;
  TrialExecutor &operator=(const TrialExecutor &) = delete;

  /// Creates the trial's actor (in a placement group of its own when its
  /// resources name bundles) and asks for its first result. TuneError for a
  /// trial id already running or resources the cluster cannot meet
  /// (CheckTrialResources, once per distinct request).
  void Start(const TrialStart &start) override;
  /// The next event of any running trial, or none after `timeout` (or at
  /// once when no trial has a Next outstanding).
  std::optional<TrialEvent> WaitAny(std::chrono::milliseconds timeout) override;
  /// Lets the trial go on to its next result (after a kResult).
  void Continue(const std::string &trial_id) override;
  /// Ends the trial: STOP reaches the trainable (Report throws; Cleanup),
  /// then its actor is killed, at the latest after the stop grace. A trial
  /// that has sent nothing yet is killed at once: its actor may still be
  /// waiting for resources, and a graceful stop would wait out the grace.
  /// Returns at once: the trial is over for the runner, and its actor ends
  /// in the background (actor_reaper.h).
  void Stop(const std::string &trial_id) override;
  /// Saves a checkpoint, then stops; returns the checkpoint (none: a function
  /// that never reported one).
  std::optional<std::string> Pause(const std::string &trial_id) override;
  /// A checkpoint now: the class API saves into a new checkpoint folder of the
  /// trial; the function API gives its latest reported one. Between results
  /// only.
  std::optional<std::string> SaveCheckpoint(const std::string &trial_id) override;
  /// Continues the running trial from a checkpoint folder. Between results
  /// only; the trial's next result follows the checkpoint's iteration.
  void Restore(const std::string &trial_id, const std::string &checkpoint_dir) override;
  /// A new config in place; false when the trainable does not support it
  /// (the runner then restarts the trial). Between results only.
  bool ResetConfig(const std::string &trial_id, const Json &config) override;

  /// Returns once the actors of every trial that ended are gone (their
  /// graceful stops done or timed out, then killed).
  void Drain() { reaper_.Drain(); }

  bool IsRunning(const std::string &trial_id) const { return trials_.count(trial_id) != 0; }
  std::size_t NumRunning() const override { return trials_.size(); }

 private:
  struct Running {
    ray::ActorHandle<TrialActor> actor;
    std::optional<ray::ObjectRef<std::string>> next;  // the outstanding Next
    bool reported = false;                            // an event came back: the actor exists
    std::string group_id;                             // the trial's placement group, if any
  };
  Running &Find(const std::string &trial_id, const char *what);
  Running &FindBetweenResults(const std::string &trial_id, const char *what);
  // Hands the trial's actor to the reaper (a graceful stop if `graceful` and
  // the actor has answered, then a kill) and forgets the trial.
  void End(const std::string &trial_id, bool graceful = true);

  ActorReaper reaper_;
  std::map<std::string, Running> trials_;
  std::string last_served_;  // WaitAny's last trial: the next wait starts after it
  // Requests (ResourcesToJson text) CheckTrialResources passed: checked once
  // each rather than once per trial, which would cost a call to the control
  // service per trial start.
  std::set<std::string> fitting_requests_;
};

}  // namespace internal
}  // namespace tune
}  // namespace ray
