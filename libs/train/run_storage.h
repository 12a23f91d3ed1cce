// Lumen Train (a Lumen extension), internal: a training run's folder --
// result.json (one line of rank 0's metrics per report, across restarts)
// and checkpoint_NNNNNN folders, the newest being where a restarted worker
// group resumes. Plain filesystem work, no runtime.
//
// Threading: one writer (rank 0's training thread) at a time; the driver
// reads between worker groups.
#pragma once

#include <ray/train.h>

#include <optional>
#include <string>
#include <vector>

namespace ray {
namespace train {
namespace internal {

class RunStorage {
 public:
  explicit RunStorage(std::string run_dir) : dir_(std::move(run_dir)) {}

  const std::string &dir() const { return dir_; }
  /// Makes the folder (and its parents); throws RayException when it cannot.
  void Create() const;

  /// Copies `source` into checkpoint_<index> (under a temporary name first,
  /// so a crash mid-copy never leaves a checkpoint that looks whole) and
  /// returns its path.
  std::string PersistCheckpoint(const std::string &source, int index) const;
  /// The path checkpoint_<index> has (whether or not it exists).
  std::string CheckpointPath(int index) const;
  /// The newest whole checkpoint, if any.
  std::optional<std::string> LatestCheckpoint() const;
  /// Deletes all but the newest `keep` checkpoints (keep 0: none deleted).
  void Prune(int keep) const;

  void AppendResult(const Json &metrics) const;
  std::vector<Json> ReadResults() const;

 private:
  std::vector<std::pair<int, std::string>> Checkpoints() const;  // (index, path), oldest first

  std::string dir_;
};

/// Ranks for workers given the node each landed on (in creation order):
/// workers on one node get consecutive world ranks, nodes ordered by where
/// their first worker was created, as Ray Train groups them.
struct WorkerRank {
  int world_rank = 0;
  int local_rank = 0;
  int local_world_size = 1;
  int node_rank = 0;
};
std::vector<WorkerRank> AssignRanks(const std::vector<std::string> &node_ids);

}  // namespace internal
}  // namespace train
}  // namespace ray
