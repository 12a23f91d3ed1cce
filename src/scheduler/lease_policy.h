// Where a normal task's worker lease goes: the node service's spillback
// policy (Ray's hybrid policy for leases). A pure decision over this node's
// resources and its view of the other nodes (scheduler/cluster_lease_view.h
// keeps that view); no I/O. The node service carries out what it decides:
// grant or queue here, answer SPILLBACK naming another node (the submitter
// then asks that node), ask the control service for a fresh view first, or
// hold the request as infeasible (with today's warning).
//
// The decision, for a request (LeaseQuery) spilled `hops` times already:
// 1. This node grants it at once while it fits what is free here and this
//    node's utilization is below the spread threshold (the fast path: no
//    view is read, nothing waits).
// 2. A request spilled here already (hops > 0) that fits what is free here
//    is granted here, whatever this node's utilization: the node that
//    spilled it chose this one to spread load, and a second spread decision
//    on another (as stale) view would only chase it around (Ray's spilled
//    requests are grant-or-reject where they land).
// 3. At the hop bound (kMaxLeaseSpills) it is no longer moved to spread
//    load: queued here if this node's total fits it, else held as infeasible
//    here, unless a fresh view shows another node with it free now, which
//    takes it (a request queued at a node that turned out busy, because the
//    view that sent it here was stale, must not wait while another node has
//    room). Past kMaxLeaseMoves it stays here whatever the view says. So a
//    request chased by views that keep changing settles instead of bouncing.
// 4. A view older than its maximum age is never trusted to move work: the
//    request is granted here if it fits what is free, else the view is
//    refreshed first (kRefreshView) and the request decided again then.
// 5. Among this node and the live nodes that can start the job's workers,
//    the hybrid choice (base/hybrid_policy.h, the one the control service
//    places actors with; this node first, so ties stay here).
// 6. None has it free now: it waits here if this node could ever fit it;
//    else it goes to another live node that could (one that has it free now
//    by the hybrid choice, else the least utilized one whose total fits it),
//    even one that cannot start the job's workers yet, since only there can
//    it ever run (custom resources pin work to the nodes that have them).
//    No live node could ever fit it: infeasible.
//
// Threading: stateless functions; call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/hybrid_policy.h"
#include "scheduler/resources.h"

namespace lumen::scheduler {

/// How many times one lease request may be spilled from node to node to
/// spread load (step 3 of the decision).
inline constexpr int kMaxLeaseSpills = 4;
/// How many times in all it may be moved: past kMaxLeaseSpills only to a
/// node a fresh view shows with it free now.
inline constexpr int kMaxLeaseMoves = 16;

/// How old a view of the other nodes may be when it moves a request.
inline constexpr std::chrono::milliseconds kClusterViewMaxAge{100};

/// Another node as this node last heard of it.
struct RemoteNode {
  ResourceNode resources;  // id, total, available when reported
  std::string address;     // its node service, for the submitter to ask
  bool alive = true;
  /// The jobs whose workers can start there now. Work is moved to spread
  /// load only to a node that can start its job's workers; one that cannot
  /// is chosen only for work no other node could ever run.
  std::set<uint32_t> startable_jobs;
};

struct ClusterSnapshot {
  bool valid = false;  // a view was ever received
  Clock::TimePoint as_of;
  std::vector<RemoteNode> nodes;  // the other nodes (this node excluded)
};

struct LeaseQuery {
  ResourceMap need;  // what must be free to grant it
  uint32_t job_id = 0;
  int hops = 0;  // how many times it was spilled already
  /// Every node can start the job's workers (its program is shipped), not
  /// only those listing it in `startable_jobs`.
  bool portable = false;
};

struct LeasePolicyOptions {
  double spread_threshold = kSpreadThreshold;
  int max_spills = kMaxLeaseSpills;
  int max_moves = kMaxLeaseMoves;
  Clock::Duration max_view_age = kClusterViewMaxAge;
};

enum class LeaseAction {
  kLocal,        // grant here now, or queue here until resources are freed
  kSpill,        // answer SPILLBACK naming `node`
  kRefreshView,  // ask for a fresh view, then decide again
  kInfeasible,   // no live node could ever run it: hold it here, as infeasible
};

struct LeaseDecision {
  LeaseAction action = LeaseAction::kLocal;
  const RemoteNode *node = nullptr;  // when kSpill: one of the snapshot's nodes
  /// kLocal only because the view was too old to move work: ask for a fresh
  /// one in the background, for the requests that come next.
  bool refresh_view = false;
};

/// `r` in units (the policy's maps) rather than fixed point.
ResourceMap ToResourceMap(const ResourceSet &r);

/// Utilization (base/hybrid_policy.h) of a node with these resources,
/// computed on the fixed-point sets without building maps (the fast path).
double FixedUtilization(const ResourceSet &total, const ResourceSet &available);

/// Steps 1 and 2 alone (the fast path): this node, with `utilization`,
/// grants a request spilled `hops` times now without a view. `fits_now` is
/// the node's own exact check (GPU devices and bundles included).
inline bool GrantsLocally(double utilization, bool fits_now, const LeasePolicyOptions &options,
                          int hops = 0) {
  return fits_now && (hops > 0 || utilization < options.spread_threshold);
}

/// Takes `need` from what `view` says node `node_id` has free: a request
/// was sent there, so the next decisions on the same view see its room
/// taken (as Ray's scheduler books resources on remote nodes). Without it
/// one view would send every waiting request to the same idle node.
void BookOnNode(ClusterSnapshot &view, const std::string &node_id, const ResourceMap &need);

/// The whole decision. `fits_now`: as above.
LeaseDecision DecideLease(const ResourceNode &local, bool fits_now, const ClusterSnapshot &view,
                          const LeaseQuery &query, Clock::TimePoint now,
                          const LeasePolicyOptions &options = {});

}  // namespace lumen::scheduler
