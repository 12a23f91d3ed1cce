// A cluster whose nodes each have their own network namespace and IP address
// (netns_util.h), as on three machines: the head in the first namespace
// (`lumen start --head --node-ip-address=<its IP>`), two nodes joining it
// from the others, and a driver in the head's namespace. Every exchange
// between processes of different nodes then goes over TCP to the other
// node's address: tasks pinned to each node by a custom resource (spillback
// to another node, a worker leased there), an actor on another node, that
// actor reading objects the driver owns and the driver reading one the actor
// owns, and a large object made on one node read by a task on a third.
// (The namespaces share the file system, so another node's Unix socket
// would still be reachable: that no process routes to one is the unit
// tests' part, worker/peer_directory_test.cc; cutting a link off is the
// way to prove it end to end.)
//
// Without root or `ip netns`, it skips, saying why.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <string>
#include <vector>

#include "lumen_cli_test_util.h"
#include "netns_util.h"

namespace {
using lumen::testing::NetnsCluster;
using lumen::testing::Result;

class NetnsTest : public lumen::testing::CliClusterTest {
 protected:
  NetnsTest() : CliClusterTest("lns") {}

  void TearDown() override {
    // The services first (their records are on the shared file system),
    // then the namespaces they ran in.
    CliClusterTest::TearDown();
    cluster_.reset();
  }

  // Runs `argv` inside namespace `i`.
  Result RunIn(int i, const std::vector<std::string> &argv) {
    auto [program, args] = cluster_->In(i, argv);
    return Run(program, args);
  }

  std::unique_ptr<NetnsCluster> cluster_;
};

std::string Field(const std::string &out, const std::string &key) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("(^|\\n)" + key + " ([^\\n]+)"))) return "";
  return m[2].str();
}

TEST_F(NetnsTest, WorkObjectsAndCallbacksCrossNodesOverTcp) {
  if (std::string why = NetnsCluster::Unavailable(); !why.empty()) GTEST_SKIP() << why;
  cluster_ = std::make_unique<NetnsCluster>(3);
  if (!cluster_->ok()) GTEST_SKIP() << "cannot make network namespaces here: " << cluster_->error();

  constexpr uint64_t kBytes = 48ull << 20;  // in the store, pulled in several chunks
  const char *names[] = {"a", "b", "c"};
  Result head = RunIn(
      0, {LUMEN_CLI, "start", "--head", "--port=0", "--num-cpus=2", "--node-ip-address=" + cluster_->ip(0),
          "--resources={\"netns_a\": 1}", "--object-store-memory=300000000", "--temp-dir=" + root_ + "/a"});
  ASSERT_EQ(head.rc, 0) << head.out << head.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(head.out, m, std::regex("Cluster address: (\\S+)"))) << head.out;
  const std::string address = m[1].str();
  ASSERT_EQ(address.rfind(cluster_->ip(0) + ":", 0), 0u) << address;
  for (int i = 1; i < 3; ++i) {
    Result joined = RunIn(i, {LUMEN_CLI, "start", "--address=" + address, "--num-cpus=2",
                              "--node-ip-address=" + cluster_->ip(i),
                              std::string("--resources={\"netns_") + names[i] + "\": 1}",
                              "--object-store-memory=300000000", "--temp-dir=" + root_ + "/" + names[i]});
    ASSERT_EQ(joined.rc, 0) << joined.out << joined.err;
  }

  Result r = RunIn(0, {LUMEN_NETNS_DRIVER, address, std::to_string(kBytes)});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  std::map<std::string, std::string> node_of;  // resource -> node id
  for (const char *n : names) {
    const std::string resource = std::string("netns_") + n;
    node_of[resource] = Field(r.out, "NODE " + resource);
    ASSERT_FALSE(node_of[resource].empty()) << r.out;
    EXPECT_EQ(Field(r.out, "RAN " + resource), node_of[resource]) << "a task needing " << resource << "\n"
                                                                  << r.out;
  }
  EXPECT_NE(node_of["netns_a"], node_of["netns_b"]);
  EXPECT_NE(node_of["netns_b"], node_of["netns_c"]);
  EXPECT_EQ(Field(r.out, "ACTOR_NODE"), node_of["netns_b"]) << r.out;
  EXPECT_EQ(Field(r.out, "BORROWED"), "42") << r.out;
  EXPECT_EQ(Field(r.out, "ACTOR_OWNED"), "7") << r.out;
  const std::string expected = Field(r.out, "EXPECTED");
  ASSERT_FALSE(expected.empty()) << r.out;
  EXPECT_EQ(Field(r.out, "BIG_READ"), node_of["netns_c"] + " " + expected) << r.out;
}

}  // namespace
