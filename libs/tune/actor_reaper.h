// Lumen Tune (a Lumen extension), internal: ends trials' actors off the
// experiment loop's thread. Ending one is a graceful stop (a call that lets
// the trainable finish: Report throws, Cleanup runs) and then a kill, which
// returns once the worker is gone: about a millisecond in all, every trial,
// which the loop would otherwise spend waiting instead of handling the next
// result. The trial is over for the loop as soon as it hands the actor here.
//
// Stops run side by side: each waits up to the grace on its own, so one
// trainable that ignores the stop does not hold back the others.
//
// Threading: Reap is called from one thread (the loop's); the reaper's own
// thread does the stopping and killing. Drain, and the destructor, wait for
// every actor handed over to be gone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <ray/api.h>

#include "trial_actor.h"

namespace ray {
namespace tune {
namespace internal {

class ActorReaper {
 public:
  explicit ActorReaper(std::chrono::milliseconds stop_grace);
  /// Drains, then ends the thread.
  ~ActorReaper();
  ActorReaper(const ActorReaper &) = delete;
  ActorReaper &operator=(const ActorReaper &) = delete;

  /// Ends `actor`: stopped gracefully first when `graceful` (an actor that
  /// has answered; one still waiting for resources is killed at once, as a
  /// graceful stop would wait out the grace). Then removes the trial's
  /// placement group `group_id` (none when empty), which ends whatever the
  /// trainable still runs in it.
  void Reap(ray::ActorHandle<TrialActor> actor, bool graceful, std::string group_id = "");
  /// Waits until every actor handed over is gone.
  void Drain();

 private:
  struct Handed {
    ray::ActorHandle<TrialActor> actor;
    bool graceful = false;
    std::string group_id;
  };
  struct Doomed {
    ray::ActorHandle<TrialActor> actor;
    std::string group_id;
    std::optional<ray::ObjectRef<bool>> stop;  // the graceful stop, while it runs
    std::chrono::steady_clock::time_point deadline;
  };
  void Loop();
  // Takes what was handed over since the last call; starts graceful stops.
  void TakeNew(std::vector<Doomed> &stopping, std::vector<Doomed> &to_kill);
  // Waits for stops to end (or their grace to pass); moves those to to_kill.
  void WaitForStops(std::vector<Doomed> &stopping, std::vector<Doomed> &to_kill);

  const std::chrono::milliseconds grace_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Handed> handed_;  // guarded by mu_
  size_t unfinished_ = 0;      // guarded by mu_: handed over and not yet killed
  bool closing_ = false;       // guarded by mu_
  std::thread thread_;         // last: started once the rest is ready
};

}  // namespace internal
}  // namespace tune
}  // namespace ray
