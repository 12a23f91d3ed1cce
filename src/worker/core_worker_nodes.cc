// The core worker's part of nodes that die. The control service sends every
// connection that subscribed (SUBSCRIBE_NODE_CHANGES, sent when this process
// adopts its control connection) NODE_CHANGED with the dead node's record. A
// driver prints one warning line per dead node, as Ray's driver does; then
// the owner recovers what it lost there (OnNodeDead, core_worker_recovery.cc)
// and the NodeDeathHandlers run. A node's death is handled once, however
// often it is reported.
#include <iostream>

#include "base/logging.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {

void CoreWorker::AddNodeDeathHandler(NodeDeathHandler handler) {
  std::lock_guard<std::mutex> lock(node_death_mu_);
  node_death_handlers_.push_back(std::make_shared<NodeDeathHandler>(std::move(handler)));
}

void CoreWorker::RegisterNodeHandlers() {
  dispatcher_.Register(
      proto::NODE_CHANGED, [this](const rpc::ConnectionPtr &, uint64_t, const proto::NodeInfo &info) {
        if (info.alive() || info.node_id().size() != NodeID::kSize) return;
        std::vector<std::shared_ptr<NodeDeathHandler>> handlers;
        {
          std::lock_guard<std::mutex> lock(node_death_mu_);
          if (!reported_dead_nodes_.insert(info.node_id()).second) return;  // handled already
          handlers = node_death_handlers_;
        }
        const std::string line =
            "Lumen: node " + ToHex(info.node_id()) + " (" + info.node_ip() + ") died: " + info.death_reason();
        // A driver's own node (on a machine with no other) ends with its
        // driver: the others' drivers are not warned of that.
        if (info.for_driver()) {
          LUMEN_LOG_INFO("{}", line);
        } else {
          LUMEN_LOG_WARN("{}", line);
          if (options_.is_driver) std::cerr << line << std::endl;
        }
        // The owner's part first: objects whose copies were there are made
        // again (or fail) before anything else hears of it. This process's
        // own node is another matter: losing it fails the job here (OnLost),
        // every object with it, naming the node service.
        if (info.node_id() != node_info_.node_id()) OnNodeDead(info.node_id());
        const NodeID id = NodeID::FromBinary(info.node_id());
        for (auto &h : handlers) (*h)(id, info);
      });
}

}  // namespace lumen::worker
