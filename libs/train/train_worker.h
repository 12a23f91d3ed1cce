// Lumen Train (a Lumen extension), internal: the actor each training worker
// is, and the session its training function reports through. The driver
// (data_parallel_trainer.cc) creates one per bundle of the group's placement
// group, asks where each landed, gives each its ranks (Start), then runs the
// training function on all of them at once (Run).
//
// Threading: an actor with one thread; Run calls the user's function on it,
// and Report/GetCheckpoint/GetContext find the session through a
// thread-local pointer set for the function's duration.
#pragma once

#include <string>

namespace ray {
namespace train {
namespace internal {

class TrainWorker {
 public:
  static TrainWorker *Create();

  /// {"node_id", "address"} of the node this worker runs on (JSON text).
  std::string Where();
  /// A free TCP port on this worker's node (MASTER_PORT, asked of rank 0).
  int FreePort();
  /// JSON text: {"rank": WorkerRank fields, "world_size", "master_addr",
  /// "master_port", "group", "run_dir", "name", "iteration" (reports so far
  /// in the run), "checkpoint" (to resume from, or null), "num_to_keep"}.
  /// Sets the environment variables and joins the collective group (every
  /// worker's Start must be in flight at once).
  bool Start(std::string setup);
  /// Runs the training function (a TrainableRef's JSON) with `config` (JSON
  /// text); "" when it returned, else what went wrong.
  std::string Run(std::string loop, std::string config);
  int Pid();
};

}  // namespace internal
}  // namespace train
}  // namespace ray
