// The core worker's part of objects across nodes: a reader's Get of an
// object whose copies are elsewhere (FetchToLocal), the owner's record of
// the copies (ADD_OBJECT_COPY from readers that are not the owner), and
// their deletion when the object is freed (DELETE_OBJECT_COPIES through the
// owner's node). What to pull from, what a failure means and the directory
// of copies are ObjectFetcher's (object_fetcher.h); this file does the calls.
#include "base/logging.h"
#include "worker/core_worker_internal.h"
#include "worker/object_fetcher.h"

namespace lumen::worker {

Status CoreWorker::FetchToLocal(const ObjectID &id, const proto::ObjectPayload &where) {
  ObjectFetcher fetcher([this](const ObjectID &object, const std::string &source) {
    proto::PullObjectRequest req;
    req.set_object_id(object.Binary());
    req.set_source_node_id(source);
    proto::NodeEmpty rep;
    return node_->CallSync(proto::PULL_OBJECT, req, &rep, kPullObjectTimeout);
  });
  Status st = fetcher.Fetch(id, where, node_info_.node_id());
  if (st.ok()) RecordLocalCopy(id);
  return st;
}

void CoreWorker::RecordLocalCopy(const ObjectID &id) {
  const std::string &local = node_info_.node_id();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(id);
    if (it != objects_.end() && it->second->owned) {
      ObjectFetcher::AddCopy(&it->second->payload, local);
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
  for (const std::string &node : ObjectFetcher::RemoteCopies(payload, node_info_.node_id())) {
    proto::ObjectCopies copies;
    copies.set_node_id(node);
    copies.add_object_ids(id.Binary());
    node_->Notify(proto::DELETE_OBJECT_COPIES, copies);
  }
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
                             ObjectFetcher::AddCopy(&it->second->payload, req.node_id());
                           } else {
                             gone.add_object_ids(b);  // freed before the copy was reported: it goes now
                           }
                         }
                         if (gone.object_ids_size() > 0 && req.node_id().size() == NodeID::kSize)
                           node_->Notify(proto::DELETE_OBJECT_COPIES, gone);
                       });
}

}  // namespace lumen::worker
