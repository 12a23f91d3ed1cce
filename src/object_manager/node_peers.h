// RpcNodePeers: how a node service reaches the other nodes of its cluster, by
// node id, for the object manager (chunk reads, deleting copies).
//
// A node's address comes from the control service's node table (the resolver
// asks GET_ALL_NODES); connections are made once per peer, with the cluster
// token, and kept; a closed one is made again on the next call. The address
// is whatever the node registered ("unix:/path" while all nodes share one
// machine, "tcp:host:port" across machines): rpc::Connect speaks both.
//
// Threading: Call and Notify run on the node's event loop, and so do their
// callbacks. Resolving and connecting block, so they run on a helper thread
// of their own (a SerialExecutor) and hand the connection back to the loop.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/id.h"
#include "base/serial_executor.h"
#include "base/status.h"
#include "object_manager/object_manager.h"
#include "rpc/rpc.h"

namespace lumen::object_manager {

class RpcNodePeers : public NodePeers {
 public:
  /// Blocking: the address of an alive node, or why there is none. Runs on
  /// the helper thread.
  using Resolver = std::function<StatusOr<std::string>(const NodeID &)>;
  RpcNodePeers(rpc::EventLoop &loop, std::string token, Resolver resolve);
  /// Stops the helper thread and closes the connections (their pending calls
  /// fail). Call it on the loop's thread or with the loop stopped.
  ~RpcNodePeers() override;

  void Call(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &request,
            rpc::ResponseCallback cb) override;
  /// Reads the reply straight into the sink (rpc::Connection::CallInto).
  void CallInto(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &request,
                rpc::ReplySink sink, rpc::ResponseCallback cb) override;
  void Notify(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &message) override;

 private:
  using ConnectionReady = std::function<void(const StatusOr<rpc::ConnectionPtr> &)>;
  struct Peer {
    rpc::ConnectionPtr conn;
    bool connecting = false;
    std::vector<ConnectionReady> waiting;
  };
  /// Runs `fn` with an open connection to `node`, now or once made.
  void WithConnection(const NodeID &node, ConnectionReady fn);

  rpc::EventLoop &loop_;
  const std::string token_;
  const Resolver resolve_;
  std::unordered_map<NodeID, Peer> peers_;  // loop thread only
  SerialExecutor connector_{"lumen-peers"};
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace lumen::object_manager
