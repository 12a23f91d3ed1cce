// Lumen Tune (a Lumen extension), internal: the actor every trial runs in.
// The driver's TrialExecutor creates it with the trial's resources and talks
// to it through these methods; it hosts the trainable (trainable_host.h).
//
// Threading: created with max_concurrency 2, so that Stop (and Save, for
// PAUSE) can reach a trial whose Next is still waiting on user code; the host
// serialises what must not overlap.
#pragma once

#include <memory>
#include <string>

#include "trainable_host.h"

namespace ray {
namespace tune {
namespace internal {

class TrialActor {
 public:
  /// `spec` is JSON text: {"trial_id", "trial_dir", "trainable" (a
  /// TrainableRef's JSON), "config", "restore_from" (a folder or null),
  /// "resources" (trial_resources.h's JSON), "placement_group" (the trial's
  /// group id, or null)}. A trainable that does not resolve here makes every
  /// Next an error event.
  static TrialActor *Create(std::string spec);

  /// The next event (trainable_host.h).
  std::string Next();
  /// Ends the trainable gracefully; the driver kills the actor afterwards.
  bool Stop();
  /// A checkpoint folder of the trial's state now; "" when there is none.
  std::string Save();
  bool Restore(std::string dir);
  bool ResetConfig(std::string config);
  /// The worker's pid (tests kill it).
  int Pid();

 private:
  explicit TrialActor(std::string error) : error_(std::move(error)) {}
  explicit TrialActor(std::unique_ptr<TrainableHost> host) : host_(std::move(host)) {}
  TrainableHost &Host();

  std::unique_ptr<TrainableHost> host_;
  const std::string error_;  // set when there is no host
};

}  // namespace internal
}  // namespace tune
}  // namespace ray
