#include "object_manager/node_peers.h"

#include "base/logging.h"
#include "base/timeouts.h"

namespace lumen::object_manager {

RpcNodePeers::RpcNodePeers(rpc::EventLoop &loop, std::string token, Resolver resolve)
    : loop_(loop), token_(std::move(token)), resolve_(std::move(resolve)) {}

RpcNodePeers::~RpcNodePeers() {
  connector_.Stop();
  alive_.reset();
  for (auto &[id, peer] : peers_)
    if (peer.conn) {
      peer.conn->SetCloseHandler(nullptr);
      peer.conn->Close();
    }
}

void RpcNodePeers::WithConnection(const NodeID &node, ConnectionReady fn) {
  Peer &peer = peers_[node];
  if (peer.conn && peer.conn->IsOpen()) {
    fn(peer.conn);
    return;
  }
  peer.conn = nullptr;
  peer.waiting.push_back(std::move(fn));
  if (peer.connecting) return;
  peer.connecting = true;
  std::weak_ptr<int> alive = alive_;
  connector_.Post([this, alive, node] {
    auto address = resolve_(node);
    StatusOr<rpc::ConnectionPtr> conn =
        address.ok() ? rpc::Connect(loop_, address.value(), token_, nullptr, kPeerConnectTimeout)
                     : StatusOr<rpc::ConnectionPtr>(address.status());
    if (address.ok() && !conn.ok())
      conn = Status(conn.status().code(), "cannot reach node " + node.Hex() + " at " + address.value() +
                                              ": " + conn.status().message());
    loop_.Post([this, alive, node, conn = std::move(conn)]() mutable {
      if (alive.expired()) {
        if (conn.ok()) conn.value()->Close();
        return;
      }
      Peer &peer = peers_[node];
      peer.connecting = false;
      if (conn.ok()) {
        peer.conn = *conn;
        std::weak_ptr<rpc::Connection> weak = *conn;
        (*conn)->SetCloseHandler([this, alive, node, weak](const Status &) {
          if (alive.expired()) return;
          auto it = peers_.find(node);
          if (it != peers_.end() && it->second.conn == weak.lock()) it->second.conn = nullptr;
        });
      }
      auto waiting = std::move(peer.waiting);
      peer.waiting.clear();
      for (auto &fn : waiting) fn(conn);
    });
  });
}

void RpcNodePeers::Call(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &request,
                        rpc::ResponseCallback cb) {
  WithConnection(node, [method, body = request.SerializeAsString(),
                        cb = std::move(cb)](const StatusOr<rpc::ConnectionPtr> &conn) mutable {
    if (!conn.ok()) {
      cb(conn.status(), {});
      return;
    }
    conn.value()->CallRaw(method, std::move(body), std::move(cb));
  });
}

void RpcNodePeers::CallInto(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &request,
                            rpc::ReplySink sink, rpc::ResponseCallback cb) {
  std::shared_ptr<google::protobuf::MessageLite> copy(request.New());  // the connection may come later
  copy->CheckTypeAndMergeFrom(request);
  WithConnection(node,
                 [method, copy, sink, cb = std::move(cb)](const StatusOr<rpc::ConnectionPtr> &conn) mutable {
                   if (!conn.ok()) {
                     cb(conn.status(), {});
                     return;
                   }
                   conn.value()->CallInto(method, *copy, sink, std::move(cb));
                 });
}

void RpcNodePeers::Notify(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &message) {
  std::shared_ptr<google::protobuf::MessageLite> copy(message.New());
  copy->CheckTypeAndMergeFrom(message);
  WithConnection(node, [node, method, copy](const StatusOr<rpc::ConnectionPtr> &conn) {
    if (!conn.ok()) {
      LUMEN_LOG_WARN("dropped a message (method {}) for node {}: {}", method, node.Hex(),
                     conn.status().ToString());
      return;
    }
    conn.value()->Notify(method, *copy);
  });
}

}  // namespace lumen::object_manager
