// Lumen Train (a Lumen extension), internal: one group of training workers
// (TrainWorker actors), placed, ranked and joined in a collective group. Both
// trainers build on it: DataParallelTrainer runs a training function on the
// group once per attempt; the RaySGD TorchTrainer (libs/train/torch) keeps a
// group and calls its workers once per epoch.
//
// Placement: a placement group of its own with one bundle per worker, or
// bundles [first, first + n) of a group someone else made (a Tune trial's,
// whose bundle 0 holds the trial's own actor). The group it made is removed
// with it; a borrowed one is left to its owner.
//
// Threading: used from one thread (the driver's, or a trial's).
#pragma once

#include <ray/api.h>
#include <ray/train.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "train_worker.h"

namespace ray {
namespace train {
namespace internal {

/// What each worker holds: resources_per_worker, else {"CPU": 1} (and
/// {"GPU": 1} with use_gpu).
std::unordered_map<std::string, double> WorkerResources(const ScalingConfig &scaling);
/// Throws RayException for a strategy other than PACK, SPREAD, STRICT_PACK, STRICT_SPREAD.
ray::PlacementStrategy StrategyNamed(const std::string &name);

class WorkerGroup {
 public:
  /// `who` names the trainer in errors ("DataParallelTrainer", "TorchTrainer").
  WorkerGroup(ScalingConfig scaling, std::string who);
  ~WorkerGroup() { TearDown(); }
  WorkerGroup(const WorkerGroup &) = delete;
  WorkerGroup &operator=(const WorkerGroup &) = delete;

  /// Places the workers in a placement group of their own; throws
  /// RayException when the cluster cannot hold them within `timeout_s`.
  void Place(int64_t timeout_s);
  /// Places the workers in bundles [first_bundle, first_bundle + num_workers)
  /// of `group`, which stays its owner's.
  void PlaceIn(const ray::PlacementGroup &group, int first_bundle);

  /// Gives every worker its ranks and environment and joins them in a
  /// collective group named after `name` (unique per call). `session` holds
  /// TrainWorker::Start's run fields: "run_dir", "name", "iteration",
  /// "checkpoint", "num_to_keep" (and optionally "collective_timeout_ms").
  /// Throws when a worker fails to start.
  void Start(const std::string &name, Json session);

  std::vector<ray::ActorHandle<TrainWorker>> &workers() { return workers_; }
  /// The collective group Start joined the workers in.
  const std::string &collective_group() const { return collective_group_; }
  /// Worker i's world rank (Start's ranks: workers on one node are consecutive).
  int rank_of(size_t i) const { return ranks_.at(i); }

  /// Kills every worker and removes the placement group it made; safe to call twice.
  void TearDown();

 private:
  void CreateWorkers(const ray::PlacementGroup &group, int first_bundle);

  const ScalingConfig scaling_;
  const std::string who_;
  ray::PlacementGroup group_;  // the group this made (Empty() when borrowed or none)
  std::vector<ray::ActorHandle<TrainWorker>> workers_;
  std::vector<int> ranks_;
  std::string collective_group_;
};

}  // namespace internal
}  // namespace train
}  // namespace ray
