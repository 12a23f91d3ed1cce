// NodeService: where normal tasks' leases go across nodes (Ray's spillback).
// The decision is lease_policy.h's; this carries it out on the loop thread:
// SPILLBACK replies, the view of the other nodes (cluster_lease_view.h) and
// the timer that looks at it again while leases wait here.
#include "base/encoding.h"
#include "base/logging.h"
#include "scheduler/node_service.h"
#include "scheduler/node_service_job.h"

namespace lumen::scheduler {

NodeService::LeasePlace NodeService::PlaceNormalLease(const ResourceSet &request, uint32_t job_id,
                                                      int spill_hops, int64_t &decided_on_view,
                                                      proto::WorkerLeaseReply *spill) {
  const bool fits_now = resources_.CanGrant(request);
  // The fast path: this node has room and is below the threshold.
  if (GrantsLocally(FixedUtilization(resources_.total(), resources_.available()), fits_now, lease_policy_,
                    spill_hops))
    return LeasePlace::kHere;
  // Alone in the cluster (as a driver's own head is): nowhere to move it.
  if (cluster_view_.FreshAndAlone(lease_policy_.max_view_age)) return LeasePlace::kHere;
  const auto now = options_.clock->Now();
  const auto generation = static_cast<int64_t>(cluster_view_.generation());
  if (now - cluster_view_.snapshot().as_of <= lease_policy_.max_view_age && decided_on_view == generation) {
    // Decided on this view already; looked at again once it is stale. A
    // timer armed before this view came in fires before then: this re-arms
    // it, else the request would wait here until some other event (a
    // lease returned) while another node has room (a spillback test's six
    // tasks waited 60 s for the sixth so, one run in ~20 on a busy machine).
    ArmClusterViewTimer();
    return LeasePlace::kHere;
  }

  ResourceNode local{node_id_.Binary(), ToResourceMap(resources_.total()),
                     ToResourceMap(resources_.available())};
  LeaseQuery query{ToResourceMap(request), job_id, spill_hops};
  if (auto job = jobs_.find(job_id); job != jobs_.end()) query.portable = job->second->portable;
  LeaseDecision d = DecideLease(local, fits_now, cluster_view_.snapshot(), query, now, lease_policy_);
  if (d.refresh_view) RefreshClusterView();
  switch (d.action) {
    case LeaseAction::kLocal:
    case LeaseAction::kInfeasible:  // held here, with the warning a request too large for this node gets
      if (!d.refresh_view) decided_on_view = generation;
      ArmClusterViewTimer();
      return LeasePlace::kHere;
    case LeaseAction::kRefreshView:
      ArmClusterViewTimer();
      // Waiting here for resources in use is what it would do anyway; one
      // this node could never run waits for the view without being
      // reported as infeasible first.
      return resources_.total().Contains(request) ? LeasePlace::kHere : LeasePlace::kWaitForView;
    case LeaseAction::kSpill:
      break;
  }
  LUMEN_LOG_INFO("lease request {} of job {} spilled to node {} (hop {}): {}", request.ToString(), job_id,
                 ToHex(d.node->resources.id), spill_hops + 1,
                 fits_now ? "this node is above the spread threshold" : "not free here now");
  spill->set_granted(false);
  spill->set_spillback_node_id(d.node->resources.id);
  spill->set_spillback_address(d.node->address);
  // The next requests decided on this view see that node's room taken, as
  // Ray's scheduler books remote resources: else one view would send every
  // queued request to the same node.
  cluster_view_.Deduct(d.node->resources.id, query.need);
  return LeasePlace::kMoved;
}

void NodeService::RefreshClusterView() {
  if (!control_) return;
  cluster_view_.Refresh(*control_, [this] {
    if (!stopped_) TryDispatch();  // a failed call at Stop: nothing more to start
  });
}

void NodeService::ArmClusterViewTimer() {
  // Each run dispatches again, which re-arms it while normal leases are
  // still kept here. Due when the current view goes stale (a decision on it
  // could not move anything before that), else kClusterViewMaxAge from now
  // (a refresh is out, or failed and is asked again then).
  if (cluster_view_timer_armed_ || stopped_) return;
  cluster_view_timer_armed_ = true;
  const auto now = options_.clock->Now();
  const auto &view = cluster_view_.snapshot();
  const bool fresh = view.valid && now - view.as_of <= lease_policy_.max_view_age;
  // Just past the age at which PlaceNormalLease stops trusting it.
  cluster_view_due_ = (fresh ? view.as_of : now) + lease_policy_.max_view_age + std::chrono::milliseconds(1);
  const Clock::TimePoint wake = options_.clock->WakeAt(cluster_view_due_);
  if (wake == Clock::TimePoint::max()) return;  // a FakeClock: clock_wakeup_ runs it when moved
  if (!cluster_view_timer_) cluster_view_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io());
  cluster_view_timer_->expires_at(wake);
  cluster_view_timer_->async_wait([this](const boost::system::error_code &ec) {
    if (ec || stopped_) return;
    cluster_view_timer_armed_ = false;
    TryDispatch();
  });
}

void NodeService::OnClockAdvanced() {
  if (!cluster_view_timer_armed_ || stopped_ || options_.clock->Now() < cluster_view_due_) return;
  cluster_view_timer_armed_ = false;
  TryDispatch();
}

}  // namespace lumen::scheduler
