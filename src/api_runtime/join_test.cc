// JoinCluster: a driver joining a running cluster takes this machine's
// longest-running alive node that answers (the head's, or the first started:
// not whichever the node table lists first), passing over one the control
// service still lists alive though it is gone (it died a moment ago and its
// death is not seen yet), and says so when none answers.
#include "api_runtime/runtime_join.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/settings.h"
#include "control/control_test_peers.h"

namespace lumen::api {
namespace {

class JoinClusterTest : public control::testing::ControlServiceTest {
 protected:
  void SetUp() override {
    ControlServiceTest::SetUp();
    setenv("LUMEN_CLUSTER_TOKEN", control::testing::kToken.c_str(), 1);
    ReloadSettings();
  }
  void TearDown() override {
    for (auto &c : registered_) c->Close();
    unsetenv("LUMEN_CLUSTER_TOKEN");
    ReloadSettings();
    ControlServiceTest::TearDown();
  }

  // A node registered with the control service (alive while its connection
  // is open) whose node service is at `raylet`.
  void Register(const std::string &ip, const std::string &raylet, const std::string &session) {
    auto conn = rpc::Connect(loop_, address_, control::testing::kToken, nullptr);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    proto::NodeInfo info;
    info.set_node_id(NodeID::FromRandom().Binary());
    info.set_node_ip(ip);
    info.set_raylet_address(raylet);
    info.set_session_dir(session);
    proto::RegisterNodeReply rep;
    ASSERT_TRUE(conn.value()->CallSync(proto::REGISTER_NODE, info, &rep).ok());
    registered_.push_back(conn.value());
  }

  std::vector<rpc::ConnectionPtr> registered_;
};

TEST_F(JoinClusterTest, ANodeThatDoesNotAnswerIsPassedOverForTheNextOfThisMachine) {
  rpc::Dispatcher dispatcher;
  rpc::Server live(loop_, control::testing::kToken, &dispatcher);
  const std::string socket = dir_ + "/live-node.sock";
  ASSERT_TRUE(live.ListenUnix(socket).ok());
  Register("127.0.0.1", "unix:" + dir_ + "/gone-node.sock", dir_ + "/gone");  // listed first, gone
  Register("127.0.0.1", "unix:" + socket, dir_ + "/live");
  auto joined = JoinCluster(address_);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  EXPECT_EQ(joined->node_socket, socket);
  EXPECT_EQ(joined->session_dir, dir_ + "/live");
  EXPECT_EQ(joined->token, control::testing::kToken);
  live.Stop();
}

TEST_F(JoinClusterTest, OfSeveralNodesOfThisMachineTheLongestRunningIsTaken) {
  rpc::Dispatcher dispatcher;
  std::vector<std::unique_ptr<rpc::Server>> servers;
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  for (int i = 0; i < 4; ++i) {
    servers.push_back(std::make_unique<rpc::Server>(loop_, control::testing::kToken, &dispatcher));
    const std::string socket = dir_ + "/node-" + std::to_string(i) + ".sock";
    ASSERT_TRUE(servers.back()->ListenUnix(socket).ok());
    // Registered in turn, each in a later millisecond (the table's unit) than
    // the last: the clock is read once the registration is answered, so the
    // control service stamped it at or before that reading, and the next one
    // waits for the clock to pass it. The table lists them by their random ids.
    Register("127.0.0.1", "unix:" + socket, dir_ + "/node-" + std::to_string(i));
    const auto registered = now_ms();
    while (now_ms() == registered) {
    }
  }
  auto joined = JoinCluster(address_);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  EXPECT_EQ(joined->session_dir, dir_ + "/node-0");
  for (auto &s : servers) s->Stop();
}

TEST_F(JoinClusterTest, NoNodeThatAnswersIsAClearError) {
  Register("127.0.0.1", "unix:" + dir_ + "/gone-node.sock", dir_ + "/gone");
  auto joined = JoinCluster(address_);
  ASSERT_FALSE(joined.ok());
  EXPECT_NE(joined.status().message().find("has no live node on this machine"), std::string::npos)
      << joined.status().ToString();
}

TEST_F(JoinClusterTest, AClusterWithNoNodeOnThisMachineSaysHowTheDriversNodeJoins) {
  Register("10.213.255.7", "tcp:10.213.255.7:1", dir_ + "/elsewhere");  // not an address of this machine
  auto joined = JoinCluster(address_);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  EXPECT_TRUE(joined->node_socket.empty());
  EXPECT_EQ(joined->control_address, address_);
  EXPECT_EQ(joined->local_ip, "127.0.0.1");  // a Unix control address: this machine
  EXPECT_EQ(joined->token, control::testing::kToken);
}

TEST_F(JoinClusterTest, AClusterWithNoLiveNodeIsAClearError) {
  auto joined = JoinCluster(address_);
  ASSERT_FALSE(joined.ok());
  EXPECT_NE(joined.status().message().find("has no live node"), std::string::npos)
      << joined.status().ToString();
}

TEST(LocalAddressTowardTest, IsTheAddressTheRouteLeavesFrom) {
  auto loopback = LocalAddressToward("127.0.0.1");
  ASSERT_TRUE(loopback.ok()) << loopback.status().ToString();
  EXPECT_EQ(*loopback, "127.0.0.1");
  auto named = LocalAddressToward("localhost");
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_TRUE(IsLocalAddress(*named)) << *named;
  EXPECT_FALSE(LocalAddressToward("no-such-host.invalid").ok());
}

}  // namespace
}  // namespace lumen::api
