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
// Another runs the same driver in a namespace of its own, where no node of
// the cluster is (as on a machine that only runs drivers), with the token
// from LUMEN_TOKEN: Init starts a node for it there (no resources; its
// store holds the driver's objects), the same work runs, and that node goes
// with the driver.
//
// A third test cuts one node off (its link down: no packets either way,
// its processes still running) in the middle of work, with the driver of
// node_death_test: the cluster must see it dead by itself (no connection
// is closed by a dying process) and go on as after a crash.
//
// Without root or `ip netns`, it skips, saying why.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "lumen_cli_test_util.h"
#include "netns_util.h"

namespace {
using lumen::testing::NetnsCluster;
using lumen::testing::PollUntil;
using lumen::testing::ReadFile;
using lumen::testing::Result;

class NetnsTest : public lumen::testing::CliClusterTest {
 protected:
  NetnsTest() : CliClusterTest("lns") {}

  void TearDown() override {
    if (driver_ > 0) {
      kill(driver_, SIGKILL);
      waitpid(driver_, nullptr, 0);
    }
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

  // Starts the head in namespace 0; returns its cluster address (empty on failure, with a test failure).
  std::string StartHead(const std::string &resources) {
    Result head = RunIn(
        0, {LUMEN_CLI, "start", "--head", "--port=0", "--num-cpus=2", "--node-ip-address=" + cluster_->ip(0),
            "--resources=" + resources, "--object-store-memory=300000000", "--temp-dir=" + root_ + "/n0"});
    EXPECT_EQ(head.rc, 0) << head.out << head.err;
    std::smatch m;
    if (!std::regex_search(head.out, m, std::regex("Cluster address: (\\S+)"))) {
      ADD_FAILURE() << head.out;
      return "";
    }
    return m[1].str();
  }
  // Starts a node in namespace `i` that joins `address`.
  void Join(int i, const std::string &address, const std::string &resources) {
    Result joined =
        RunIn(i, {LUMEN_CLI, "start", "--address=" + address, "--num-cpus=2",
                  "--node-ip-address=" + cluster_->ip(i), "--resources=" + resources,
                  "--object-store-memory=300000000", "--temp-dir=" + root_ + "/n" + std::to_string(i)});
    ASSERT_EQ(joined.rc, 0) << joined.out << joined.err;
  }

  std::unique_ptr<NetnsCluster> cluster_;
  pid_t driver_ = 0;
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
  EXPECT_EQ(Field(r.out, "DRIVER_READ"), expected) << r.out;
  EXPECT_EQ(Field(r.out, "NODES"), "3") << r.out;
}

TEST_F(NetnsTest, ADriverOnAMachineWithNoNodeGetsOneOfItsOwnForItsLife) {
  if (std::string why = NetnsCluster::Unavailable(); !why.empty()) GTEST_SKIP() << why;
  cluster_ = std::make_unique<NetnsCluster>(4);
  if (!cluster_->ok()) GTEST_SKIP() << "cannot make network namespaces here: " << cluster_->error();
  const std::string address = StartHead("{\"netns_a\": 1}");
  ASSERT_FALSE(address.empty());
  ASSERT_NO_FATAL_FAILURE(Join(1, address, "{\"netns_b\": 1}"));
  ASSERT_NO_FATAL_FAILURE(Join(2, address, "{\"netns_c\": 1}"));
  const std::string token = ReadFile(root_ + "/n0/session_latest/token");
  ASSERT_FALSE(token.empty());

  // Its own session root: nothing of the head's is found there, so the token
  // can only come from LUMEN_TOKEN.
  const std::string driver_root = root_ + "/driver-tmp";
  std::filesystem::create_directories(driver_root);
  std::filesystem::permissions(driver_root, std::filesystem::perms::owner_all);
  Result r = RunIn(3, {"/usr/bin/env", "LUMEN_TOKEN=" + token, "LUMEN_TMPDIR=" + driver_root,
                       LUMEN_NETNS_DRIVER, address, std::to_string(48ull << 20)});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  std::map<std::string, std::string> node_of;
  for (const char *n : {"a", "b", "c"}) {
    const std::string resource = std::string("netns_") + n;
    node_of[resource] = Field(r.out, "NODE " + resource);
    ASSERT_FALSE(node_of[resource].empty()) << r.out;
    EXPECT_EQ(Field(r.out, "RAN " + resource), node_of[resource]) << r.out;
  }
  EXPECT_EQ(Field(r.out, "ACTOR_NODE"), node_of["netns_b"]) << r.out;
  EXPECT_EQ(Field(r.out, "BORROWED"), "42") << "the actor read objects in the driver's node: " << r.out;
  EXPECT_EQ(Field(r.out, "ACTOR_OWNED"), "7") << r.out;
  const std::string expected = Field(r.out, "EXPECTED");
  ASSERT_FALSE(expected.empty()) << r.out;
  EXPECT_EQ(Field(r.out, "BIG_READ"), node_of["netns_c"] + " " + expected) << r.out;
  EXPECT_EQ(Field(r.out, "DRIVER_READ"), expected) << "pulled into the driver's node: " << r.out;
  EXPECT_EQ(Field(r.out, "NODES"), "4") << "the three and the driver's: " << r.out;

  // The driver's node went with it: the cluster is back to three nodes,
  // the status says whose node ended and why, and nothing of it runs in the
  // driver's session root.
  ASSERT_TRUE(PollUntil([&] {
    Result st = RunIn(0, {LUMEN_CLI, "status", "--address=" + address});
    return st.rc == 0 && std::regex_search(st.out, std::regex("Active:\n( [^\n]*\n){3}(?! )"));
  })) << RunIn(0, {LUMEN_CLI, "status", "--address=" + address}).out;
  Result st = RunIn(0, {LUMEN_CLI, "status", "--address=" + address});
  EXPECT_TRUE(
      std::regex_search(st.out, std::regex("Dead:\n 1 node_[0-9a-f]+ \\(" + cluster_->ip(3) +
                                           ", pid [0-9]+, a driver's\\): it was the node of a driver")))
      << st.out;
  Result left = Run("/usr/bin/pgrep", {"-f", driver_root});
  EXPECT_NE(left.rc, 0) << "still running: " << left.out;
}

// Node 1 holds an actor with a restart left (needing "pin", which node 2
// has too), one with none (needing "solo", node 1's alone) and a bundle of a
// STRICT_SPREAD group; then its link goes down. Nothing tells the cluster:
// the control service's health checks (or the connections' keepalive) must.
// The first actor then answers from node 2, the second raises
// RayActorException naming the node's death, the group is placed again, the
// driver prints one warning line and `lumen status` lists node 1 dead.
TEST_F(NetnsTest, ANodeCutOffFromTheNetworkIsSeenDeadAndItsActorsRestartElsewhere) {
  if (std::string why = NetnsCluster::Unavailable(); !why.empty()) GTEST_SKIP() << why;
  cluster_ = std::make_unique<NetnsCluster>(3);
  if (!cluster_->ok()) GTEST_SKIP() << "cannot make network namespaces here: " << cluster_->error();
  const std::string work = root_ + "/work", out = root_ + "/driver.out", err = root_ + "/driver.err";
  std::filesystem::create_directories(work);
  const std::string address = StartHead("{}");
  ASSERT_FALSE(address.empty());

  // The driver joins while the head is the only node: its own node survives.
  auto [ip, args] = cluster_->In(0, {LUMEN_NODE_DEATH_DRIVER, address, work});
  driver_ = Spawn(ip, args, out, err);
  auto said = [&](const std::string &what) { return ReadFile(out).find(what) != std::string::npos; };
  ASSERT_TRUE(PollUntil([&] { return said("JOINED") || waitpid(driver_, nullptr, WNOHANG) == driver_; }))
      << ReadFile(err);
  ASSERT_TRUE(said("JOINED")) << ReadFile(err);
  ASSERT_NO_FATAL_FAILURE(Join(1, address, "{\"pin\": 1, \"solo\": 1}"));
  std::ofstream(work + "/victim-up");
  ASSERT_TRUE(PollUntil([&] { return said("READY") || waitpid(driver_, nullptr, WNOHANG) == driver_; }))
      << ReadFile(err);
  ASSERT_TRUE(said("READY")) << ReadFile(out) << ReadFile(err);
  std::smatch m;
  const std::string ready = ReadFile(out);
  ASSERT_TRUE(std::regex_search(ready, m, std::regex("VICTIM (\\S+) (\\S+)"))) << ready;
  const std::string victim = m[1].str();
  ASSERT_EQ(m[2].str(), victim) << "both actors are on node 1";

  ASSERT_NO_FATAL_FAILURE(Join(2, address, "{\"pin\": 1}"));
  ASSERT_TRUE(cluster_->SetLinkUp(1, false)) << cluster_->error();
  std::ofstream(work + "/killed");

  int status = 0;
  ASSERT_TRUE(PollUntil([&] { return waitpid(driver_, &status, WNOHANG) == driver_; }))
      << ReadFile(out) << ReadFile(err);
  driver_ = 0;
  const std::string o = ReadFile(out), e = ReadFile(err);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << o << e;
  ASSERT_TRUE(std::regex_search(o, m, std::regex("SURVIVOR (\\S+)"))) << o;
  EXPECT_NE(m[1].str(), victim) << "the restarted actor answers from node 2";
  ASSERT_TRUE(std::regex_search(o, m, std::regex("SOLO_ERROR ([^\n]*)"))) << o;
  EXPECT_NE(m[1].str().find("its node " + victim), std::string::npos) << m[1].str();
  EXPECT_NE(m[1].str().find("died"), std::string::npos) << m[1].str();
  EXPECT_NE(o.find("GROUP 1"), std::string::npos) << "the group is created again: " << o;
  const std::string warning = "Lumen: node " + victim + " (";
  size_t count = 0;
  for (size_t at = e.find(warning); at != std::string::npos; at = e.find(warning, at + 1)) ++count;
  EXPECT_EQ(count, 1u) << "one warning line: " << e;

  Result st = RunIn(0, {LUMEN_CLI, "status", "--address=" + address});
  ASSERT_EQ(st.rc, 0) << st.err;
  EXPECT_TRUE(std::regex_search(st.out, std::regex("Dead:\n 1 node_" + victim))) << st.out;
}

}  // namespace
