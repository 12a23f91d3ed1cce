// The node's object manager: moves sealed objects between the object stores
// of different nodes (Ray's object manager and pull manager).
//
// Pull, not push: the node that needs an object asks a node that holds a copy
// for it chunk by chunk (PULL_OBJECT_CHUNK, a byte range per call). The
// receiver then decides everything that matters for its own memory -- when a
// pull is admitted (only once the object's space is allocated in the local
// store), how many chunks are in flight -- and a source never sends bytes
// nobody has room for. Each chunk is its own call, so a source that dies or
// has lost the object fails the pull at the next chunk with a clear status,
// and the caller may try another copy. The bytes go from the source's arena
// to the receiver's, never through the object's owner.
//
// A pull: one header call (length 0) tells the object's sizes; the object is
// then created in the local store, which admits creates in arrival order and
// only while they fit (ObjectStore::Create waits for space, then fails with
// ObjectStoreFull), so many pulls at once queue instead of overflowing the
// store, and since a pull takes all its space at once, pulls never hold part
// of the store each while waiting for more (no deadlock between them).
// Admitted pulls then read their chunks, oldest pull first, with at most
// `max_chunks_in_flight` chunk calls outstanding over all pulls, and seal the
// object. Requests for an object already being pulled join that pull.
//
// No copies in user space: a source writes a chunk to its socket from where
// it lies in its arena (the store pins the object until the bytes have
// left), and the receiver's connection reads it straight into the object's
// allocation (NodePeers::CallInto). Because a chunk's bytes land in the
// allocation while its call is outstanding, a pull that fails stops asking
// for more and fails only once its outstanding chunk calls have ended; only
// then is the allocation given back.
//
// Threading: not thread-safe. Everything -- Pull, ServeChunk, the transport's
// callbacks, the store -- runs on one thread (the node's event loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "object_store/object_store.h"
#include "protocol/node.pb.h"
#include "rpc/rpc.h"

namespace lumen::object_manager {

/// How a node reaches the other nodes (by node id). The node's implementation
/// resolves ids through the control service's node table (RpcNodePeers);
/// tests connect object managers in-process.
class NodePeers {
 public:
  virtual ~NodePeers() = default;
  /// Sends a request to node `node`; `cb` runs exactly once, on the object
  /// manager's thread, with the reply's body or why there is none.
  virtual void Call(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &request,
                    rpc::ResponseCallback cb) = 0;
  /// A call whose reply's body is `sink.prefix` bytes that `cb` gets and
  /// then exactly `sink.size` bytes that land in `sink.dest` (see
  /// rpc::ReplySink): OK means they are there; a reply of another length
  /// fails. Nothing is written to `sink.dest` after `cb` has run. This
  /// default makes an ordinary Call and copies; transports that can read
  /// into the memory directly override it.
  virtual void CallInto(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &request,
                        rpc::ReplySink sink, rpc::ResponseCallback cb);
  /// One-way message to `node`; dropped if it cannot be reached.
  virtual void Notify(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &message) = 0;
};

struct ObjectManagerOptions {
  /// Bytes per PULL_OBJECT_CHUNK call. Large enough that a call's fixed cost
  /// is noise, small enough that a few in flight keep both ends busy.
  uint64_t chunk_size = 8u << 20;
  /// Chunk calls outstanding at once over all pulls.
  int max_chunks_in_flight = 4;
  /// How long a pull waits to be admitted (for space in the store) before it
  /// fails with ObjectStoreFull.
  std::chrono::milliseconds admission_wait{10000};
  /// The store client the manager creates, seals and reads objects as.
  object_store::ClientId client_id = 0;
  /// How a served chunk's pin, dropped by the transport once the bytes are
  /// written (on any thread), gets its release run on the manager's thread.
  /// Unset: the release runs where the pin is dropped (a single-threaded
  /// transport, as in tests).
  std::function<void(std::function<void()>)> run_on_manager_thread;
};

/// A PULL_OBJECT_CHUNK reply is not a protobuf: a 16-byte header (the whole
/// object's data and metadata sizes, u64 little-endian) and then the range's
/// bytes, so that they go from arena to socket to arena with no copy in
/// between.
struct ChunkHeader {
  uint64_t data_size = 0;
  uint64_t meta_size = 0;
};
constexpr size_t kChunkHeaderSize = 16;
/// The largest range one chunk call may ask for.
constexpr uint64_t kMaxChunkSize = 64u << 20;

class ObjectManager {
 public:
  /// `store` and the arena at `arena_base` are the node's; `peers` reaches
  /// the other nodes. All must outlive the manager.
  ObjectManager(object_store::ObjectStore &store, uint8_t *arena_base, NodePeers &peers,
                ObjectManagerOptions options = {});
  ~ObjectManager();
  ObjectManager(const ObjectManager &) = delete;
  ObjectManager &operator=(const ObjectManager &) = delete;

  using DoneCallback = std::function<void(Status)>;
  /// Makes object `id` local, reading it from node `source`. `done` gets OK
  /// once the object is sealed in the local store (at once if it is there
  /// already), or why not: the source lacks it or cannot be reached
  /// (NotFound, Disconnected: try another copy), no room (ObjectStoreFull).
  /// A pull of `id` already under way is joined, whatever its source.
  void Pull(const ObjectID &id, const NodeID &source, DoneCallback done);

  /// The serving side of PULL_OBJECT_CHUNK for a range of one of this
  /// node's sealed objects: calls `reply` with the reply's body in two parts,
  /// the encoded ChunkHeader and the bytes in place in the store, and a pin
  /// that keeps those bytes there (the object pinned in the store) until it
  /// is dropped (rpc::Connection::ReplyPinned).
  using ChunkSink =
      std::function<void(std::string header, std::string_view bytes, std::shared_ptr<const void> pin)>;
  Status ServeChunk(const proto::PullObjectChunkRequest &req, const ChunkSink &reply);

  /// Pulls waiting for space, and pulls reading chunks.
  size_t NumQueued() const { return num_queued_; }
  size_t NumActive() const { return active_.size(); }

 private:
  struct PullState;
  using PullPtr = std::shared_ptr<PullState>;
  void OnHeader(const PullPtr &pull, Status status, std::string_view body);
  void OnAdmitted(const PullPtr &pull, StatusOr<object_store::ObjectInfo> info);
  void OnChunk(const PullPtr &pull, uint64_t offset, uint64_t length, Status status, std::string_view body);
  /// A pin for ServeChunk's reply: releases `id` on the manager's thread.
  std::shared_ptr<const void> PinForReply(const ObjectID &id);
  /// Issues chunk calls, oldest admitted pull first, up to the limit.
  void Pump();
  void Finish(const PullPtr &pull, Status status);
  Status Failure(const PullPtr &pull, const Status &cause) const;

  object_store::ObjectStore &store_;
  uint8_t *const arena_base_;
  NodePeers &peers_;
  const ObjectManagerOptions options_;
  std::unordered_map<ObjectID, PullPtr> pulls_;  // every pull under way, by object
  std::list<PullPtr> active_;                    // admitted, in admission order
  size_t num_queued_ = 0;
  int chunks_in_flight_ = 0;
  // Callbacks from the transport and the store hold a weak copy: after the
  // manager is gone they do nothing.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

/// Encodes / decodes the header of a PULL_OBJECT_CHUNK reply (see ChunkHeader).
std::string EncodeChunkHeader(const ChunkHeader &header);
StatusOr<ChunkHeader> DecodeChunkHeader(std::string_view body);

}  // namespace lumen::object_manager
