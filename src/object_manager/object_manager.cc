#include "object_manager/object_manager.h"

#include <algorithm>
#include <cstring>

#include "base/logging.h"

namespace lumen::object_manager {

struct ObjectManager::PullState {
  ObjectID id;
  NodeID source;
  std::vector<DoneCallback> waiters;
  ChunkHeader header;
  uint64_t total = 0;        // data + metadata, contiguous in the arena
  size_t offset = 0;         // of the allocation in the arena
  bool admitted = false;     // the allocation exists
  bool queued = false;       // waiting for space
  bool done = false;         // answered; late callbacks are ignored
  uint64_t next_offset = 0;  // first byte not yet asked for
  uint64_t received = 0;
  int in_flight = 0;
  Status failure;  // a chunk failed: no more are asked for; Finish once in_flight is 0
};

namespace {

void PutU64(char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t GetU64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

std::string EncodeChunkHeader(const ChunkHeader &header) {
  std::string out(kChunkHeaderSize, '\0');
  PutU64(out.data(), header.data_size);
  PutU64(out.data() + 8, header.meta_size);
  return out;
}

StatusOr<ChunkHeader> DecodeChunkHeader(std::string_view body) {
  if (body.size() < kChunkHeaderSize)
    return Status::InvalidArgument("chunk reply of " + std::to_string(body.size()) +
                                   " bytes is shorter than its header");
  ChunkHeader h;
  h.data_size = GetU64(body.data());
  h.meta_size = GetU64(body.data() + 8);
  if (h.data_size > UINT64_MAX - h.meta_size)
    return Status::InvalidArgument("chunk reply with impossible sizes");
  return h;
}

void NodePeers::CallInto(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &request,
                         rpc::ReplySink sink, rpc::ResponseCallback cb) {
  Call(node, method, request, [sink, cb = std::move(cb)](Status st, std::string_view body) {
    if (st.ok() && body.size() != sink.prefix + sink.size) {
      return cb(Status::InvalidArgument("reply of " + std::to_string(body.size()) + " bytes, not the " +
                                        std::to_string(sink.prefix + sink.size) + " expected"),
                {});
    }
    if (st.ok() && sink.size) std::memcpy(sink.dest, body.data() + sink.prefix, sink.size);
    cb(std::move(st), st.ok() ? body.substr(0, sink.prefix) : std::string_view());
  });
}

ObjectManager::ObjectManager(object_store::ObjectStore &store, uint8_t *arena_base, NodePeers &peers,
                             ObjectManagerOptions options)
    : store_(store), arena_base_(arena_base), peers_(peers), options_(options) {}

ObjectManager::~ObjectManager() {
  // Abort what is half written, so the store does not keep unsealed space;
  // waiters are not called (their connections go with the node).
  for (auto &[id, pull] : pulls_)
    if (pull->admitted) (void)store_.Abort(id, options_.client_id);
}

Status ObjectManager::ServeChunk(const proto::PullObjectChunkRequest &req, const ChunkSink &reply) {
  if (req.object_id().size() != ObjectID::kSize)
    return Status::InvalidArgument("PULL_OBJECT_CHUNK: object id of " +
                                   std::to_string(req.object_id().size()) + " bytes, not " +
                                   std::to_string(ObjectID::kSize));
  if (req.length() > kMaxChunkSize)
    return Status::InvalidArgument("PULL_OBJECT_CHUNK: " + std::to_string(req.length()) +
                                   " bytes asked for, more than a chunk's " + std::to_string(kMaxChunkSize));
  ObjectID id = ObjectID::FromBinary(req.object_id());
  auto info = store_.Get(id, options_.client_id);
  if (!info.ok()) return Status::NotFound("object " + id.Hex() + " is not in this node's object store");
  const uint64_t total = info->data_size + info->meta_size;
  Status out;
  if (req.offset() > total || req.length() > total - req.offset()) {
    out = Status::InvalidArgument("PULL_OBJECT_CHUNK: bytes [" + std::to_string(req.offset()) + ", +" +
                                  std::to_string(req.length()) + ") lie outside object " + id.Hex() + " of " +
                                  std::to_string(total) + " bytes");
  } else {
    const char *at = reinterpret_cast<const char *>(arena_base_) + info->offset + req.offset();
    // The store's pin from Get above is the reply's: released once sent.
    reply(EncodeChunkHeader({info->data_size, info->meta_size}), std::string_view(at, req.length()),
          PinForReply(id));
    return out;
  }
  (void)store_.Release(id, options_.client_id);
  return out;
}

std::shared_ptr<const void> ObjectManager::PinForReply(const ObjectID &id) {
  // Dropping the pin runs this object's destructor, wherever that happens.
  class Pin {
   public:
    explicit Pin(std::function<void()> release) : release_(std::move(release)) {}
    Pin(const Pin &) = delete;
    Pin &operator=(const Pin &) = delete;
    ~Pin() { release_(); }

   private:
    std::function<void()> release_;
  };
  std::weak_ptr<int> alive = alive_;
  std::function<void()> release = [this, alive, id] {
    if (!alive.expired()) (void)store_.Release(id, options_.client_id);
  };
  if (!options_.run_on_manager_thread) return std::make_shared<const Pin>(std::move(release));
  return std::make_shared<const Pin>(
      [run = options_.run_on_manager_thread, release = std::move(release)] { run(release); });
}

void ObjectManager::Pull(const ObjectID &id, const NodeID &source, DoneCallback done) {
  if (auto it = pulls_.find(id); it != pulls_.end()) {
    it->second->waiters.push_back(std::move(done));
    return;
  }
  if (store_.Contains(id)) {
    done(Status::OK());
    return;
  }
  auto pull = std::make_shared<PullState>();
  pull->id = id;
  pull->source = source;
  pull->waiters.push_back(std::move(done));
  pulls_[id] = pull;
  proto::PullObjectChunkRequest req;
  req.set_object_id(id.Binary());
  req.set_length(0);  // just the sizes
  std::weak_ptr<int> alive = alive_;
  peers_.Call(source, proto::PULL_OBJECT_CHUNK, req, [this, alive, pull](Status st, std::string_view body) {
    if (alive.expired()) return;
    OnHeader(pull, std::move(st), body);
  });
}

Status ObjectManager::Failure(const PullPtr &pull, const Status &cause) const {
  return Status(cause.code(), "pulling object " + pull->id.Hex() + " from node " + pull->source.Hex() +
                                  " failed: " + cause.message());
}

void ObjectManager::OnHeader(const PullPtr &pull, Status status, std::string_view body) {
  if (pull->done) return;
  if (!status.ok()) return Finish(pull, Failure(pull, status));
  auto header = DecodeChunkHeader(body);
  if (!header.ok()) return Finish(pull, Failure(pull, header.status()));
  if (body.size() != kChunkHeaderSize)
    return Finish(pull, Failure(pull, Status::InvalidArgument("the sizes reply carries bytes")));
  pull->header = *header;
  pull->total = header->data_size + header->meta_size;
  pull->queued = true;
  num_queued_++;
  std::weak_ptr<int> alive = alive_;
  store_.Create(pull->id, header->data_size, header->meta_size, options_.client_id, options_.admission_wait,
                [this, alive, pull](StatusOr<object_store::ObjectInfo> info) {
                  if (alive.expired()) return;
                  OnAdmitted(pull, std::move(info));
                });
}

void ObjectManager::OnAdmitted(const PullPtr &pull, StatusOr<object_store::ObjectInfo> info) {
  pull->queued = false;
  num_queued_--;
  if (!info.ok()) {
    // A local client made the object meanwhile (a Put of the same id cannot
    // happen, but a second copy pulled by another path could): done if sealed.
    if (info.status().code() == StatusCode::kAlreadyExists && store_.Contains(pull->id))
      return Finish(pull, Status::OK());
    return Finish(pull, Failure(pull, info.status()));
  }
  pull->admitted = true;
  pull->offset = info->offset;
  if (pull->done) return Finish(pull, Status::OK());  // unreachable: nothing answers a queued pull
  if (pull->total == 0) return Finish(pull, Status::OK());
  active_.push_back(pull);
  Pump();
}

void ObjectManager::Pump() {
  for (auto it = active_.begin(); it != active_.end() && chunks_in_flight_ < options_.max_chunks_in_flight;) {
    const PullPtr pull = *it;
    if (pull->next_offset >= pull->total || !pull->failure.ok()) {
      ++it;
      continue;
    }
    const uint64_t offset = pull->next_offset;
    const uint64_t length = std::min<uint64_t>(options_.chunk_size, pull->total - offset);
    pull->next_offset += length;
    pull->in_flight++;
    chunks_in_flight_++;
    proto::PullObjectChunkRequest req;
    req.set_object_id(pull->id.Binary());
    req.set_offset(offset);
    req.set_length(length);
    std::weak_ptr<int> alive = alive_;
    const rpc::ReplySink sink{kChunkHeaderSize, reinterpret_cast<char *>(arena_base_ + pull->offset + offset),
                              length};
    // The callback may run before the call returns (a peer that fails at
    // once), and then changes active_: restart the walk rather than keep `it`.
    peers_.CallInto(pull->source, proto::PULL_OBJECT_CHUNK, req, sink,
                    [this, alive, pull, offset, length](Status st, std::string_view body) {
                      if (alive.expired()) return;
                      OnChunk(pull, offset, length, std::move(st), body);
                    });
    it = active_.begin();
  }
}

void ObjectManager::OnChunk(const PullPtr &pull, uint64_t offset, uint64_t length, Status status,
                            std::string_view body) {
  pull->in_flight--;
  chunks_in_flight_--;
  if (pull->done) {  // unreachable: a pull with chunks outstanding is never finished
    Pump();
    return;
  }
  Status bad;
  if (!status.ok()) {
    bad = status.code() == StatusCode::kInvalidArgument
              ? Status::InvalidArgument("chunk at " + std::to_string(offset) + ": " + status.message())
              : status;
  } else if (auto header = DecodeChunkHeader(body); !header.ok()) {
    bad = header.status();
  } else if (header->data_size != pull->header.data_size || header->meta_size != pull->header.meta_size) {
    bad = Status::InvalidArgument("the object's sizes changed between chunks");
  } else {
    pull->received += length;  // in place already (NodePeers::CallInto)
  }
  if (!bad.ok() && pull->failure.ok()) pull->failure = Failure(pull, bad);
  if (!pull->failure.ok()) {
    // Bytes of the other outstanding chunks may still be landing in the
    // allocation: it is given back only once they have all ended.
    if (pull->in_flight == 0) Finish(pull, pull->failure);
  } else if (pull->received == pull->total) {
    Finish(pull, Status::OK());
  }
  Pump();
}

void ObjectManager::Finish(const PullPtr &pull, Status status) {
  if (pull->done) return;
  pull->done = true;
  active_.remove(pull);
  if (pulls_.count(pull->id) && pulls_[pull->id] == pull) pulls_.erase(pull->id);
  if (pull->admitted) {
    if (status.ok()) {
      Status sealed = store_.Seal(pull->id, options_.client_id);
      if (!sealed.ok()) status = Failure(pull, sealed);
    } else {
      (void)store_.Abort(pull->id, options_.client_id);
    }
  }
  if (!status.ok()) LUMEN_LOG_WARN("{}", status.message());
  // A waiter may start another pull of the same object (another copy).
  auto waiters = std::move(pull->waiters);
  for (auto &w : waiters) w(status);
}

}  // namespace lumen::object_manager
