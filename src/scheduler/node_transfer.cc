// The node service's side of objects across nodes: its clients ask it to make
// an object local (PULL_OBJECT) or to have another node drop its copies
// (DELETE_OBJECT_COPIES); other nodes read chunks of its objects
// (PULL_OBJECT_CHUNK). The transfers themselves are the ObjectManager's
// (src/object_manager); this file only connects it to the node's RPC.
#include "base/logging.h"
#include "base/timeouts.h"
#include "protocol/control.pb.h"
#include "scheduler/node_service.h"

namespace lumen::scheduler {

StatusOr<std::string> NodeService::ResolveNode(const NodeID &node) {
  if (!control_) return Status::Disconnected("the node has not reached the control service yet");
  proto::GetAllNodesRequest req;
  proto::GetAllNodesReply reply;
  Status st = control_->CallSync(proto::GET_ALL_NODES, req, &reply);
  if (!st.ok()) return st;
  for (const auto &n : reply.nodes()) {
    if (n.node_id() != node.Binary()) continue;
    if (!n.alive()) return Status(StatusCode::kDisconnected, "node " + node.Hex() + " is dead");
    // Another node: by TCP, never by a Unix path in its session.
    if (n.tcp_address().empty()) return Status::NotFound("node " + node.Hex() + " has no TCP address");
    return n.tcp_address();
  }
  return Status::NotFound("node " + node.Hex() + " is not in the cluster's node table");
}

void NodeService::RegisterTransferHandlers() {
  using namespace proto;
  dispatcher_.Register(proto::PULL_OBJECT_CHUNK, [this](const rpc::ConnectionPtr &conn, uint64_t call_id,
                                                        PullObjectChunkRequest &req) {
    if (!object_manager_) return conn->ReplyError(call_id, Status::Internal("the node is starting"));
    Status served = object_manager_->ServeChunk(
        req, [&](std::string header, std::string_view bytes, std::shared_ptr<const void> pin) {
          conn->ReplyPinned(call_id, std::move(header), bytes, std::move(pin));  // written from the arena
        });
    if (!served.ok()) conn->ReplyError(call_id, served);
  });
  dispatcher_.Register(
      proto::PULL_OBJECT, [this](const rpc::ConnectionPtr &conn, uint64_t call_id, PullObjectRequest &req) {
        if (req.object_id().size() != ObjectID::kSize || req.source_node_id().size() != NodeID::kSize)
          return conn->ReplyError(call_id,
                                  Status::InvalidArgument("PULL_OBJECT needs an object id and a node id"));
        if (!object_manager_) return conn->ReplyError(call_id, Status::Internal("the node is starting"));
        ObjectID id = ObjectID::FromBinary(req.object_id());
        NodeID source = NodeID::FromBinary(req.source_node_id());
        if (source == node_id_) {
          if (store_->Contains(id)) return conn->Reply(call_id, NodeEmpty());
          return conn->ReplyError(call_id,
                                  Status::NotFound("object " + id.Hex() + " is not in this node's store"));
        }
        object_manager_->Pull(id, source, [conn, call_id](Status st) {
          if (st.ok()) {
            conn->Reply(call_id, NodeEmpty());
          } else {
            conn->ReplyError(call_id, st);
          }
        });
      });
  dispatcher_.Register(proto::DELETE_OBJECT_COPIES,
                       [this](const rpc::ConnectionPtr &, uint64_t, ObjectCopies &req) {
                         if (req.node_id().size() != NodeID::kSize || !peers_) return;
                         NodeID node = NodeID::FromBinary(req.node_id());
                         if (node == node_id_) {
                           for (auto &id : req.object_ids()) store_->Delete(ObjectID::FromBinary(id));
                           return;
                         }
                         ObjectIdList del;
                         *del.mutable_object_ids() = req.object_ids();
                         peers_->Notify(node, proto::DELETE_OBJECTS, del);
                       });
}

}  // namespace lumen::scheduler
