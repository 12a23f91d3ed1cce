// Objects across nodes from the core worker's side: two nodes in the test
// process (registered with an in-process control service), an owner's core
// worker on node A and a reader's on node B. The reader's Get of the owner's
// large object has node B pull it from node A; the owner learns of the copy,
// and freeing the object deletes both copies. A reader whose owner names only
// copies that are gone gets ObjectLost, not a hang.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "control/control_test_peers.h"
#include "scheduler/node_service.h"
#include "worker/core_worker.h"

namespace lumen::worker {
namespace {

using control::testing::kDeadline;
using control::testing::kToken;

class CoreWorkerFetchTest : public control::testing::ControlServiceTest {
 protected:
  void SetUp() override {
    ControlServiceTest::SetUp();
    for (int i = 0; i < 2; i++) {
      scheduler::NodeServiceOptions n;
      n.session_dir = dir_ + "/node" + std::to_string(i);
      n.token = kToken;
      n.control_address = address_;
      n.resources = {{"CPU", 1}};
      n.store_capacity = 32 << 20;
      n.prestart_workers = 0;
      nodes_[i] = std::make_unique<scheduler::NodeService>(n);
      ASSERT_TRUE(nodes_[i]->Start().ok());
      node_addresses_[i] = "unix:" + n.session_dir + "/sockets/node";
      auto conn = rpc::Connect(loop_, node_addresses_[i], kToken, nullptr);
      ASSERT_TRUE(conn.ok());
      stats_[i] = conn.value();
    }
    // Both core workers listen in node A's session folder: workers are
    // reached by a path derived from their id there (see OwnerPath).
    owner_ = MakeWorker(0);
    reader_ = MakeWorker(1);
    ASSERT_TRUE(owner_ && reader_);
  }
  void TearDown() override {
    for (auto *cw : {&reader_, &owner_})
      if (*cw) (*cw)->Shutdown();
    reader_.reset();
    owner_.reset();
    for (auto &n : nodes_) n.reset();
    ControlServiceTest::TearDown();
  }

  std::unique_ptr<CoreWorker> MakeWorker(int node) {
    CoreWorkerOptions o;
    o.is_driver = true;
    o.node_address = node_addresses_[node];
    o.session_dir = dir_ + "/node0";
    o.control_address = address_;
    o.token = kToken;
    o.ray_namespace = "ns";
    auto cw = CoreWorker::Create(o);
    EXPECT_TRUE(cw.ok()) << cw.status().ToString();
    return cw.ok() ? std::move(cw.value()) : nullptr;
  }

  uint64_t StoreObjects(int node) {
    proto::NodeStatsReply rep;
    EXPECT_TRUE(stats_[node]->CallSync(proto::NODE_STATS, proto::NodeStatsRequest(), &rep).ok());
    return rep.store_objects();
  }
  void WaitStoreObjects(int node, uint64_t n) {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    while (StoreObjects(node) != n && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    EXPECT_EQ(StoreObjects(node), n) << "node " << node;
  }

  std::unique_ptr<scheduler::NodeService> nodes_[2];
  std::string node_addresses_[2];
  rpc::ConnectionPtr stats_[2];
  std::unique_ptr<CoreWorker> owner_, reader_;
};

TEST_F(CoreWorkerFetchTest, AReaderOnAnotherNodePullsTheObjectAndFreeingItDeletesEveryCopy) {
  constexpr size_t kSize = 20u << 20;  // three chunks, the last one short
  auto id = owner_->Put(kSize,
                        [](char *dst) {
                          for (size_t i = 0; i < kSize; i++) dst[i] = static_cast<char>(i * 7 + i / 4096);
                          return true;
                        },
                        {});
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  owner_->AddLocalReference(*id);  // the owner's ObjectRef
  EXPECT_EQ(StoreObjects(0), 1u);
  EXPECT_EQ(StoreObjects(1), 0u);

  reader_->AddLocalReference(*id);  // as unpacking an ObjectRef would: borrowed
  {
    std::vector<RayObjectPtr> got;
    Status st = reader_->Get({*id}, 30000, &got);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0]->error, proto::NO_ERROR) << got[0]->ErrorMessage();
    ASSERT_GE(got[0]->size, kSize);
    bool same = true;
    for (size_t i = 0; i < kSize && same; i += 4099)
      same = got[0]->data[i] == static_cast<char>(i * 7 + i / 4096);
    EXPECT_TRUE(same);
  }
  EXPECT_EQ(StoreObjects(1), 1u);  // node B holds a copy now

  // The reader lets go, then the owner: both copies go.
  reader_->RemoveLocalReference(*id);
  owner_->RemoveLocalReference(*id);
  WaitStoreObjects(0, 0);
  WaitStoreObjects(1, 0);
}

TEST_F(CoreWorkerFetchTest, AnObjectWhoseOnlyNodeLostItIsLostForTheReader) {
  auto id = owner_->Put(1 << 20, [](char *dst) { return std::memset(dst, 'x', 1 << 20), true; }, {});
  ASSERT_TRUE(id.ok());
  owner_->AddLocalReference(*id);
  // Node A loses its copy behind the owner's back (as when a node dies).
  proto::ObjectIdList del;
  del.add_object_ids(id->Binary());
  stats_[0]->Notify(proto::DELETE_OBJECTS, del);
  WaitStoreObjects(0, 0);
  reader_->AddLocalReference(*id);
  std::vector<RayObjectPtr> got;
  Status st = reader_->Get({*id}, 30000, &got);
  EXPECT_EQ(st.code(), StatusCode::kObjectLost) << st.ToString();
  EXPECT_NE(st.message().find(id->Hex()), std::string::npos) << st.ToString();
  reader_->RemoveLocalReference(*id);
}

}  // namespace
}  // namespace lumen::worker
