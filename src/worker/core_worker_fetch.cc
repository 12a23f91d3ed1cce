// The core worker's part of objects across nodes (the object fetcher and the
// owner's directory of copies). A large object lives in the store of the node
// where it was sealed (ObjectPayload.node_id: a Put's is its owner's node, a
// task return's the node its worker ran on). A reader on another node asks
// its own node to pull it from a node holding a copy (PULL_OBJECT; the bytes
// go node to node, never through the owner), trying the next copy when one
// fails, then reads it locally as usual. The owner keeps the other nodes
// holding a copy in its entry (ObjectPayload.copy_node_ids, which
// GET_OBJECT_STATUS hands to readers with the rest of the payload); a reader
// that is not the owner reports its new copy (ADD_OBJECT_COPY). When the
// object is freed, the owner's node is told to have every copy deleted
// (DELETE_OBJECT_COPIES).
#include "base/logging.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {

namespace {

bool HasCopy(const proto::ObjectPayload &p, const std::string &node) {
  if (p.node_id() == node) return true;
  for (auto &n : p.copy_node_ids())
    if (n == node) return true;
  return false;
}

}  // namespace

Status CoreWorker::FetchToLocal(const ObjectID &id, const proto::ObjectPayload &where) {
  const std::string &local = node_info_.node_id();
  std::vector<std::string> sources;
  if (!where.node_id().empty() && where.node_id() != local) sources.push_back(where.node_id());
  for (auto &n : where.copy_node_ids())
    if (n != local && n != where.node_id()) sources.push_back(n);
  if (sources.empty())
    return Status(StatusCode::kObjectLost, "object " + id.Hex() + " is not in the local object store");
  Status last;
  bool unreachable = true;  // no source answered that it lacks the object
  for (auto &source : sources) {
    proto::PullObjectRequest req;
    req.set_object_id(id.Binary());
    req.set_source_node_id(source);
    proto::NodeEmpty rep;
    last = node_->CallSync(proto::PULL_OBJECT, req, &rep, kPullObjectTimeout);
    if (last.ok()) {
      RecordLocalCopy(id);
      return Status::OK();
    }
    if (last.code() == StatusCode::kObjectStoreFull) break;  // another copy would not fit either
    if (last.code() == StatusCode::kNotFound) unreachable = false;
  }
  StatusCode code = last.code() == StatusCode::kObjectStoreFull ? last.code()
                    : unreachable                               ? StatusCode::kDisconnected
                                                                : StatusCode::kObjectLost;
  return Status(code, "object " + id.Hex() + " could not be fetched from any of its " +
                          std::to_string(sources.size()) + " copies on other nodes: " + last.message());
}

void CoreWorker::RecordLocalCopy(const ObjectID &id) {
  const std::string &local = node_info_.node_id();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(id);
    if (it != objects_.end() && it->second->owned) {
      if (!HasCopy(it->second->payload, local)) it->second->payload.add_copy_node_ids(local);
      return;
    }
    if (it == objects_.end() && id.Owner() == options_.worker_id) {
      // Freed while it was being pulled: nobody will delete this copy.
      proto::ObjectIdList del;
      del.add_object_ids(id.Binary());
      node_->Notify(proto::DELETE_OBJECTS, del);
      return;
    }
  }
  proto::ObjectCopies copy;
  copy.set_node_id(local);
  copy.add_object_ids(id.Binary());
  helper_.Post([this, owner = id.Owner(), copy] {
    auto conn = OwnerConnection(owner);
    if (conn) conn->Notify(proto::ADD_OBJECT_COPY, copy);
  });
}

void CoreWorker::DeleteRemoteCopiesLocked(const ObjectID &id, const proto::ObjectPayload &payload) {
  const std::string &local = node_info_.node_id();
  auto tell = [&](const std::string &node) {
    if (node.empty() || node == local) return;  // the local copy goes with DELETE_OBJECTS
    proto::ObjectCopies copies;
    copies.set_node_id(node);
    copies.add_object_ids(id.Binary());
    node_->Notify(proto::DELETE_OBJECT_COPIES, copies);
  };
  tell(payload.node_id());
  for (auto &n : payload.copy_node_ids()) tell(n);
}

void CoreWorker::RegisterFetchHandlers() {
  dispatcher_.Register(proto::ADD_OBJECT_COPY,
                       [this](const rpc::ConnectionPtr &, uint64_t, const proto::ObjectCopies &req) {
                         std::lock_guard<std::mutex> lock(mu_);
                         proto::ObjectCopies gone;
                         gone.set_node_id(req.node_id());
                         for (auto &b : req.object_ids()) {
                           auto it = objects_.find(ObjectID::FromBinary(b));
                           if (it != objects_.end() && it->second->owned && it->second->ready) {
                             if (!HasCopy(it->second->payload, req.node_id()))
                               it->second->payload.add_copy_node_ids(req.node_id());
                           } else {
                             gone.add_object_ids(b);  // freed before the copy was reported: it goes now
                           }
                         }
                         if (gone.object_ids_size() > 0 && req.node_id().size() == NodeID::kSize)
                           node_->Notify(proto::DELETE_OBJECT_COPIES, gone);
                       });
}

}  // namespace lumen::worker
