// Lumen Tune (a Lumen extension), internal: the two hosts of a trainable in a
// trial's actor. FunctionHost runs a function trainable on a thread of its
// own and hands its reports over one at a time; ClassHost drives a Trainable
// subclass one Step per result. The actor (trial_actor.cc) owns one host.
//
// Threading (std::mutex, as libs/tune sees only include/ray and not the
// runtime's annotated lumen::Mutex): the actor is created with two concurrent calls so that Stop can
// reach a trial whose Next is waiting on user code. FunctionHost's state is
// guarded by mu_; the function runs on thread_ and meets the actor's threads
// only through Report and GetCheckpoint. ClassHost calls the user's object
// under trainable_mu_, so its methods never overlap.
//
// Next() answers with one event, as JSON text:
//   {"kind": "result", "metrics": {...}, "checkpoint": path or null}
//   {"kind": "done", "metrics": {...}, "checkpoint": path or null}
//                                           the trainable finished (returned,
//                                           or its result said "done": true)
//   {"kind": "error", "error": "message"}   the trainable threw
//   {"kind": "stopped"}                     Stop came first
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ray/tune/trainable.h"
#include "trial_state.h"

namespace ray {
namespace tune {
namespace internal {

/// What Report throws to end a function trainable on STOP. Not a
/// std::exception, so that the user's `catch (const std::exception &)` lets it
/// through to FunctionHost, which catches it.
struct TrialStopped {};

/// What every host offers its actor.
class TrainableHost {
 public:
  virtual ~TrainableHost() = default;
  /// The next event (above). Blocks while the trainable works.
  virtual std::string Next() = 0;
  /// Ends the trainable: a function's next Report throws, a class gets
  /// Cleanup once its Step in progress returns. Waits for that.
  virtual void Stop() = 0;
  /// A checkpoint of the trial's state now, or none (a function that never
  /// reported one).
  virtual std::optional<std::string> Save() = 0;
  /// Continues from a checkpoint folder.
  virtual void Restore(const std::string &dir) = 0;
  /// A new config in place; false when the trainable cannot take one.
  virtual bool ResetConfig(const Json &config) = 0;
};

/// Where a trial keeps its files, who it is and what it holds: what
/// GetContext() answers while the trial's code runs.
struct TrialPlace {
  std::string trial_id;
  std::string trial_dir;
  Resources resources;
  ray::PlacementGroup placement_group;  // Empty() unless the resources name bundles
  Json parameters;                      // the trainable's WithParameters
};

std::string ResultEvent(const Json &metrics, const std::optional<std::string> &checkpoint);
std::string DoneEvent(const Json &metrics, const std::optional<std::string> &checkpoint = std::nullopt);
std::string ErrorEvent(const std::string &message);
std::string StoppedEvent();

class FunctionHost : public TrainableHost {
 public:
  FunctionHost(TrainFunction function, Json config, TrialPlace place,
               std::optional<std::string> restore_from);
  ~FunctionHost() override;

  std::string Next() override;
  void Stop() override;
  std::optional<std::string> Save() override;
  void Restore(const std::string &dir) override;
  /// Restarts the function with the new config and every counter at zero
  /// (Ray's function trainables take any config this way).
  bool ResetConfig(const Json &config) override;

  // From the function's thread (ray::tune::Report / GetCheckpoint).
  void Report(const Json &metrics, const Checkpoint *checkpoint);
  std::optional<Checkpoint> GetCheckpoint();

 private:
  void Run();
  // Ends the function's thread and readies the host to start it again.
  void Halt();

  const TrainFunction function_;
  const TrialPlace place_;

  std::mutex mu_;
  std::condition_variable cv_;
  Json config_;                                       // guarded by mu_
  ResultClock clock_;                                 // guarded by mu_
  std::optional<std::string> restore_from_;           // guarded by mu_
  std::optional<std::string> latest_checkpoint_;      // guarded by mu_: reported in this run
  std::optional<std::string> pending_;                // guarded by mu_: an event Next has not taken
  std::optional<Json> last_result_;                   // guarded by mu_
  std::chrono::steady_clock::time_point resumed_at_;  // guarded by mu_
  bool started_ = false;                              // guarded by mu_
  bool awaiting_decision_ = false;                    // guarded by mu_: Report waits for the next Next
  bool resume_ = false;                               // guarded by mu_
  bool stop_ = false;                                 // guarded by mu_: Report throws
  bool closed_ = false;               // guarded by mu_: Stop was called; Next answers "stopped"
  bool finished_ = false;             // guarded by mu_: the function's thread is done
  std::optional<std::string> error_;  // guarded by mu_
  bool stopped_by_us_ = false;        // guarded by mu_
  std::thread thread_;                // started and joined by the actor's threads, one at a time (Halt)
  std::mutex halt_mu_;                // serialises Halt
};

class ClassHost : public TrainableHost {
 public:
  ClassHost(TrainableFactory factory, Json config, TrialPlace place, std::optional<std::string> restore_from);

  std::string Next() override;
  void Stop() override;
  std::optional<std::string> Save() override;
  void Restore(const std::string &dir) override;
  bool ResetConfig(const Json &config) override;

 private:
  // Ends the trainable once: Cleanup. Next calls it when the trial ends (done
  // or an error), so the runner need not stop such a trial; Stop otherwise.
  void CloseLocked();

  const TrialPlace place_;
  std::mutex trainable_mu_;
  std::unique_ptr<Trainable> trainable_;  // guarded by trainable_mu_
  ResultClock clock_;                     // guarded by trainable_mu_
  std::optional<std::string> error_;      // guarded by trainable_mu_: Setup or a Step threw
  bool done_ = false;                     // guarded by trainable_mu_
  bool closed_ = false;                   // guarded by trainable_mu_
};

}  // namespace internal
}  // namespace tune
}  // namespace ray
