#include "scheduler/cluster_lease_view.h"

#include "base/logging.h"
#include "base/timeouts.h"
#include "protocol/control.pb.h"

namespace lumen::scheduler {
namespace {

ResourceMap ToMap(const proto::ResourceSet &r) { return {r.amounts().begin(), r.amounts().end()}; }

}  // namespace

ClusterSnapshot SnapshotFromNodes(const proto::GetAllNodesReply &reply, const std::string &self_id,
                                  Clock::TimePoint as_of) {
  ClusterSnapshot out;
  out.valid = true;
  out.as_of = as_of;
  for (auto &info : reply.nodes()) {
    if (info.node_id() == self_id) continue;
    RemoteNode n;
    n.resources.id = info.node_id();
    n.address = info.tcp_address();  // another node's: by TCP, never its Unix socket
    n.alive = info.alive() && info.has_usage();
    n.resources.total = ToMap(info.has_usage() ? info.usage().total() : info.total());
    if (info.has_usage()) n.resources.available = ToMap(info.usage().available());
    n.startable_jobs.insert(info.usage().startable_jobs().begin(), info.usage().startable_jobs().end());
    out.nodes.push_back(std::move(n));
  }
  return out;
}

void ClusterLeaseView::Deduct(const std::string &node_id, const ResourceMap &need) {
  BookOnNode(snapshot_, node_id, need);
}

void ClusterLeaseView::Refresh(rpc::Connection &control, std::function<void()> updated) {
  if (refreshing_) return;
  refreshing_ = true;
  proto::GetAllNodesRequest req;
  req.set_with_usage(true);
  control.Call(
      proto::GET_ALL_NODES, req,
      [this, updated = std::move(updated)](Status st, std::string_view body) {
        refreshing_ = false;
        proto::GetAllNodesReply reply;
        if (!st.ok() || !rpc::ParseBody(body, &reply)) {
          // Asked again by the next decision that needs it (the node's
          // timer runs one every kClusterViewMaxAge while leases wait),
          // not at once: a call that fails at once would spin.
          LUMEN_LOG_WARN("could not learn the other nodes' resources: {}",
                         st.ok() ? "malformed reply" : st.ToString());
          return;
        }
        snapshot_ = SnapshotFromNodes(reply, self_id_, clock_->Now());
        ++generation_;
        updated();
      },
      // Past this the control service has left out the nodes that did not
      // answer (kNodeUsageTimeout): it answers, or its connection closes.
      kNodeUsageTimeout * 2);
}

}  // namespace lumen::scheduler
