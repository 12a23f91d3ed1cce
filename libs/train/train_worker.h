// Lumen Train (a Lumen extension), internal: the actor each training worker
// is, and the session its training function reports through. The driver
// (worker_group.cc) creates one per bundle of the group's placement group,
// asks where each landed and gives each its ranks (Start). Then
// DataParallelTrainer runs the training function on all of them at once
// (Run), and the RaySGD TorchTrainer (libs/train/torch) calls a worker
// service, once per epoch or state transfer (Call).
//
// Worker services: a library built on Lumen Train registers a handler under
// a name (RegisterWorkerService, from a static initialiser, so it exists in
// every process of the program: forked workers and programs started on other
// nodes alike), and the driver calls it by that name. That is how lumen_train_torch
// keeps a TrainingOperator alive in each worker between calls without an
// actor class of its own.
//
// Threading: an actor with one thread; Run calls the user's function on it,
// and Report/GetCheckpoint/GetContext find the session through a
// thread-local pointer set for the function's duration.
#pragma once

#include <string>

namespace ray {
namespace train {
namespace internal {

/// A worker service: takes the request's bytes, returns the reply's; throws
/// to fail the call (the message reaches the driver).
using WorkerService = std::string (*)(const std::string &request);
/// Registers `service` under `name` (a later registration of the name wins).
/// Returns true, so that a static initialiser can call it.
bool RegisterWorkerService(const std::string &name, WorkerService service);

class TrainWorker {
 public:
  static TrainWorker *Create();

  /// {"node_id", "address"} of the node this worker runs on (JSON text).
  std::string Where();
  /// A free TCP port on this worker's node (MASTER_PORT, asked of rank 0).
  int FreePort();
  /// JSON text: {"rank": WorkerRank fields, "world_size", "master_addr",
  /// "master_port", "group", "run_dir", "name", "iteration" (reports so far
  /// in the run), "checkpoint" (to resume from, or null), "num_to_keep", optionally
  /// "collective_timeout_ms" (each collective's timeout; default 30 s)}.
  /// Sets the environment variables and joins the collective group (every
  /// worker's Start must be in flight at once).
  bool Start(std::string setup);
  /// Runs the training function (a TrainableRef's JSON) with `config` (JSON
  /// text); "" when it returned, else what went wrong.
  std::string Run(std::string loop, std::string config);
  /// Calls the worker service `service` with `request`, with the session set
  /// as for Run (GetContext works). The answer's first byte says how it went:
  /// 'o' and the reply, or 'e' and what went wrong.
  std::string Call(std::string service, std::string request);
  int Pid();
};

}  // namespace internal
}  // namespace train
}  // namespace ray
