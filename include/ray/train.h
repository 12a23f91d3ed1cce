// Lumen Train: data-parallel training on a group of workers, as Ray Train v2
// offers it in Python (ray.train.DataParallelTrainer). A Lumen extension:
// Ray's C++ API has no Train. Link lumen::train.
//
//   void TrainLoop(const ray::train::Json &config) {
//     auto ctx = ray::train::GetContext();            // rank, world size, ...
//     Model model = Load(ray::train::GetCheckpoint());  // resume, if restarted
//     for (int epoch = 0; epoch < config["epochs"]; ++epoch) {
//       ... compute gradients on this rank's shard ...
//       ray::collective::AllReduce(grads, ctx.collective_group, ray::collective::ReduceOp::kMean);
//       ... step ...
//       ray::train::Report({{"loss", loss}}, ray::train::Checkpoint::FromDirectory(dir));
//     }
//   }
//   ...
//   ray::train::ScalingConfig scaling;
//   scaling.num_workers = 4;
//   ray::train::DataParallelTrainer trainer(TrainLoop, {{"epochs", 10}}, scaling);
//   ray::train::Result result = trainer.Fit();
//
// Each worker is an actor holding one bundle of a placement group (PACK by
// default), with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, NODE_RANK,
// MASTER_ADDR and MASTER_PORT in its environment (and CUDA_VISIBLE_DEVICES
// holding its own GPU with use_gpu), and a member of a collective group
// (<ray/collective.h>) of all the workers. The training function travels as
// Lumen Tune's TrainableRef: a plain function or a lambda without captures.
//
// Failures: when a worker dies, the others' collectives throw, the group is
// torn down and started again from the latest reported checkpoint, up to
// FailureConfig::max_failures times.
//
// Threading: Fit blocks the calling thread. Report, GetCheckpoint and
// GetContext are called from the training function's thread in a worker.
// See docs/train.md.
//
// Public header: must stay valid C++17.
#pragma once

#include <ray/tune/trainable.h>
#include <ray/tune/types.h>

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace ray {
namespace train {

using Json = ray::tune::Json;
/// A checkpoint is a directory (Ray 2.x). Report copies it into the run's
/// storage folder before returning.
using Checkpoint = ray::tune::Checkpoint;
/// The per-worker training function: `void TrainLoop(const Json &config)`.
using TrainLoopRef = ray::tune::TrainableRef;

struct ScalingConfig {
  int num_workers = 1;
  /// Each worker holds one GPU (resources_per_worker may ask for more).
  bool use_gpu = false;
  /// What each worker holds; default {"CPU": 1}, plus {"GPU": 1} with use_gpu.
  std::unordered_map<std::string, double> resources_per_worker;
  /// "PACK" (as few nodes as possible), "SPREAD", "STRICT_PACK" or "STRICT_SPREAD".
  std::string placement_strategy = "PACK";
};

struct FailureConfig {
  /// How many times the worker group may fail and be started again; -1: no limit.
  int max_failures = 0;
};

struct CheckpointConfig {
  /// How many reported checkpoints to keep (the latest ones); 0: all.
  int num_to_keep = 0;
};

struct RunConfig {
  /// The run's folder name; default "train_<timestamp>".
  std::string name;
  /// Where run folders go; default $HOME/lumen_results (as Ray's ~/ray_results).
  std::string storage_path;
  FailureConfig failure_config;
  CheckpointConfig checkpoint_config;
};

struct Result {
  /// The last metrics rank 0 reported (null when none), with
  /// "training_iteration" added.
  Json metrics;
  /// The latest reported checkpoint, in the run's folder.
  std::optional<Checkpoint> checkpoint;
  /// Every report of rank 0, in order, across restarts.
  std::vector<Json> metrics_history;
  /// The run's folder: result.json (one line per report) and checkpoint_NNNNNN folders.
  std::string path;
  /// Why training did not finish; empty when it did.
  std::string error;
  /// How many times the worker group failed and was started again.
  int failures = 0;
};

/// Where the calling worker stands (Ray's ray.train.get_context()).
struct TrainContext {
  int world_rank = 0;
  int world_size = 1;
  int local_rank = 0;        // rank among the workers on this node
  int local_world_size = 1;  // workers on this node
  int node_rank = 0;         // index of this node among the group's nodes
  std::string experiment_name;
  /// The run's folder (RunConfig::storage_path / name).
  std::string storage_path;
  /// The collective group of all the workers (<ray/collective.h>).
  std::string collective_group;
};

/// Reports metrics, and a checkpoint, from every worker: a barrier across
/// the workers (every rank must call it the same number of times). Rank 0's
/// metrics are kept (result.json, Result::metrics); rank 0's checkpoint is
/// copied into the run's folder and becomes the one to resume from. Throws
/// ray::internal::RayException outside a training function.
void Report(const Json &metrics);
void Report(const Json &metrics, const Checkpoint &checkpoint);

/// The checkpoint to resume from: the latest one reported in this run (by
/// this or an earlier worker group); none on a fresh start.
std::optional<Checkpoint> GetCheckpoint();

TrainContext GetContext();

/// Runs train_loop_per_worker on scaling.num_workers workers (Ray Train v2).
class DataParallelTrainer {
 public:
  DataParallelTrainer(TrainLoopRef train_loop_per_worker, Json train_loop_config,
                      ScalingConfig scaling_config, RunConfig run_config = RunConfig());

  /// Trains to the end (or until failures exceed max_failures: then
  /// Result::error says why). Throws ray::internal::RayException for bad
  /// settings, or when the workers cannot be placed.
  Result Fit();

 private:
  TrainLoopRef loop_;
  Json loop_config_;
  ScalingConfig scaling_;
  RunConfig run_;
};

}  // namespace train
}  // namespace ray
