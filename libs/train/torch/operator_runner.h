// Lumen Train's RaySGD API (a Lumen extension), internal: what a worker does
// with its TrainingOperator (Ray's TorchRunner). It makes the operator from
// the trainer's settings, gives it its place (ranks, device, collective
// group), runs Setup, runs epochs and validation with the distributed
// sampler, and turns the operator's state into bytes and back. No runtime of
// its own: the worker service (torch_worker.cc) drives one per worker
// process, and the unit tests drive one in-process with one worker.
//
// Threading: one thread at a time (the worker's actor thread).
#pragma once

#include <ray/train/torch_trainer.h>

#include <memory>
#include <string>
#include <vector>

namespace ray {
namespace train {
namespace torch {

/// Where a runner stands in the worker group.
struct RunnerPlace {
  int world_rank = 0;
  int local_rank = 0;
  int world_size = 1;
  /// The collective group DDP reduces in; only used with world_size > 1.
  std::string group;
};

class OperatorRunner {
 public:
  /// `settings`: {"operator": an OperatorClassRef's TrainableRef JSON,
  /// "config", "use_gpu", "wrap_ddp", "scheduler_step_freq", and in a
  /// worker "num_cpus_per_worker" (libtorch's thread count)}.
  OperatorRunner(Json settings, RunnerPlace place);
  ~OperatorRunner();

  /// Makes the operator and runs its Setup; throws what went wrong.
  void Setup();
  /// One epoch (at most num_steps batches; -1: all); the worker's stats.
  Json TrainEpoch(int64_t num_steps, const Json &info);
  Json Validate(int64_t num_steps, const Json &info);
  /// The operator's state as a libtorch archive.
  std::string State();
  /// Takes a State(): a fresh operator is set up first (unless this one has
  /// not trained since its Setup), so schedulers and optimisers start over
  /// before their counts and values are restored.
  void LoadState(const std::string &state);

  int64_t epoch() const { return epoch_; }
  TrainingOperator &op() { return *op_; }

 private:
  void Place(TrainingOperator &op) const;

  const Json settings_;
  const RunnerPlace place_;
  std::unique_ptr<TrainingOperator> op_;
  int64_t epoch_ = 0;
  bool changed_since_setup_ = false;
};

/// Ray's AverageMeterCollection over batches: each numeric stat averaged,
/// weighted by the batch's "num_samples" (1 when absent), "num_samples"
/// summed; other values are the last batch's.
Json AverageBatchStats(const std::vector<Json> &batches);
/// The trainer's reduction over workers: "num_samples" summed; numeric stats
/// averaged weighted by each worker's num_samples (equal weights when none
/// has any; a value every worker agrees on is kept as it is); other values
/// rank 0's (the first).
Json CombineWorkerStats(const std::vector<Json> &workers);

}  // namespace torch
}  // namespace train
}  // namespace ray
