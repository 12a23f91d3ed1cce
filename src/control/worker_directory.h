// The control service's worker table: where each driver and worker of the
// cluster listens (its node, its Unix socket there, its TCP address for the
// other nodes). A process that holds only a worker id (an object's owner,
// which every object id embeds) asks here once and keeps the answer
// (worker/peer_directory.h).
//
// Nodes fill it: a node publishes a client's address when the client
// registers there (before answering it, so the entry is here before the
// client can hand out an object id or address), and removes it when the
// client's connection closes. A node whose connection to the control
// service drops takes its entries with it: a lookup then fails at once
// instead of sending the asker to an address nobody serves.
//
// Threading: none of its own; the control service calls it on its event loop.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>

#include "base/status.h"
#include "protocol/common.pb.h"

namespace lumen::control {

class WorkerDirectory {
 public:
  /// Records (or replaces) where `address.worker_id()` listens.
  Status Publish(const proto::Address &address);
  void Remove(const std::string &worker_id);
  /// Drops every entry of the node `node_id` (binary).
  void RemoveNode(const std::string &node_id);
  /// Null when the worker is unknown (never published, or gone).
  const proto::Address *Find(const std::string &worker_id) const;
  size_t size() const { return by_worker_.size(); }

 private:
  std::unordered_map<std::string, proto::Address> by_worker_;  // by binary worker id
};

}  // namespace lumen::control
