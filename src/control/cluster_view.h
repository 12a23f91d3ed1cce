// What the control service's placement decisions read: every live node's
// total and available resources, asked of the nodes when a decision needs
// them (NODE_STATS to each at once, answers gathered).
//
// Why on demand rather than pushed by the nodes on each change: the nodes'
// availability changes with every lease granted or returned, which is the
// path of every task; pushing each change would add a message per lease to
// the control service that only actor and placement-group decisions read,
// and those are rare. One round trip per decision costs nothing on the task
// path, and the view is never older than the decision. A decision that finds
// nothing free waits kPlacementRetryInterval and asks again (as Ray's GCS
// retries pending actors and groups), or sooner when a node registers.
//
// Threading: call and get the answer on the control service's loop thread
// (the connections' thread).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "control/cluster_placement.h"
#include "protocol/common.pb.h"
#include "rpc/rpc.h"

namespace lumen::control {

/// How often a pending actor or placement group looks again at what the
/// nodes have free (a polling interval: how soon freed resources are used).
inline constexpr std::chrono::milliseconds kPlacementRetryInterval{100};

struct NodeLink {
  std::string id;
  std::weak_ptr<rpc::Connection> conn;
};

/// Asks every node for its resources now; `done` gets those of the nodes
/// that answered (a node that fails to answer is left out: nothing is placed
/// on it), in the order of `nodes`.
void FetchNodeResources(const std::vector<NodeLink> &nodes,
                        std::function<void(std::vector<PlacementNode>)> done);

ResourceMap ToResourceMap(const proto::ResourceSet &r);

}  // namespace lumen::control
