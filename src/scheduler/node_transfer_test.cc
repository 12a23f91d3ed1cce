// Objects across nodes through the node services' real RPC: two nodes in the
// test process, registered with an in-process control service, each with a
// client that maps its node's arena as a driver does. An object made on node
// B is pulled to node A (PULL_OBJECT, chunk reads from B found through the
// control service's node table), read there, and B's copy is deleted through
// A (DELETE_OBJECT_COPIES). Bad requests get errors, never a crash.
#include <gtest/gtest.h>

#include <thread>

#include "base/timeouts.h"
#include "control/control_test_peers.h"
#include "object_manager/object_manager.h"
#include "scheduler/node_service.h"

namespace lumen::scheduler {
namespace {

using control::testing::kDeadline;
using control::testing::kToken;

// A client of one node: its connection and its mapping of the node's arena.
struct NodeClient {
  rpc::ConnectionPtr conn;
  std::unique_ptr<object_store::Arena> arena;
};

class NodeTransferTest : public control::testing::ControlServiceTest {
 protected:
  void SetUp() override {
    ControlServiceTest::SetUp();
    for (int i = 0; i < 2; i++) {
      NodeServiceOptions o;
      o.session_dir = dir_ + "/node" + std::to_string(i);
      o.token = kToken;
      o.control_address = address_;
      o.resources = {{"CPU", 1}};
      o.store_capacity = 64u << 20;
      o.prestart_workers = 0;
      o.clock = &clock_;
      nodes_[i] = std::make_unique<NodeService>(o);
      ASSERT_TRUE(nodes_[i]->Start().ok());
      clients_[i] = Connect("unix:" + o.session_dir + "/sockets/node");
      ASSERT_TRUE(clients_[i].arena);
    }
  }
  void TearDown() override {
    for (auto &n : nodes_) n.reset();
    ControlServiceTest::TearDown();
  }

  NodeClient Connect(const std::string &address) {
    NodeClient c;
    auto conn = rpc::Connect(loop_, address, kToken, nullptr);
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return c;
    c.conn = conn.value();
    proto::RegisterClientRequest req;
    req.set_kind(proto::TOOL);
    proto::RegisterClientReply rep;
    EXPECT_TRUE(c.conn->CallSync(proto::REGISTER_CLIENT, req, &rep).ok());
    auto arena = object_store::AttachToNodeArena(rep.arena_socket(), kToken, false);
    EXPECT_TRUE(arena.ok()) << arena.status().ToString();
    if (arena.ok()) c.arena = std::move(arena).value();
    return c;
  }

  static std::string Pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 2654435761u) >> 13);
    return s;
  }

  /// Creates, writes and seals `data` as object `id` through client `c`.
  static void Put(NodeClient &c, const ObjectID &id, const std::string &data) {
    proto::CreateObjectRequest req;
    req.set_object_id(id.Binary());
    req.set_data_size(data.size());
    proto::CreateObjectReply rep;
    ASSERT_TRUE(c.conn->CallSync(proto::CREATE_OBJECT, req, &rep).ok());
    std::memcpy(c.arena->base() + rep.offset(), data.data(), data.size());
    proto::SealObjectRequest seal;
    seal.set_object_id(id.Binary());
    proto::SealObjectReply seal_rep;
    ASSERT_TRUE(c.conn->CallSync(proto::SEAL_OBJECT, seal, &seal_rep).ok());
  }

  /// The object's bytes in client `c`'s node, or nullopt if not there.
  static std::optional<std::string> Read(NodeClient &c, const ObjectID &id) {
    proto::GetObjectsRequest req;
    req.add_object_ids(id.Binary());
    proto::GetObjectsReply rep;
    EXPECT_TRUE(c.conn->CallSync(proto::GET_OBJECTS, req, &rep).ok());
    if (rep.objects_size() != 1 || !rep.objects(0).found()) return std::nullopt;
    std::string out(reinterpret_cast<const char *>(c.arena->base() + rep.objects(0).offset()),
                    rep.objects(0).data_size());
    proto::ObjectIdList release;
    release.add_object_ids(id.Binary());
    c.conn->Notify(proto::RELEASE_OBJECTS, release);
    return out;
  }

  static Status Pull(NodeClient &c, const std::string &id, const std::string &source) {
    proto::PullObjectRequest req;
    req.set_object_id(id);
    req.set_source_node_id(source);
    proto::NodeEmpty rep;
    return c.conn->CallSync(proto::PULL_OBJECT, req, &rep);
  }

  std::unique_ptr<NodeService> nodes_[2];
  NodeClient clients_[2];
  FakeClock clock_;
};

TEST_F(NodeTransferTest, AnObjectMadeOnOneNodeIsPulledToAnotherAndItsCopyDeleted) {
  NodeClient &a = clients_[0], &b = clients_[1];
  ObjectID id = ObjectID::FromRandom();
  // Three chunks, the last a short one.
  const std::string data = Pattern(2 * object_manager::ObjectManagerOptions().chunk_size + 12345);
  Put(b, id, data);
  EXPECT_FALSE(Read(a, id).has_value());
  Status st = Pull(a, id.Binary(), nodes_[1]->node_id().Binary());
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto got = Read(a, id);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(*got == data);
  // Already local: answered without a transfer, also when named as its own source.
  EXPECT_TRUE(Pull(a, id.Binary(), nodes_[1]->node_id().Binary()).ok());
  EXPECT_TRUE(Pull(a, id.Binary(), nodes_[0]->node_id().Binary()).ok());

  // The owner frees it: A's copy through A, B's through A too.
  proto::ObjectIdList del;
  del.add_object_ids(id.Binary());
  a.conn->Notify(proto::DELETE_OBJECTS, del);
  proto::ObjectCopies copies;
  copies.set_node_id(nodes_[1]->node_id().Binary());
  copies.add_object_ids(id.Binary());
  a.conn->Notify(proto::DELETE_OBJECT_COPIES, copies);
  auto until = std::chrono::steady_clock::now() + kDeadline;
  while (Read(b, id).has_value() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  EXPECT_FALSE(Read(b, id).has_value()) << "node B kept its copy";
  EXPECT_FALSE(Read(a, id).has_value());
}

TEST_F(NodeTransferTest, PullsThatCannotSucceedFailWithClearErrors) {
  NodeClient &a = clients_[0];
  const std::string b_id = nodes_[1]->node_id().Binary();
  ObjectID id = ObjectID::FromRandom();
  Status lacks = Pull(a, id.Binary(), b_id);
  EXPECT_EQ(lacks.code(), StatusCode::kNotFound) << lacks.ToString();
  EXPECT_NE(lacks.message().find(nodes_[1]->node_id().Hex()), std::string::npos) << lacks.ToString();
  Status unknown = Pull(a, id.Binary(), NodeID::FromRandom().Binary());
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();
  EXPECT_NE(unknown.message().find("node table"), std::string::npos) << unknown.ToString();
  EXPECT_EQ(Pull(a, "short", b_id).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Pull(a, id.Binary(), "short").code(), StatusCode::kInvalidArgument);
  // Chunk reads straight from a client: out of range, oversized, garbage.
  ObjectID small = ObjectID::FromRandom();
  Put(clients_[1], small, "abc");
  proto::PullObjectChunkRequest chunk;
  chunk.set_object_id(small.Binary());
  chunk.set_offset(2);
  chunk.set_length(5);
  auto out = clients_[1].conn->CallSync(proto::PULL_OBJECT_CHUNK, chunk);
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << out.status().ToString();
  chunk.set_offset(0);
  chunk.set_length(3);
  out = clients_[1].conn->CallSync(proto::PULL_OBJECT_CHUNK, chunk);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->substr(object_manager::kChunkHeaderSize), "abc");
  auto garbage =
      clients_[1].conn->CallSync(proto::PULL_OBJECT_CHUNK, proto::NodeEmpty());  // parses: all defaults
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);
  std::string junk = "\xff\xff\xff";
  Status parse;
  std::atomic<bool> done{false};
  clients_[1].conn->CallRaw(proto::PULL_OBJECT_CHUNK, junk, [&](Status st, std::string_view) {
    parse = st;
    done = true;
  });
  auto until = std::chrono::steady_clock::now() + kDeadline;
  while (!done && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  EXPECT_EQ(parse.code(), StatusCode::kInvalidArgument) << parse.ToString();
  // The node still serves.
  EXPECT_TRUE(Pull(a, small.Binary(), b_id).ok());
  EXPECT_EQ(Read(a, small), std::optional<std::string>("abc"));
}

TEST_F(NodeTransferTest, APullFromANodeThatStoppedFails) {
  ObjectID id = ObjectID::FromRandom();
  Put(clients_[1], id, Pattern(1000));
  const std::string b_id = nodes_[1]->node_id().Binary();
  clients_[1] = {};
  nodes_[1].reset();
  Status st = Pull(clients_[0], id.Binary(), b_id);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(NodeID::FromBinary(b_id).Hex()), std::string::npos) << st.ToString();
  EXPECT_FALSE(Read(clients_[0], id).has_value());
}

}  // namespace
}  // namespace lumen::scheduler
