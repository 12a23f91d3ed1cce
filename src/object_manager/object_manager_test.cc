// The object manager's pulls between in-process nodes: each node is an
// ObjectStore over a plain buffer standing in for its arena, and FakePeers
// carries PULL_OBJECT_CHUNK calls between the managers through the same
// io_context, so a test decides when replies arrive (io_.poll) and can make a
// source die or lie part way through.
#include "object_manager/object_manager.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>

namespace lumen::object_manager {
namespace {

// A chunk reply's body in one piece, as it arrives over a connection.
StatusOr<std::string> ServeWhole(ObjectManager &manager, const proto::PullObjectChunkRequest &req) {
  std::string body;
  Status st =
      manager.ServeChunk(req, [&body](std::string header, std::string_view bytes,
                                      std::shared_ptr<const void>) { body.append(header).append(bytes); });
  if (!st.ok()) return st;
  return body;
}

using namespace std::chrono_literals;

constexpr object_store::ClientId kManagerClient = 1000;
constexpr object_store::ClientId kUser = 7;

struct Node {
  Node(boost::asio::io_context &io, size_t capacity) : store(io, capacity), arena(capacity) {}
  object_store::ObjectStore store;
  std::vector<uint8_t> arena;
  std::unique_ptr<ObjectManager> manager;
};

class FakePeers : public NodePeers {
 public:
  explicit FakePeers(boost::asio::io_context &io) : io_(io) {}
  void Add(const NodeID &id, ObjectManager *m) { nodes_[id] = m; }

  // Failure injection, per source node.
  std::map<NodeID, int> die_after_chunks;  // this many chunk replies, then Disconnected
  std::map<NodeID, bool> short_chunks;     // replies one byte short

  int header_calls = 0;
  int chunk_calls = 0;
  int in_flight = 0;
  int max_in_flight = 0;

  void Call(const NodeID &node, uint16_t method, const google::protobuf::MessageLite &request,
            rpc::ResponseCallback cb) override {
    EXPECT_EQ(method, proto::PULL_OBJECT_CHUNK);
    proto::PullObjectChunkRequest req;
    EXPECT_TRUE(req.ParseFromString(request.SerializeAsString()));
    if (req.length() == 0) {
      header_calls++;
    } else {
      chunk_calls++;
      max_in_flight = std::max(max_in_flight, ++in_flight);
    }
    // Replies arrive later, from the loop, as over a connection.
    boost::asio::post(io_, [this, node, req, cb = std::move(cb)] {
      if (req.length() > 0) in_flight--;
      auto it = nodes_.find(node);
      if (it == nodes_.end()) return cb(Status(StatusCode::kDisconnected, "no such node"), {});
      if (req.length() > 0 && die_after_chunks.count(node) && die_after_chunks[node]-- <= 0)
        return cb(Status(StatusCode::kDisconnected, "node stopped responding"), {});
      auto reply = ServeWhole(*it->second, req);
      if (!reply.ok()) return cb(reply.status(), {});
      std::string body = std::move(*reply);
      if (req.length() > 0 && short_chunks[node]) body.pop_back();
      cb(Status::OK(), body);
    });
  }
  void Notify(const NodeID &, uint16_t, const google::protobuf::MessageLite &) override {}

 private:
  boost::asio::io_context &io_;
  std::map<NodeID, ObjectManager *> nodes_;
};

class ObjectManagerTest : public ::testing::Test {
 protected:
  Node &AddNode(const NodeID &id, size_t capacity, ObjectManagerOptions o = {}) {
    auto node = std::make_unique<Node>(io_, capacity);
    o.client_id = kManagerClient;
    if (o.chunk_size == ObjectManagerOptions().chunk_size) o.chunk_size = kChunk;
    node->manager = std::make_unique<ObjectManager>(node->store, node->arena.data(), peers_, o);
    peers_.Add(id, node->manager.get());
    auto &ref = *node;
    nodes_[id] = std::move(node);
    return ref;
  }

  /// Stores `data` + `meta` as a sealed object of `node`, as a client would.
  static void Store(Node &node, const ObjectID &id, const std::string &data, const std::string &meta = "") {
    std::optional<StatusOr<object_store::ObjectInfo>> info;
    node.store.Create(id, data.size(), meta.size(), kUser, 0ms, [&](auto r) { info.emplace(std::move(r)); });
    ASSERT_TRUE(info.has_value() && info->ok());
    std::memcpy(node.arena.data() + (*info)->offset, data.data(), data.size());
    std::memcpy(node.arena.data() + (*info)->offset + data.size(), meta.data(), meta.size());
    ASSERT_TRUE(node.store.Seal(id, kUser).ok());
  }

  /// The sealed object's data and metadata, read as a client would.
  static std::optional<std::pair<std::string, std::string>> Read(Node &node, const ObjectID &id) {
    auto info = node.store.Get(id, kUser);
    if (!info.ok()) return std::nullopt;
    const char *at = reinterpret_cast<const char *>(node.arena.data()) + info->offset;
    std::pair<std::string, std::string> out{std::string(at, info->data_size),
                                            std::string(at + info->data_size, info->meta_size)};
    EXPECT_TRUE(node.store.Release(id, kUser).ok());
    return out;
  }

  static std::string Pattern(size_t n, int seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 131 + seed * 7 + i / 251) & 0xff);
    return s;
  }

  /// Starts a pull; the outcome lands in the returned slot.
  std::shared_ptr<std::optional<Status>> StartPull(Node &to, const ObjectID &id, const NodeID &from) {
    auto out = std::make_shared<std::optional<Status>>();
    to.manager->Pull(id, from, [out](Status st) { *out = st; });
    return out;
  }

  /// Runs the loop until `done` holds or nothing is left to run.
  template <typename Pred>
  void RunUntil(Pred done) {
    while (!done()) {
      io_.restart();
      if (io_.run_one_for(std::chrono::seconds(30)) == 0) break;
    }
  }

  static constexpr uint64_t kChunk = 1000;
  boost::asio::io_context io_;
  FakePeers peers_{io_};
  std::map<NodeID, std::unique_ptr<Node>> nodes_;
  NodeID a_ = NodeID::FromRandom(), b_ = NodeID::FromRandom(), c_ = NodeID::FromRandom();
};

TEST_F(ObjectManagerTest, PullsObjectsWhoseSizesAreNotChunkMultiples) {
  ObjectManagerOptions o;
  o.max_chunks_in_flight = 3;
  Node &a = AddNode(a_, 1 << 20, o);
  Node &b = AddNode(b_, 1 << 20);
  for (size_t size : {1ul, 999ul, 1000ul, 1001ul, 12345ul}) {
    SCOPED_TRACE(size);
    ObjectID id = ObjectID::FromRandom();
    Store(b, id, Pattern(size, static_cast<int>(size)), "meta:" + std::to_string(size));
    auto done = StartPull(a, id, b_);
    RunUntil([&] { return done->has_value(); });
    ASSERT_TRUE(done->has_value());
    ASSERT_TRUE((*done)->ok()) << (*done)->ToString();
    auto got = Read(a, id);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->first, Pattern(size, static_cast<int>(size)));
    EXPECT_EQ(got->second, "meta:" + std::to_string(size));
  }
  // Several chunks were in flight at once, never more than allowed.
  EXPECT_EQ(peers_.max_in_flight, 3);
  EXPECT_EQ(a.store.Stats().num_objects, 5u);
}

TEST_F(ObjectManagerTest, PullsAnEmptyObject) {
  Node &a = AddNode(a_, 1 << 16);
  Node &b = AddNode(b_, 1 << 16);
  ObjectID id = ObjectID::FromRandom();
  Store(b, id, "");
  auto done = StartPull(a, id, b_);
  RunUntil([&] { return done->has_value(); });
  ASSERT_TRUE(done->has_value() && (*done)->ok());
  auto got = Read(a, id);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->first.empty());
  EXPECT_EQ(peers_.chunk_calls, 0);
}

TEST_F(ObjectManagerTest, ConcurrentRequestsShareOnePull) {
  Node &a = AddNode(a_, 1 << 20);
  Node &b = AddNode(b_, 1 << 20);
  AddNode(c_, 1 << 20);
  ObjectID id = ObjectID::FromRandom();
  Store(b, id, Pattern(5500, 1));
  std::vector<std::shared_ptr<std::optional<Status>>> done;
  for (int i = 0; i < 5; i++)
    done.push_back(StartPull(a, id, i % 2 ? c_ : b_));             // joined, whatever the source
  EXPECT_EQ(a.manager->NumActive() + a.manager->NumQueued(), 0u);  // the sizes are not known yet
  RunUntil([&] { return done.back()->has_value(); });
  for (auto &d : done) {
    ASSERT_TRUE(d->has_value());
    EXPECT_TRUE((*d)->ok()) << (*d)->ToString();
  }
  EXPECT_EQ(peers_.header_calls, 1);
  EXPECT_EQ(peers_.chunk_calls, 6);
  EXPECT_EQ(Read(a, id)->first, Pattern(5500, 1));
  // Once local, a request is answered at once, with no call.
  auto again = StartPull(a, id, b_);
  ASSERT_TRUE(again->has_value() && (*again)->ok());
  EXPECT_EQ(peers_.header_calls, 1);
}

TEST_F(ObjectManagerTest, PullsQueueWhileTheStoreIsFullAndRunAsSpaceFrees) {
  constexpr size_t kCapacity = 64 * 1024;
  Node &a = AddNode(a_, kCapacity);
  Node &b = AddNode(b_, 1 << 20);
  // A local object holds most of the store.
  ObjectID filler = ObjectID::FromRandom();
  Store(a, filler, std::string(40 * 1024, 'f'));
  ASSERT_TRUE(a.store.Get(filler, kUser).ok());  // a reader pins it
  std::vector<ObjectID> ids;
  std::vector<std::shared_ptr<std::optional<Status>>> done;
  for (int i = 0; i < 3; i++) {
    ids.push_back(ObjectID::FromRandom());
    Store(b, ids.back(), Pattern(20 * 1024, i));
    done.push_back(StartPull(a, ids.back(), b_));
  }
  RunUntil([&] { return done[0]->has_value(); });
  ASSERT_TRUE(done[0]->has_value() && (*done[0])->ok());
  // The other two wait for room, in order; nothing was overcommitted.
  RunUntil([&] { return a.manager->NumQueued() == 2; });
  EXPECT_EQ(a.manager->NumQueued(), 2u);
  EXPECT_FALSE(done[1]->has_value());
  EXPECT_FALSE(done[2]->has_value());
  EXPECT_LE(a.store.Stats().used, kCapacity);
  // The reader is done with the filler and its owner frees it.
  a.store.Delete(filler);
  ASSERT_TRUE(a.store.Release(filler, kUser).ok());
  RunUntil([&] { return done[2]->has_value(); });
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(done[i]->has_value());
    EXPECT_TRUE((*done[i])->ok()) << (*done[i])->ToString();
    EXPECT_EQ(Read(a, ids[i])->first, Pattern(20 * 1024, i));
  }
}

TEST_F(ObjectManagerTest, ManyPullsIntoASmallStoreAllFinishAsReadersFreeThem) {
  // Twenty 20 KiB objects through a 64 KiB store: each is freed once it has
  // been read, as a task's argument would be; none may be lost or stuck.
  constexpr size_t kCapacity = 64 * 1024;
  Node &a = AddNode(a_, kCapacity);
  Node &b = AddNode(b_, 1 << 20);
  std::vector<ObjectID> ids;
  std::vector<std::shared_ptr<std::optional<Status>>> done;
  for (int i = 0; i < 20; i++) {
    ids.push_back(ObjectID::FromRandom());
    Store(b, ids.back(), Pattern(20 * 1024, i));
  }
  int finished = 0;
  for (int i = 0; i < 20; i++) {
    auto out = std::make_shared<std::optional<Status>>();
    done.push_back(out);
    a.manager->Pull(ids[i], b_, [&, out, i](Status st) {
      *out = st;
      if (!st.ok()) return;
      EXPECT_EQ(Read(a, ids[i])->first, Pattern(20 * 1024, i));
      a.store.Delete(ids[i]);  // read and freed
      finished++;
    });
  }
  RunUntil([&] { return finished == 20; });
  EXPECT_EQ(finished, 20);
  for (auto &d : done) EXPECT_TRUE(d->has_value() && (*d)->ok());
  EXPECT_EQ(a.store.Stats().used, 0u);
}

TEST_F(ObjectManagerTest, APullThatNeverFitsFailsWithObjectStoreFull) {
  ObjectManagerOptions o;
  o.admission_wait = 20ms;
  Node &a = AddNode(a_, 64 * 1024, o);
  Node &b = AddNode(b_, 1 << 20);
  ObjectID filler = ObjectID::FromRandom(), id = ObjectID::FromRandom();
  Store(a, filler, std::string(60 * 1024, 'f'));
  Store(b, id, Pattern(20 * 1024, 3));
  auto done = StartPull(a, id, b_);
  RunUntil([&] { return done->has_value(); });
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ((*done)->code(), StatusCode::kObjectStoreFull) << (*done)->ToString();
  // Larger than the whole store: fails at once rather than waiting.
  ObjectID huge = ObjectID::FromRandom();
  Store(b, huge, std::string(100 * 1024, 'h'));
  auto never = StartPull(a, huge, b_);
  RunUntil([&] { return never->has_value(); });
  ASSERT_TRUE(never->has_value());
  EXPECT_EQ((*never)->code(), StatusCode::kObjectStoreFull);
}

TEST_F(ObjectManagerTest, ASourceThatDiesMidPullFailsItAndAnotherCopyServes) {
  Node &a = AddNode(a_, 1 << 20);
  Node &b = AddNode(b_, 1 << 20);
  Node &c = AddNode(c_, 1 << 20);
  ObjectID id = ObjectID::FromRandom();
  Store(b, id, Pattern(9999, 5));
  Store(c, id, Pattern(9999, 5));
  peers_.die_after_chunks[b_] = 2;
  auto done = StartPull(a, id, b_);
  auto joined = StartPull(a, id, c_);
  RunUntil([&] { return done->has_value(); });
  ASSERT_TRUE(done->has_value() && joined->has_value());
  EXPECT_EQ((*done)->code(), StatusCode::kDisconnected);
  EXPECT_NE((*done)->message().find(b_.Hex()), std::string::npos) << (*done)->message();
  EXPECT_NE((*done)->message().find(id.Hex()), std::string::npos);
  EXPECT_EQ((*joined)->code(), StatusCode::kDisconnected);
  // The failure was reported once no chunk was outstanding; nothing half
  // written is left.
  EXPECT_EQ(peers_.in_flight, 0);
  RunUntil([] { return false; });
  EXPECT_FALSE(a.store.Contains(id));
  EXPECT_EQ(a.store.Stats().used, 0u);
  // The caller tries the next copy.
  auto retry = StartPull(a, id, c_);
  RunUntil([&] { return retry->has_value(); });
  ASSERT_TRUE(retry->has_value() && (*retry)->ok()) << (*retry)->ToString();
  EXPECT_EQ(Read(a, id)->first, Pattern(9999, 5));
}

// Chunks are read straight into the pull's allocation while their calls are
// outstanding, so a pull whose chunk failed asks for no more, and gives its
// space back (and tells its waiters) only once the others have ended.
TEST_F(ObjectManagerTest, AFailedPullGivesBackItsSpaceOnlyOnceItsOutstandingChunksHaveEnded) {
  Node &a = AddNode(a_, 1 << 20);
  Node &b = AddNode(b_, 1 << 20);
  ObjectID id = ObjectID::FromRandom();
  Store(b, id, Pattern(9999, 4));
  peers_.die_after_chunks[b_] = 0;  // the first chunk reply fails
  auto done = StartPull(a, id, b_);
  RunUntil([&] { return peers_.chunk_calls == 4; });  // the sizes came; four chunks asked for
  ASSERT_EQ(peers_.in_flight, 4);
  io_.restart();
  ASSERT_EQ(io_.run_one(), 1u);  // the failed reply
  EXPECT_FALSE(done->has_value());
  EXPECT_GT(a.store.Stats().used, 0u);  // three chunks may still land there
  RunUntil([&] { return done->has_value(); });
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ((*done)->code(), StatusCode::kDisconnected) << (*done)->ToString();
  EXPECT_EQ(peers_.in_flight, 0);
  EXPECT_EQ(peers_.chunk_calls, 4);  // none asked for after the failure
  EXPECT_EQ(a.store.Stats().used, 0u);
  EXPECT_FALSE(a.store.Contains(id));
}

// A served chunk's bytes stay pinned in the source's store until the reply
// drops its pin (the bytes have left); the release runs on the manager's
// thread, here the test's loop.
TEST_F(ObjectManagerTest, AServedChunkKeepsItsObjectUntilTheReplyDropsItsPin) {
  ObjectManagerOptions o;
  o.run_on_manager_thread = [this](std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); };
  Node &b = AddNode(b_, 1 << 20, o);
  ObjectID id = ObjectID::FromRandom();
  Store(b, id, Pattern(5000, 6));
  proto::PullObjectChunkRequest req;
  req.set_object_id(id.Binary());
  req.set_offset(1000);
  req.set_length(2000);
  std::shared_ptr<const void> pin;
  std::string_view bytes;
  ASSERT_TRUE(b.manager
                  ->ServeChunk(req,
                               [&](std::string header, std::string_view b, std::shared_ptr<const void> p) {
                                 EXPECT_EQ(header.size(), kChunkHeaderSize);
                                 bytes = b;
                                 pin = std::move(p);
                               })
                  .ok());
  ASSERT_TRUE(pin);
  b.store.Delete(id);  // its owner is done with it while the reply is being written
  RunUntil([] { return false; });
  EXPECT_GT(b.store.Stats().used, 0u);
  EXPECT_EQ(bytes, std::string_view(Pattern(5000, 6)).substr(1000, 2000));
  pin.reset();
  EXPECT_GT(b.store.Stats().used, 0u);  // released on the manager's thread, not here
  RunUntil([&] { return b.store.Stats().used == 0; });
  EXPECT_EQ(b.store.Stats().used, 0u);
}

TEST_F(ObjectManagerTest, ASourceWithoutTheObjectOrUnknownFailsClearly) {
  Node &a = AddNode(a_, 1 << 20);
  AddNode(b_, 1 << 20);
  ObjectID id = ObjectID::FromRandom();
  auto lacks = StartPull(a, id, b_);
  auto unknown = StartPull(a, ObjectID::FromRandom(), NodeID::FromRandom());
  RunUntil([&] { return lacks->has_value() && unknown->has_value(); });
  ASSERT_TRUE(lacks->has_value() && unknown->has_value());
  EXPECT_EQ((*lacks)->code(), StatusCode::kNotFound) << (*lacks)->ToString();
  EXPECT_NE((*lacks)->message().find("not in this node's object store"), std::string::npos);
  EXPECT_EQ((*unknown)->code(), StatusCode::kDisconnected);
}

TEST_F(ObjectManagerTest, ALyingSourceFailsThePullWithoutHarm) {
  Node &a = AddNode(a_, 1 << 20);
  Node &b = AddNode(b_, 1 << 20);
  ObjectID id = ObjectID::FromRandom();
  Store(b, id, Pattern(3000, 9));
  peers_.short_chunks[b_] = true;
  auto done = StartPull(a, id, b_);
  RunUntil([&] { return done->has_value(); });
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ((*done)->code(), StatusCode::kInvalidArgument) << (*done)->ToString();
  RunUntil([] { return false; });
  EXPECT_EQ(a.store.Stats().used, 0u);
}

TEST_F(ObjectManagerTest, MalformedChunkRequestsGetClearErrors) {
  Node &b = AddNode(b_, 1 << 20);
  ObjectID id = ObjectID::FromRandom();
  Store(b, id, Pattern(100, 1), "mm");
  auto serve = [&](std::string oid, uint64_t offset, uint64_t length) {
    proto::PullObjectChunkRequest req;
    req.set_object_id(oid);
    req.set_offset(offset);
    req.set_length(length);
    return ServeWhole(*b.manager, req);
  };
  EXPECT_EQ(serve("short", 0, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(serve(id.Binary(), 0, kMaxChunkSize + 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(serve(id.Binary(), 101, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(serve(id.Binary(), UINT64_MAX, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(serve(ObjectID::FromRandom().Binary(), 0, 1).status().code(), StatusCode::kNotFound);
  // A good one still works, and the failed ones left no pin behind.
  auto tail = serve(id.Binary(), 100, 2);
  ASSERT_TRUE(tail.ok());
  auto header = DecodeChunkHeader(*tail);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->data_size, 100u);
  EXPECT_EQ(header->meta_size, 2u);
  EXPECT_EQ(tail->substr(kChunkHeaderSize), "mm");
  b.store.Delete(id);
  EXPECT_EQ(b.store.Stats().used, 0u);
  EXPECT_EQ(DecodeChunkHeader("short").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ObjectManagerTest, AManagerGoneWithPullsInFlightIgnoresTheirReplies) {
  Node &a = AddNode(a_, 1 << 20);
  Node &b = AddNode(b_, 1 << 20);
  ObjectID id = ObjectID::FromRandom();
  Store(b, id, Pattern(8000, 2));
  bool called = false;
  a.manager->Pull(id, b_, [&](Status) { called = true; });
  io_.restart();
  io_.run_one();  // the header: chunks are now in flight
  ASSERT_GT(a.manager->NumActive(), 0u);
  a.manager.reset();
  RunUntil([] { return false; });
  EXPECT_FALSE(called);
  EXPECT_EQ(a.store.Stats().used, 0u);
}

}  // namespace
}  // namespace lumen::object_manager
