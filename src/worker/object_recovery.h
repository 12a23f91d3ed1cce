// The owner's lineage and its plan for objects it lost (Ray's lineage in the
// TaskManager plus its ObjectRecoveryManager). A task's return stored in a
// node's object store (too large to travel inline) can be lost with that
// node; its owner then makes it again by re-running the task, once more
// out of the task's max_retries (as in Ray, a re-run for recovery counts
// against the retries a worker's death would use). So the owner keeps the
// spec of each such task (with its arguments as resolved: small values
// inline, large ones by reference) while its return is referenced, and
// while a kept task's argument needs it to be re-made in turn: recovery is
// recursive when a re-run task's own arguments were lost too. Kept specs
// are bounded (max_lineage_bytes, oldest dropped first, as Ray's
// max_lineage_bytes), so lineage is a best effort. Inline objects live in
// their owner and are never lost this way; a Put object has no task to
// re-run, so losing its only copy cannot be undone
// (UnreconstructableException at the API edge).
//
// This class decides; the core worker acts: Plan() returns what to re-run
// and what to fail, which the core worker applies (core_worker_recovery.cc).
// Threading: none of its own; the core worker calls it with its mu_ held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/id.h"
#include "protocol/common.pb.h"

namespace lumen::worker {

/// Ray's default max_lineage_bytes: 1 GiB of kept task specs per owner.
inline constexpr size_t kMaxLineageBytes = size_t{1} << 30;

class ObjectRecovery {
 public:
  /// How the owner sees one of its objects when a recovery is planned.
  enum class ObjectState {
    kFreed,      // not referenced any more (its value is gone)
    kPending,    // being made (a task, or a recovery already under way)
    kAvailable,  // ready, with a copy left (or inline)
    kLost,       // ready, but every copy was on nodes that died
  };
  using StateFn = std::function<ObjectState(const ObjectID &)>;

  struct Resubmit {
    ObjectID id;           // the return to make again
    proto::TaskSpec spec;  // the task that made it, as kept
    int retries_left = 0;  // after this re-run
  };
  struct Failure {
    ObjectID id;
    std::string message;  // what readers are told (OBJECT_LOST)
  };
  /// What to do, in order: the failures, then the re-runs (a task's lost
  /// arguments before the task).
  struct Plan {
    std::vector<Failure> fail;
    std::vector<Resubmit> resubmit;
  };

  explicit ObjectRecovery(size_t max_lineage_bytes = kMaxLineageBytes) : max_bytes_(max_lineage_bytes) {}

  /// The normal task `spec` made `id`, stored in a node's store, and has
  /// `retries_left` retries. Kept until OnObjectFreed(id) (and no kept task
  /// needs it). A re-run that finishes replaces what was kept.
  void AddLineage(const ObjectID &id, const proto::TaskSpec &spec, int retries_left);
  /// The owner no longer references `id`: its lineage goes, unless a kept
  /// task has it as an argument.
  void OnObjectFreed(const ObjectID &id);
  /// Every copy of `id` is gone (`why`, e.g. "node N died"): what to re-run,
  /// recursively through lost or freed arguments, and what cannot be had
  /// again. `state` answers for the owner's objects.
  Plan PlanRecovery(const ObjectID &id, const std::string &why, const StateFn &state);

  size_t lineage_bytes() const { return bytes_; }
  size_t num_kept() const { return kept_.size(); }
  bool Keeps(const ObjectID &id) const { return kept_.count(id) > 0; }

 private:
  struct Kept {
    proto::TaskSpec spec;
    int retries_left = 0;
    size_t bytes = 0;
    uint64_t seq = 0;            // age, for eviction
    bool freed = false;          // the owner freed the object; kept for dependents
    int dependents = 0;          // kept tasks with this object as an argument
    std::vector<ObjectID> args;  // kept arguments this one counts in their dependents
  };
  void PlanOne(const ObjectID &id, const std::string &why, const StateFn &state, Plan *plan,
               std::vector<ObjectID> *planned);
  void Erase(const ObjectID &id);
  void ReleaseIfUnneeded(const ObjectID &id);
  void EvictOverBudget();

  size_t max_bytes_;
  size_t bytes_ = 0;
  uint64_t next_seq_ = 0;
  std::unordered_map<ObjectID, Kept> kept_;
  std::map<uint64_t, ObjectID> by_age_;
};

}  // namespace lumen::worker
