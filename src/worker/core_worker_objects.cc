// The core worker's objects (the ownership protocol, as Ray's memory store;
// the counting is ReferenceCounter's): each object's entry, acting on its
// references (local, submitted, contained, borrowers), freeing, borrow notices to owners, values
// arriving (SetReadyLocked) or asked from their owner, and storing, putting,
// pinning and reading values. Threading: everything here runs with mu_ held
// unless its name lacks "Locked" and it takes mu_ itself.
#include "base/logging.h"
#include "base/settings.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {
// ---------------------------------------------------------------- references

CoreWorker::ObjectEntry &CoreWorker::EntryLocked(const ObjectID &id) {
  auto &slot = objects_[id];
  if (!slot) {
    slot = std::make_unique<ObjectEntry>();
    slot->owned = refs_.Owned(id);
    refs_.Track(id);
  }
  return *slot;
}

void CoreWorker::AddLocalReference(const ObjectID &id) {
  After after;
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return;
  if (id.Owner() == options_.worker_id && !objects_.count(id)) {
    // Every object we own is in the table from creation until freed, so this
    // one was freed (or never existed): a ref to it reads as lost.
    MarkFreedLocked(id, &after);
    refs_.AddLocal(id);
    return;
  }
  EntryLocked(id);
  if (refs_.AddLocal(id)) SendBorrowLocked(id, true);
}

void CoreWorker::MarkFreedLocked(const ObjectID &id, After *after) {
  EntryLocked(id);
  proto::ObjectPayload p;
  p.set_error(proto::OBJECT_LOST);
  p.set_data("Object " + id.Hex() + " was freed (no reference to it remained) or never existed.");
  SetReadyLocked(id, p, after);
}

void CoreWorker::RemoveLocalReference(const ObjectID &id) {
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    refs_.RemoveLocal(id);
    MaybeFreeLocked(id, &after);
  }
  RunAll(after);
}

void CoreWorker::MaybeFreeLocked(const ObjectID &id, After *after) {
  (void)after;  // freeing runs no callbacks: waiters are answered by message
  refs_.FreeIfUnused(
      id,
      [this](const ObjectID &x) {
        // An owned value a dependent task still waits for stays until made.
        auto it = objects_.find(x);
        return it == objects_.end() || !it->second->owned || it->second->ready ||
               it->second->on_ready.empty();
      },
      [this](const ObjectID &x, const ReferenceCounter::Refs &refs) { DropEntryLocked(x, refs); });
}

void CoreWorker::DropEntryLocked(const ObjectID &id, const ReferenceCounter::Refs &refs) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  auto &e = *it->second;
  if (e.owned) {
    recovery_.OnObjectFreed(id);
    if (e.ready && e.payload.in_plasma()) {
      proto::ObjectIdList del;
      del.add_object_ids(id.Binary());
      node_->Notify(proto::DELETE_OBJECTS, del);
      DeleteRemoteCopiesLocked(id, e.payload);
    }
    for (auto &w : e.status_waiters) {
      proto::GetObjectStatusReply rep;
      rep.set_found(false);
      w.first->Reply(w.second, rep);
    }
  } else if (refs.borrow_registered) {
    SendBorrowLocked(id, false);
  }
  objects_.erase(it);
}

void CoreWorker::SendBorrowLocked(const ObjectID &id, bool add) {
  proto::BorrowRequest req;
  req.add_object_ids(id.Binary());
  *req.mutable_borrower() = self_address_;
  helper_.Post([this, owner = id.Owner(), req, add] {
    auto conn = OwnerConnection(owner);
    if (!conn) return;  // the owner is gone; nothing to tell it
    conn->Notify(add ? proto::ADD_BORROWER : proto::REMOVE_BORROWER, req);
  });
}

void CoreWorker::SetReadyLocked(const ObjectID &id, const proto::ObjectPayload &payload, After *after) {
  auto it = objects_.find(id);
  if (it == objects_.end()) {
    // Nobody holds the object any more; drop what the task stored.
    if (payload.in_plasma()) {
      proto::ObjectIdList del;
      del.add_object_ids(id.Binary());
      node_->Notify(proto::DELETE_OBJECTS, del);
      DeleteRemoteCopiesLocked(id, payload);
    }
    return;
  }
  auto &e = *it->second;
  if (e.ready) return;
  e.ready = true;
  e.payload = payload;
  e.data = std::make_shared<const std::string>(payload.data());
  e.payload.clear_data();
  if (payload.nested_ids_size() > 0) {
    std::vector<ObjectID> nested;
    for (auto &nb : payload.nested_ids()) {
      nested.push_back(ObjectID::FromBinary(nb));
      EntryLocked(nested.back());  // `e` stays valid: entries are held by pointer
    }
    // The worker that made this value registered us as a borrower already.
    refs_.AddNested(id, nested);
  }
  if (e.owned) {
    for (auto &w : e.status_waiters) {
      proto::GetObjectStatusReply rep;
      rep.set_found(true);
      *rep.mutable_payload() = e.payload;
      rep.mutable_payload()->set_data(*e.data);
      w.first->Reply(w.second, rep);
    }
    e.status_waiters.clear();
  }
  for (auto &fn : e.on_ready) after->push_back(std::move(fn));
  e.on_ready.clear();
  ready_seq_.fetch_add(1, std::memory_order_release);
  if (e.blocked_waiters > 0) ready_cv_.notify_all();
}

void CoreWorker::RequestFromOwnerLocked(const ObjectID &id, ObjectEntry &e) {
  if (e.requested || e.ready || e.owned) return;
  e.requested = true;
  helper_.Post([this, id] {
    auto fail = [this, id](const std::string &why) {
      After after;
      {
        std::lock_guard<std::mutex> lock(mu_);
        proto::ObjectPayload p;
        p.set_error(proto::OBJECT_LOST);
        p.set_data(why);
        SetReadyLocked(id, p, &after);
      }
      RunAll(after);
    };
    auto conn = OwnerConnection(id.Owner());
    if (!conn) {
      fail("Failed to retrieve object " + id.Hex() + ": its owner is unreachable (it may have exited).");
      return;
    }
    proto::GetObjectStatusRequest req;
    req.set_object_id(id.Binary());
    conn->Call(
        proto::GET_OBJECT_STATUS, req,
        [this, id, fail](Status st, std::string_view body) {
          proto::GetObjectStatusReply rep;
          if (!st.ok() || !rpc::ParseBody(body, &rep)) {
            fail("Failed to retrieve object " + id.Hex() + ": its owner died (" + st.ToString() + ").");
            return;
          }
          if (!rep.found()) {
            fail("Object " + id.Hex() + " was freed or never existed (its owner no longer has it).");
            return;
          }
          After after;
          {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = objects_.find(id);
            if (it != objects_.end()) {
              // Nested refs of a borrowed value are the owner's to track.
              auto payload = rep.payload();
              payload.clear_nested_ids();
              SetReadyLocked(id, payload, &after);
            }
          }
          RunAll(after);
        },
        kForever);
  });
}

// ---------------------------------------------------------------- objects

Status CoreWorker::StoreValue(const ObjectID &id, size_t size, const ValueWriter &write,
                              proto::ObjectPayload *payload) {
  if (size < inline_threshold_) {
    std::string bytes(size, '\0');
    if (!write(bytes.data())) return Status::InvalidArgument("serializing the value failed");
    payload->set_data(std::move(bytes));
    return Status::OK();
  }
  // Large: the writer fills the shared-memory allocation directly, so the
  // value is copied once, into pages whose page tables are filled first.
  proto::CreateObjectRequest req;
  req.set_object_id(id.Binary());
  req.set_data_size(size);
  req.set_wait_ms(static_cast<uint32_t>(kObjectStoreFullWait.count()));
  proto::CreateObjectReply rep;
  Status created = node_->CallSync(proto::CREATE_OBJECT, req, &rep, kCreateObjectTimeout);
  if (!created.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    return lost_.ok() ? created : lost_;
  }
  arena_->PrepareWrite(rep.offset(), size);
  if (!write(reinterpret_cast<char *>(arena_->base() + rep.offset()))) {
    proto::ObjectIdList abort;
    abort.add_object_ids(id.Binary());
    node_->Notify(proto::ABORT_OBJECT, abort);
    return Status::InvalidArgument("serializing the value failed");
  }
  proto::SealObjectRequest seal;
  seal.set_object_id(id.Binary());
  proto::SealObjectReply seal_rep;
  LUMEN_RETURN_IF_ERROR(node_->CallSync(proto::SEAL_OBJECT, seal, &seal_rep));
  payload->set_in_plasma(true);
  payload->set_node_id(node_info_.node_id());
  return Status::OK();
}

StatusOr<ObjectID> CoreWorker::Put(size_t size, const ValueWriter &write,
                                   const std::vector<ObjectID> &nested) {
  ObjectID id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Puts use task ids with the top bit of the sequence set, index 0.
    id = ObjectID::ForTaskReturn(TaskID::Of(options_.worker_id, (1ull << 63) | ++put_seq_), 0);
  }
  proto::ObjectPayload payload;
  LUMEN_RETURN_IF_ERROR(StoreValue(id, size, write, &payload));
  for (auto &n : nested) payload.add_nested_ids(n.Binary());
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The nested refs are counted as contained in this object. We hold each
    // of them (the value was serialized from live ObjectRefs), so the ones we
    // borrow are registered with their owners already.
    EntryLocked(id);
    SetReadyLocked(id, payload, &after);
  }
  RunAll(after);
  return id;
}

StatusOr<std::shared_ptr<CoreWorker::PlasmaPin>> CoreWorker::PinPlasma(const ObjectID &id) {
  proto::GetObjectsRequest req;
  req.add_object_ids(id.Binary());
  proto::GetObjectsReply rep;
  Status st = node_->CallSync(proto::GET_OBJECTS, req, &rep);
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    return lost_.ok() ? st : lost_;  // a lost node explains it best
  }
  if (rep.objects_size() != 1 || !rep.objects(0).found())
    return Status(StatusCode::kObjectLost, "object " + id.Hex() + " is not in the local object store");
  auto &loc = rep.objects(0);
  return std::make_shared<PlasmaPin>(this, id, reinterpret_cast<const char *>(arena_->base() + loc.offset()),
                                     loc.data_size());
}

StatusOr<RayObjectPtr> CoreWorker::MaterializeLocked(const ObjectID &id, ObjectEntry &e,
                                                     std::unique_lock<std::mutex> &lock) {
  // Lost and being made again since Get saw it ready: Get waits anew.
  if (!e.ready) return Status(StatusCode::kObjectLost, "object " + id.Hex() + " is being made again");
  auto obj = std::make_shared<RayObject>();
  obj->error = e.payload.error();
  if (!e.payload.in_plasma() || obj->error != proto::NO_ERROR) {
    obj->inline_data = e.data;
    obj->data = e.data->data();
    obj->size = e.data->size();
    return RayObjectPtr(obj);
  }
  proto::ObjectPayload where = e.payload;  // e may go while unlocked
  lock.unlock();
  auto pin = PinPlasma(id);
  if (!pin.ok() && pin.status().code() == StatusCode::kObjectLost &&
      where.node_id() != node_info_.node_id()) {
    // Its copies are on other nodes: have this node pull one.
    Status fetched = FetchToLocal(id, where);
    pin = fetched.ok() ? PinPlasma(id) : StatusOr<std::shared_ptr<PlasmaPin>>(fetched);
  }
  lock.lock();
  if (!pin.ok()) return pin.status();
  obj->data = pin.value()->data();
  obj->size = pin.value()->size();
  obj->pin = pin.value();
  return RayObjectPtr(obj);
}

}  // namespace lumen::worker
