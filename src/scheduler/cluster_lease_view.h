// The node service's view of the other nodes, which its lease spillback
// (scheduler/lease_policy.h) decides from: each live node's total and free
// resources, its address and the jobs whose workers can start there.
//
// Why asked of the control service when a decision needs it rather than
// pushed on every change (Ray's syncer): availability changes with every
// lease granted or returned, the path of every task, while only requests
// this node cannot take below the spread threshold read the view. A view is
// used for kClusterViewMaxAge; a decision that finds it older asks again
// (GET_ALL_NODES with usage: the control service asks each node now), one
// request at a time, and decides once the answer is in. So a node that can
// grant its leases never asks, and a busy one asks at most ~10 times a
// second, only while work waits. A stale view only delays moving work; a
// node it names wrongly spills the request again or queues it (bounded by
// kMaxLeaseSpills).
//
// Threading: the node service's loop thread only (Refresh's callback runs
// there: the control connection's thread).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/clock.h"
#include "protocol/control.pb.h"
#include "rpc/rpc.h"
#include "scheduler/lease_policy.h"

namespace lumen::scheduler {

/// The other nodes of a GET_ALL_NODES reply with usage, `self` left out. A
/// node that is dead, or alive but did not report its usage, is not alive
/// to the policy (nothing is moved to it).
ClusterSnapshot SnapshotFromNodes(const proto::GetAllNodesReply &reply, const std::string &self_id,
                                  Clock::TimePoint as_of);

class ClusterLeaseView {
 public:
  ClusterLeaseView(std::string self_id, Clock *clock) : self_id_(std::move(self_id)), clock_(clock) {}

  const ClusterSnapshot &snapshot() const { return snapshot_; }
  /// Counts the views received: a request decided on one is decided again
  /// only on a newer one.
  uint64_t generation() const { return generation_; }
  /// A fresh view says this node is alone: nothing can be moved anywhere.
  bool FreshAndAlone(Clock::Duration max_age) const {
    return snapshot_.valid && snapshot_.nodes.empty() && clock_->Now() - snapshot_.as_of <= max_age;
  }
  /// Books `need` on node `node_id` in this view (a request was sent there):
  /// decisions on the same view see its room taken.
  void Deduct(const std::string &node_id, const ResourceMap &need);
  /// Asks `control` for every node's resources now, unless a request is out
  /// already; `updated` runs (loop thread) once a new view is in. A failed
  /// request keeps the old view and runs nothing: the next decision that
  /// needs a view asks again.
  void Refresh(rpc::Connection &control, std::function<void()> updated);

 private:
  std::string self_id_;
  Clock *clock_;
  ClusterSnapshot snapshot_;
  uint64_t generation_ = 0;
  bool refreshing_ = false;
};

}  // namespace lumen::scheduler
