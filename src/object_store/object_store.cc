#include "object_store/object_store.h"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

namespace lumen::object_store {

struct ObjectStore::Entry {
  ObjectInfo info;
  ClientId creator = 0;
  bool sealed = false;
  bool deleted = false;     // the owner freed it; goes when unpinned
  bool creator_pin = true;  // held from Create until Seal/Abort
  size_t total_pins = 0;    // sum of pins (Get minus Release), all clients
  std::unordered_map<ClientId, size_t> pins;
};

struct ObjectStore::PendingCreate {
  PendingCreate(boost::asio::io_context &io) : timer(io) {}
  ObjectID id;
  size_t data_size = 0;
  size_t meta_size = 0;
  ClientId client = 0;
  std::chrono::milliseconds wait{0};
  CreateCallback cb;
  boost::asio::steady_timer timer;
  bool done = false;  // answered (space found, timed out, cancelled) or store gone
};

ObjectStore::ObjectStore(boost::asio::io_context &io, size_t capacity) : io_(io), allocator_(capacity) {}

ObjectStore::~ObjectStore() {
  for (auto &p : pending_) {
    p->done = true;  // the timer handler checks this before touching the store
    p->timer.cancel();
  }
}

std::string ObjectStore::FullMessage(size_t data_size, size_t meta_size) const {
  return "object store full: requested " + std::to_string(data_size + meta_size) + " bytes (data " +
         std::to_string(data_size) + " + metadata " + std::to_string(meta_size) + "), capacity " +
         std::to_string(allocator_.capacity()) + " bytes, used " + std::to_string(allocator_.used()) +
         " bytes by " + std::to_string(objects_.size()) + " objects, largest free block " +
         std::to_string(allocator_.largest_free_block()) + " bytes";
}

std::optional<ObjectInfo> ObjectStore::TryAllocate(const ObjectID &id, size_t data_size, size_t meta_size,
                                                   ClientId client) {
  auto off = allocator_.Allocate(data_size + meta_size);
  if (!off) return std::nullopt;
  auto e = std::make_unique<Entry>();
  e->info = ObjectInfo{*off, data_size, meta_size};
  e->creator = client;
  ObjectInfo info = e->info;
  objects_.emplace(id, std::move(e));
  return info;
}

void ObjectStore::Create(const ObjectID &id, size_t data_size, size_t meta_size, ClientId client,
                         std::chrono::milliseconds wait, CreateCallback cb) {
  if (objects_.count(id) != 0) {
    cb(Status::AlreadyExists("object " + id.Hex() + " already exists in the object store"));
    return;
  }
  for (const auto &p : pending_) {
    if (!p->done && p->id == id) {
      cb(Status::AlreadyExists("object " + id.Hex() + " is already being created"));
      return;
    }
  }
  if (data_size > std::numeric_limits<size_t>::max() - meta_size ||
      data_size + meta_size > allocator_.capacity()) {
    cb(Status::ObjectStoreFull("object " + id.Hex() + " can never fit: " + FullMessage(data_size, meta_size) +
                               "; the request is larger than the whole store"));
    return;
  }
  // Strict FIFO: while older requests wait, a new one queues behind them even
  // if it would fit, so a large request is not starved by a stream of small ones.
  if (pending_.empty()) {
    if (auto info = TryAllocate(id, data_size, meta_size, client)) {
      cb(*info);
      return;
    }
  }
  if (wait.count() <= 0) {
    std::string msg = FullMessage(data_size, meta_size);
    if (!pending_.empty()) msg += ", " + std::to_string(pending_.size()) + " creates queued ahead";
    cb(Status::ObjectStoreFull(msg));
    return;
  }
  auto p = std::make_shared<PendingCreate>(io_);
  p->id = id;
  p->data_size = data_size;
  p->meta_size = meta_size;
  p->client = client;
  p->wait = wait;
  p->cb = std::move(cb);
  p->timer.expires_after(wait);
  p->timer.async_wait([this, p](const boost::system::error_code &ec) {
    // `done` is checked first: it is set when the store is destroyed.
    if (p->done || ec == boost::asio::error::operation_aborted) return;
    OnCreateDeadline(p);
  });
  pending_.push_back(std::move(p));
}

void ObjectStore::OnCreateDeadline(const std::shared_ptr<PendingCreate> &p) {
  p->done = true;
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (*it == p) {
      pending_.erase(it);
      break;
    }
  }
  std::string msg = FullMessage(p->data_size, p->meta_size) + "; gave up after waiting " +
                    std::to_string(p->wait.count()) + " ms for space";
  auto cb = std::move(p->cb);
  cb(Status::ObjectStoreFull(msg));
  // The head may have been the one blocking smaller requests behind it.
  TryPendingCreates();
}

void ObjectStore::TryPendingCreates() {
  std::vector<std::pair<CreateCallback, ObjectInfo>> ready;
  while (!pending_.empty()) {
    auto &head = pending_.front();
    if (head->done) {
      pending_.pop_front();
      continue;
    }
    auto info = TryAllocate(head->id, head->data_size, head->meta_size, head->client);
    if (!info) break;
    head->done = true;
    head->timer.cancel();
    ready.emplace_back(std::move(head->cb), *info);
    pending_.pop_front();
  }
  // Callbacks run after the queue is consistent: they may call back into the store.
  for (auto &[cb, info] : ready) cb(info);
}

void ObjectStore::FreeEntry(const ObjectID &id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  allocator_.Free(it->second->info.offset);
  objects_.erase(it);
}

bool ObjectStore::MaybeFreeDeleted(const ObjectID &id, Entry &e) {
  if (!e.deleted || e.creator_pin || e.total_pins != 0) return false;
  FreeEntry(id);
  return true;
}

Status ObjectStore::Seal(const ObjectID &id, ClientId client) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return Status::NotFound("Seal: object " + id.Hex() + " not found");
  Entry &e = *it->second;
  if (e.sealed) return Status::InvalidArgument("Seal: object " + id.Hex() + " is already sealed");
  if (e.creator != client)
    return Status::InvalidArgument("Seal: object " + id.Hex() + " was created by another client");
  e.sealed = true;
  e.creator_pin = false;
  if (MaybeFreeDeleted(id, e)) TryPendingCreates();
  return Status::OK();
}

Status ObjectStore::Abort(const ObjectID &id, ClientId client) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return Status::NotFound("Abort: object " + id.Hex() + " not found");
  Entry &e = *it->second;
  if (e.sealed) return Status::InvalidArgument("Abort: object " + id.Hex() + " is sealed; Delete it instead");
  if (e.creator != client)
    return Status::InvalidArgument("Abort: object " + id.Hex() + " was created by another client");
  // Nobody but the creator can pin an unsealed object, so it goes at once.
  FreeEntry(id);
  TryPendingCreates();
  return Status::OK();
}

StatusOr<ObjectInfo> ObjectStore::Get(const ObjectID &id, ClientId client) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return Status::NotFound("object " + id.Hex() + " not in the object store");
  Entry &e = *it->second;
  if (!e.sealed) return Status::NotFound("object " + id.Hex() + " is not sealed yet");
  if (e.deleted) return Status::NotFound("object " + id.Hex() + " was deleted");
  ++e.pins[client];
  ++e.total_pins;
  return e.info;
}

Status ObjectStore::Release(const ObjectID &id, ClientId client) {
  auto it = objects_.find(id);
  if (it == objects_.end())
    return Status::NotFound("Release: object " + id.Hex() + " not in the object store");
  Entry &e = *it->second;
  auto pin = e.pins.find(client);
  if (pin == e.pins.end()) return Status::NotFound("Release: client holds no pin on object " + id.Hex());
  if (--pin->second == 0) e.pins.erase(pin);
  --e.total_pins;
  if (MaybeFreeDeleted(id, e)) TryPendingCreates();
  return Status::OK();
}

void ObjectStore::Delete(const ObjectID &id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  Entry &e = *it->second;
  e.deleted = true;
  if (MaybeFreeDeleted(id, e)) TryPendingCreates();
}

void ObjectStore::DisconnectClient(ClientId client) {
  bool freed = false;
  std::vector<ObjectID> to_free;
  for (auto &[id, ep] : objects_) {
    Entry &e = *ep;
    if (!e.sealed && e.creator == client) {
      to_free.push_back(id);  // abort its half-written objects
      continue;
    }
    auto pin = e.pins.find(client);
    if (pin != e.pins.end()) {
      e.total_pins -= pin->second;
      e.pins.erase(pin);
      if (e.deleted && !e.creator_pin && e.total_pins == 0) to_free.push_back(id);
    }
  }
  for (const auto &id : to_free) {
    FreeEntry(id);
    freed = true;
  }
  // Its queued creates will never be written: answer them now.
  std::vector<std::shared_ptr<PendingCreate>> cancelled;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if ((*it)->client == client && !(*it)->done) {
      (*it)->done = true;
      (*it)->timer.cancel();
      cancelled.push_back(*it);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  if (freed || !cancelled.empty()) TryPendingCreates();
  for (auto &p : cancelled) {
    auto cb = std::move(p->cb);
    cb(Status::Cancelled("client " + std::to_string(client) + " disconnected while creating object " +
                         p->id.Hex()));
  }
}

bool ObjectStore::Contains(const ObjectID &id) const {
  auto it = objects_.find(id);
  return it != objects_.end() && it->second->sealed && !it->second->deleted;
}

StoreStats ObjectStore::Stats() const {
  StoreStats s;
  s.capacity = allocator_.capacity();
  s.used = allocator_.used();
  s.num_objects = objects_.size();
  for (const auto &p : pending_)
    if (!p->done) ++s.num_pending_creates;
  return s;
}

std::vector<ObjectListing> ObjectStore::List(size_t max) const {
  std::vector<ObjectListing> out;
  out.reserve(std::min(max, objects_.size()));
  for (const auto &[id, e] : objects_) {
    if (out.size() >= max) break;
    out.push_back(
        {id, e->info.data_size + e->info.meta_size, e->sealed, e->deleted, e->total_pins, e->creator});
  }
  return out;
}

}  // namespace lumen::object_store
