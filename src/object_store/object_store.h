// The node's object table over the shared-memory arena (the plasma role).
//
// An object is created (space reserved), written by its creator in place,
// sealed (immutable from then on), read in place by any number of local
// clients that pin it, and deleted when its owner says no reference remains.
// A delete of a pinned object takes effect when the last pin goes.
//
// When the arena is full, Create waits (FIFO) for space until its deadline,
// then fails with ObjectStoreFull; it never evicts live objects.
//
// Threading: not thread-safe. The node service calls it from its event loop
// thread only; callbacks run on that thread, timers use the given io_context.
#pragma once

#include <utility>  // before asio: its awaitable.hpp uses std::exchange

#include <boost/asio.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "object_store/allocator.h"

namespace lumen::object_store {

/// Identifies a process attached to the store (for pins held by a client that dies).
using ClientId = uint64_t;

struct ObjectInfo {
  size_t offset = 0;     // within the arena
  size_t data_size = 0;  // bytes of serialized value
  size_t meta_size = 0;  // bytes of metadata, stored right after the data
};

/// One object as ObjectStore::List reports it (the state API's objects).
struct ObjectListing {
  ObjectID id;
  size_t size = 0;  // data and metadata
  bool sealed = false;
  bool deleted = false;  // freed by its owner, waiting for its last pin
  size_t pins = 0;       // readers' pins (Get minus Release)
  ClientId creator = 0;
};

struct StoreStats {
  size_t capacity = 0;
  size_t used = 0;
  size_t num_objects = 0;
  size_t num_pending_creates = 0;
};

class ObjectStore {
 public:
  ObjectStore(boost::asio::io_context &io, size_t capacity);
  /// Pending creates are dropped without their callbacks being called.
  ~ObjectStore();
  ObjectStore(const ObjectStore &) = delete;
  ObjectStore &operator=(const ObjectStore &) = delete;

  using CreateCallback = std::function<void(StatusOr<ObjectInfo>)>;
  /// Reserves data_size + meta_size bytes for `id`, created by `client` (the
  /// creator holds a pin until Seal or Abort). If there is no room, waits up
  /// to `wait` for space, then calls back with ObjectStoreFull. An id that
  /// already exists gives AlreadyExists. A request larger than the whole
  /// store fails at once.
  void Create(const ObjectID &id, size_t data_size, size_t meta_size, ClientId client,
              std::chrono::milliseconds wait, CreateCallback cb);
  /// Makes the object immutable and visible to Get; drops the creator's pin.
  Status Seal(const ObjectID &id, ClientId client);
  /// Drops an unsealed object (the creator failed half way).
  Status Abort(const ObjectID &id, ClientId client);

  /// Pins a sealed object for `client`; NotFound if absent or not sealed.
  StatusOr<ObjectInfo> Get(const ObjectID &id, ClientId client);
  /// Drops one pin of `client` on `id`.
  Status Release(const ObjectID &id, ClientId client);
  /// The owner freed the object: its space returns once no pin remains.
  void Delete(const ObjectID &id);
  /// A client went away: drop all its pins and abort what it was creating.
  void DisconnectClient(ClientId client);

  bool Contains(const ObjectID &id) const;
  StoreStats Stats() const;
  /// At most `max` of the objects, in no particular order.
  std::vector<ObjectListing> List(size_t max) const;

 private:
  struct Entry;
  struct PendingCreate;
  void TryPendingCreates();
  void FreeEntry(const ObjectID &id);
  // Allocates and records the entry; nullopt when there is no room.
  std::optional<ObjectInfo> TryAllocate(const ObjectID &id, size_t data_size, size_t meta_size,
                                        ClientId client);
  // Frees the entry if it was deleted and nothing pins it; true if freed.
  bool MaybeFreeDeleted(const ObjectID &id, Entry &e);
  void OnCreateDeadline(const std::shared_ptr<PendingCreate> &p);
  std::string FullMessage(size_t data_size, size_t meta_size) const;

  boost::asio::io_context &io_;
  Allocator allocator_;
  std::unordered_map<ObjectID, std::unique_ptr<Entry>> objects_;
  std::deque<std::shared_ptr<PendingCreate>> pending_;
};

}  // namespace lumen::object_store
