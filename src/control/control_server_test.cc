// The control service object on its own: its lifetime while clients are
// connected and calling (the service processes never destroy it, so this is
// the only place its destructor runs).
#include "control/control_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/id.h"
#include "protocol/control.pb.h"
#include "protocol/node.pb.h"
#include "rpc/rpc.h"

namespace lumen::control {
namespace {

const std::string kToken = "control-test-token";

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lumen-control-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  ControlServerOptions Options() const {
    ControlServerOptions o;
    o.unix_path = dir_ + "/control.sock";
    o.token = kToken;
    return o;
  }
  std::string dir_;
};

// Destroyed with a node, a driver and a busy client connected: their close
// handlers run against a server that is going away (run under ASan/TSan to
// see the difference), and every client sees its connection end.
TEST_F(ControlServerTest, DestroyedWhileClientsAreConnectedAndCalling) {
  auto server = std::make_unique<ControlServer>(Options());
  ASSERT_TRUE(server->Start().ok());
  rpc::EventLoop loop("control-test-client");
  const std::string addr = "unix:" + Options().unix_path;

  auto node = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  proto::NodeInfo info;
  info.set_node_id(NodeID::FromRandom().Binary());
  info.set_raylet_address("unix:" + dir_ + "/node.sock");
  proto::RegisterNodeReply node_reply;
  ASSERT_TRUE(node.value()->CallSync(proto::REGISTER_NODE, info, &node_reply).ok());

  auto driver = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(driver.ok());
  proto::RegisterJobRequest job;
  job.set_ray_namespace("ns");
  job.set_driver_pid(getpid());
  proto::RegisterJobReply job_reply;
  ASSERT_TRUE(driver.value()->CallSync(proto::REGISTER_JOB, job, &job_reply).ok());
  EXPECT_GT(job_reply.job_id(), 0u);

  auto busy = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(busy.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::thread caller([&] {
    proto::KvPutRequest put;
    put.set_ns("ns");
    put.set_value("v");
    put.set_overwrite(true);
    for (int i = 0; !stop; ++i) {
      put.set_key("k" + std::to_string(i % 100));
      proto::KvPutReply reply;
      if (!busy.value()->CallSync(proto::KV_PUT, put, &reply).ok()) break;  // the server went away
      ++answered;
    }
  });
  while (answered < 50) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  server.reset();

  stop = true;
  caller.join();
  // Every client finds its connection gone: a call now fails, it does not hang.
  proto::KvPutRequest put;
  put.set_ns("ns");
  put.set_key("after");
  proto::KvPutReply reply;
  EXPECT_FALSE(node.value()->CallSync(proto::KV_PUT, put, &reply).ok());
  EXPECT_FALSE(driver.value()->CallSync(proto::KV_PUT, put, &reply).ok());
  EXPECT_FALSE(busy.value()->CallSync(proto::KV_PUT, put, &reply).ok());
}

// A node that dies before answering a reservation does not leave the group
// pending for ever: it is placed on the other live node.
TEST_F(ControlServerTest, AReservationLostWithItsNodeIsPlacedOnAnotherNode) {
  ControlServer server(Options());
  ASSERT_TRUE(server.Start().ok());
  rpc::EventLoop loop("control-test-client");
  const std::string addr = "unix:" + Options().unix_path;

  // Two fake nodes: whichever is asked first dies without answering.
  std::atomic<int> asked{0};
  rpc::Dispatcher node_dispatcher;
  node_dispatcher.Register(proto::RESERVE_BUNDLES,
                           [&asked](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                             if (asked.fetch_add(1) == 0) {
                               conn->Close();
                             } else {
                               conn->Reply(call_id, proto::Empty());
                             }
                           });
  std::vector<rpc::ConnectionPtr> nodes;
  for (int i = 0; i < 2; ++i) {
    auto node = rpc::Connect(loop, addr, kToken, &node_dispatcher);
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    proto::NodeInfo info;
    info.set_node_id(NodeID::FromRandom().Binary());
    info.set_raylet_address("unix:" + dir_ + "/node" + std::to_string(i) + ".sock");
    (*info.mutable_total()->mutable_amounts())["CPU"] = 4;
    proto::RegisterNodeReply reply;
    ASSERT_TRUE(node.value()->CallSync(proto::REGISTER_NODE, info, &reply).ok());
    nodes.push_back(node.value());
  }

  auto driver = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(driver.ok());
  proto::CreatePlacementGroupRequest create;
  create.mutable_info()->set_group_id("group-1");
  (*create.mutable_info()->add_bundles()->mutable_amounts())["CPU"] = 1;
  proto::Empty created;
  ASSERT_TRUE(driver.value()->CallSync(proto::CREATE_PLACEMENT_GROUP, create, &created).ok());
  proto::WaitPlacementGroupRequest wait;
  wait.set_group_id("group-1");
  wait.set_timeout_ms(60000);  // only a group left pending reaches it
  proto::WaitPlacementGroupReply ready;
  ASSERT_TRUE(
      driver.value()->CallSync(proto::WAIT_PLACEMENT_GROUP, wait, &ready, std::chrono::seconds(90)).ok());
  EXPECT_TRUE(ready.ready());
  EXPECT_EQ(asked.load(), 2);
  for (auto &n : nodes) n->Close();
  driver.value()->Close();
}

}  // namespace
}  // namespace lumen::control
