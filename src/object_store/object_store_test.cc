#include "object_store/object_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

namespace lumen::object_store {
namespace {

using namespace std::chrono_literals;

class ObjectStoreTest : public ::testing::Test {
 protected:
  static constexpr size_t kCapacity = 64 * 1024;
  boost::asio::io_context io_;
  ObjectStore store_{io_, kCapacity};

  // Calls Create and returns the result if the callback ran synchronously.
  std::optional<StatusOr<ObjectInfo>> CreateNow(const ObjectID &id, size_t data, size_t meta, ClientId c,
                                                std::chrono::milliseconds wait = 0ms) {
    std::optional<StatusOr<ObjectInfo>> out;
    store_.Create(id, data, meta, c, wait, [&](StatusOr<ObjectInfo> r) { out.emplace(std::move(r)); });
    return out;
  }
  ObjectInfo MustCreate(const ObjectID &id, size_t data, size_t meta, ClientId c) {
    auto r = CreateNow(id, data, meta, c);
    EXPECT_TRUE(r.has_value());
    EXPECT_TRUE(r->ok()) << r->status().ToString();
    return r->value();
  }
};

TEST_F(ObjectStoreTest, Lifecycle) {
  auto id = ObjectID::FromRandom();
  auto info = MustCreate(id, 1000, 24, 1);
  EXPECT_EQ(info.data_size, 1000u);
  EXPECT_EQ(info.meta_size, 24u);
  EXPECT_EQ(info.offset % 64, 0u);
  EXPECT_FALSE(store_.Contains(id));
  // Unsealed: not visible.
  EXPECT_EQ(store_.Get(id, 2).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_.Seal(id, 1).ok());
  EXPECT_FALSE(store_.Seal(id, 1).ok());
  EXPECT_TRUE(store_.Contains(id));
  auto g = store_.Get(id, 2);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->offset, info.offset);
  EXPECT_EQ(g->data_size, 1000u);
  EXPECT_TRUE(store_.Release(id, 2).ok());
  EXPECT_EQ(store_.Release(id, 2).code(), StatusCode::kNotFound);  // no pin left
  EXPECT_EQ(store_.Stats().num_objects, 1u);
  EXPECT_EQ(store_.Stats().used, 1024u);
  store_.Delete(id);
  EXPECT_FALSE(store_.Contains(id));
  EXPECT_EQ(store_.Stats().num_objects, 0u);
  EXPECT_EQ(store_.Stats().used, 0u);
  store_.Delete(id);  // idempotent
}

TEST_F(ObjectStoreTest, ListReportsEachObjectsSizeStatePinsAndCreator) {
  auto sealed = ObjectID::FromRandom(), open = ObjectID::FromRandom();
  MustCreate(sealed, 1000, 24, 1);
  ASSERT_TRUE(store_.Seal(sealed, 1).ok());
  ASSERT_TRUE(store_.Get(sealed, 2).ok());
  MustCreate(open, 10, 0, 3);
  auto all = store_.List(100);
  ASSERT_EQ(all.size(), 2u);
  std::sort(all.begin(), all.end(), [&](auto &a, auto &b) { return a.id == sealed && !(b.id == sealed); });
  EXPECT_EQ(all[0].id, sealed);
  EXPECT_EQ(all[0].size, 1024u);
  EXPECT_TRUE(all[0].sealed);
  EXPECT_EQ(all[0].pins, 1u);
  EXPECT_EQ(all[0].creator, 1u);
  EXPECT_EQ(all[1].id, open);
  EXPECT_FALSE(all[1].sealed);
  EXPECT_EQ(all[1].creator, 3u);
  store_.Delete(sealed);  // pinned: stays, marked deleted
  for (auto &o : store_.List(100))
    if (o.id == sealed) EXPECT_TRUE(o.deleted);
  EXPECT_EQ(store_.List(1).size(), 1u);
}

TEST_F(ObjectStoreTest, UnknownAndDuplicate) {
  auto id = ObjectID::FromRandom();
  EXPECT_EQ(store_.Get(id, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.Seal(id, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.Release(id, 1).code(), StatusCode::kNotFound);
  MustCreate(id, 10, 0, 1);
  auto dup = CreateNow(id, 10, 0, 2);
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->status().code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(store_.Seal(id, 1).ok());
  dup = CreateNow(id, 10, 0, 1);
  EXPECT_EQ(dup->status().code(), StatusCode::kAlreadyExists);
}

TEST_F(ObjectStoreTest, SealAndAbortOnlyByCreator) {
  auto id = ObjectID::FromRandom();
  MustCreate(id, 10, 0, 1);
  EXPECT_FALSE(store_.Seal(id, 2).ok());
  EXPECT_FALSE(store_.Abort(id, 2).ok());
  EXPECT_TRUE(store_.Abort(id, 1).ok());
  EXPECT_EQ(store_.Stats().used, 0u);
  EXPECT_EQ(store_.Stats().num_objects, 0u);
  // Sealed objects cannot be aborted.
  MustCreate(id, 10, 0, 1);
  ASSERT_TRUE(store_.Seal(id, 1).ok());
  EXPECT_FALSE(store_.Abort(id, 1).ok());
}

TEST_F(ObjectStoreTest, FullStoreWaitsThenSucceedsOnDelete) {
  auto a = ObjectID::FromRandom();
  auto b = ObjectID::FromRandom();
  MustCreate(a, kCapacity - 64, 64, 1);
  ASSERT_TRUE(store_.Seal(a, 1).ok());
  std::optional<StatusOr<ObjectInfo>> got;
  int calls = 0;
  store_.Create(b, 4096, 0, 2, 5s, [&](StatusOr<ObjectInfo> r) {
    ++calls;
    got.emplace(std::move(r));
  });
  EXPECT_FALSE(got.has_value());
  EXPECT_EQ(store_.Stats().num_pending_creates, 1u);
  store_.Delete(a);
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->ok()) << got->status().ToString();
  EXPECT_EQ(store_.Stats().num_pending_creates, 0u);
  // The cancelled timer must not fire anything later: with nothing else
  // queued, run() returns only once no timer is left, so a live one would
  // fire here.
  io_.restart();
  io_.run();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(store_.Seal(b, 2).ok());
}

TEST_F(ObjectStoreTest, PendingCreatesAreFifo) {
  auto a = ObjectID::FromRandom();
  MustCreate(a, kCapacity, 0, 1);
  std::vector<int> order;
  auto big = ObjectID::FromRandom(), small = ObjectID::FromRandom();
  store_.Create(big, kCapacity / 2, 0, 2, 5s, [&](StatusOr<ObjectInfo> r) {
    ASSERT_TRUE(r.ok());
    order.push_back(1);
  });
  store_.Create(small, 64, 0, 3, 5s, [&](StatusOr<ObjectInfo> r) {
    ASSERT_TRUE(r.ok());
    order.push_back(2);
  });
  EXPECT_EQ(store_.Stats().num_pending_creates, 2u);
  ASSERT_TRUE(store_.Abort(a, 1).ok());
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST_F(ObjectStoreTest, FullStoreTimesOut) {
  auto a = ObjectID::FromRandom();
  MustCreate(a, kCapacity, 0, 1);
  ASSERT_TRUE(store_.Seal(a, 1).ok());
  std::optional<StatusOr<ObjectInfo>> got;
  auto start = std::chrono::steady_clock::now();
  store_.Create(ObjectID::FromRandom(), 1000, 0, 2, 50ms,
                [&](StatusOr<ObjectInfo> r) { got.emplace(std::move(r)); });
  EXPECT_FALSE(got.has_value());
  while (!got && std::chrono::steady_clock::now() - start < 60s) io_.run_one_for(100ms);
  ASSERT_TRUE(got.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_EQ(got->status().code(), StatusCode::kObjectStoreFull);
  const std::string msg = got->status().message();
  EXPECT_NE(msg.find("requested 1000 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("capacity " + std::to_string(kCapacity)), std::string::npos) << msg;
  EXPECT_NE(msg.find("used " + std::to_string(kCapacity)), std::string::npos) << msg;
  EXPECT_EQ(store_.Stats().num_pending_creates, 0u);
  // Zero wait fails at once when full.
  auto r = CreateNow(ObjectID::FromRandom(), 10, 0, 2, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status().code(), StatusCode::kObjectStoreFull);
}

TEST_F(ObjectStoreTest, OversizeFailsAtOnce) {
  auto r = CreateNow(ObjectID::FromRandom(), kCapacity, 1, 1, 10s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), StatusCode::kObjectStoreFull);
  EXPECT_NE(r->status().message().find("larger than the whole store"), std::string::npos);
  r = CreateNow(ObjectID::FromRandom(), ~size_t{0}, 10, 1, 10s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), StatusCode::kObjectStoreFull);
  EXPECT_EQ(store_.Stats().num_pending_creates, 0u);
}

TEST_F(ObjectStoreTest, DeleteWhilePinnedDefersFree) {
  auto id = ObjectID::FromRandom();
  MustCreate(id, kCapacity, 0, 1);
  ASSERT_TRUE(store_.Seal(id, 1).ok());
  ASSERT_TRUE(store_.Get(id, 2).ok());
  ASSERT_TRUE(store_.Get(id, 2).ok());
  ASSERT_TRUE(store_.Get(id, 3).ok());
  std::optional<StatusOr<ObjectInfo>> got;
  store_.Create(ObjectID::FromRandom(), 100, 0, 4, 5s,
                [&](StatusOr<ObjectInfo> r) { got.emplace(std::move(r)); });
  store_.Delete(id);
  EXPECT_FALSE(store_.Contains(id));
  EXPECT_EQ(store_.Get(id, 5).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.Stats().used, kCapacity);
  ASSERT_TRUE(store_.Release(id, 2).ok());
  ASSERT_TRUE(store_.Release(id, 3).ok());
  EXPECT_EQ(store_.Stats().used, kCapacity);
  EXPECT_FALSE(got.has_value());
  ASSERT_TRUE(store_.Release(id, 2).ok());  // last pin
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->ok());
  EXPECT_EQ(store_.Stats().num_objects, 1u);
  EXPECT_EQ(store_.Stats().used, 128u);
}

TEST_F(ObjectStoreTest, DeleteBeforeSealFreesOnSeal) {
  auto id = ObjectID::FromRandom();
  MustCreate(id, 100, 0, 1);
  store_.Delete(id);
  EXPECT_EQ(store_.Stats().num_objects, 1u);
  ASSERT_TRUE(store_.Seal(id, 1).ok());
  EXPECT_EQ(store_.Stats().num_objects, 0u);
  EXPECT_EQ(store_.Stats().used, 0u);
}

TEST_F(ObjectStoreTest, DisconnectClientReleasesPinsAndAborts) {
  auto sealed = ObjectID::FromRandom();
  auto unsealed = ObjectID::FromRandom();
  auto other = ObjectID::FromRandom();
  MustCreate(sealed, kCapacity / 2, 0, 1);
  ASSERT_TRUE(store_.Seal(sealed, 1).ok());
  ASSERT_TRUE(store_.Get(sealed, 7).ok());
  ASSERT_TRUE(store_.Get(sealed, 7).ok());
  ASSERT_TRUE(store_.Get(sealed, 8).ok());
  store_.Delete(sealed);
  MustCreate(unsealed, kCapacity / 4, 0, 7);
  MustCreate(other, kCapacity / 4, 0, 8);  // someone else's, untouched
  std::optional<StatusOr<ObjectInfo>> mine, theirs;
  store_.Create(ObjectID::FromRandom(), kCapacity / 4, 0, 7, 5s,
                [&](StatusOr<ObjectInfo> r) { mine.emplace(std::move(r)); });
  store_.Create(ObjectID::FromRandom(), kCapacity / 4, 0, 9, 5s,
                [&](StatusOr<ObjectInfo> r) { theirs.emplace(std::move(r)); });
  EXPECT_EQ(store_.Stats().num_pending_creates, 2u);

  store_.DisconnectClient(7);
  // 7's unsealed object is aborted; its queued create is cancelled; its pins
  // are gone but 8 still pins the deleted object; 9's create got 7's space.
  ASSERT_TRUE(mine.has_value());
  EXPECT_EQ(mine->status().code(), StatusCode::kCancelled);
  ASSERT_TRUE(theirs.has_value());
  EXPECT_TRUE(theirs->ok());
  EXPECT_EQ(store_.Get(unsealed, 7).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.Stats().num_objects, 3u);  // sealed (pinned by 8), other, 9's
  store_.DisconnectClient(8);
  // 8's pin dropped (sealed freed), and its unsealed `other` aborted.
  EXPECT_EQ(store_.Stats().num_objects, 1u);
  EXPECT_EQ(store_.Stats().used, kCapacity / 4);
}

TEST_F(ObjectStoreTest, DataThenMetadataLayout) {
  auto id = ObjectID::FromRandom();
  auto info = MustCreate(id, 100, 28, 1);
  auto id2 = ObjectID::FromRandom();
  auto info2 = MustCreate(id2, 10, 0, 1);
  // Metadata sits right after the data; the next object starts after both.
  EXPECT_GE(info2.offset, info.offset + info.data_size + info.meta_size);
}

TEST_F(ObjectStoreTest, DestroyWithPendingCreateIsSafe) {
  boost::asio::io_context io;
  bool called = false;
  {
    ObjectStore s(io, 1024);
    s.Create(ObjectID::FromRandom(), 1024, 0, 1, 0ms, [](StatusOr<ObjectInfo>) {});
    s.Create(ObjectID::FromRandom(), 10, 0, 1, 20ms, [&](StatusOr<ObjectInfo>) { called = true; });
  }
  io.run();  // returns once no timer is left: a live one fires first
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace lumen::object_store
