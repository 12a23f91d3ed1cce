// A node SIGKILLed mid-work (issue 15 point 8), with real processes: a
// cluster started with the built `lumen start` (each node its own
// --temp-dir) and a driver (node_death_driver) on the head. The victim node
// holds an actor with a restart left (pinned by "pin", which a third node
// also has), one with none (pinned by "solo", only the victim's) and a
// bundle of a STRICT_SPREAD group; `lumen stop --force --temp-dir=<victim>`
// kills it. Then: the first actor answers again from the third node, the
// second raises RayActorException naming the node's death, the group is
// created again, `lumen status` lists the victim dead, and the driver
// printed one warning line about it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "lumen_cli_test_util.h"

namespace {
namespace fs = std::filesystem;
using lumen::testing::PollUntil;
using lumen::testing::ReadFile;
using lumen::testing::Result;

class NodeDeathTest : public lumen::testing::CliClusterTest {
 protected:
  NodeDeathTest() : CliClusterTest("lnd") {}
  void TearDown() override {
    if (driver_ > 0) {
      kill(driver_, SIGKILL);
      waitpid(driver_, nullptr, 0);
    }
    CliClusterTest::TearDown();
  }
  std::vector<std::string> NodeFlags(const std::string &name) {
    return {"--num-cpus=4", "--object-store-memory=100000000", "--temp-dir=" + root_ + "/" + name};
  }
  void Join(const std::string &name, const std::string &resources) {
    std::vector<std::string> args = {"start", "--address=" + address_, "--resources=" + resources};
    for (auto &f : NodeFlags(name)) args.push_back(f);
    Result joined = Run(LUMEN_CLI, args);
    ASSERT_EQ(joined.rc, 0) << joined.err;
  }
  pid_t SpawnDriver() {
    out_ = root_ + "/driver.out";
    err_ = root_ + "/driver.err";
    pid_t pid = fork();
    if (pid == 0) {
      int o = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int e = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(o, 1);
      dup2(e, 2);
      execl(LUMEN_NODE_DEATH_DRIVER, LUMEN_NODE_DEATH_DRIVER, address_.c_str(), (root_ + "/work").c_str(),
            nullptr);
      _exit(127);
    }
    return pid;
  }
  bool DriverSaid(const std::string &what) { return ReadFile(out_).find(what) != std::string::npos; }

  std::string address_, out_, err_;
  pid_t driver_ = 0;
};

TEST_F(NodeDeathTest, ANodeKilledMidWorkRestartsItsActorsElsewhereFailsTheRestAndIsListedDead) {
  fs::create_directories(root_ + "/work");
  std::vector<std::string> head = {"start", "--head", "--port=0"};
  for (auto &f : NodeFlags("head")) head.push_back(f);
  Result started = Run(LUMEN_CLI, head);
  ASSERT_EQ(started.rc, 0) << started.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(started.out, m, std::regex("Cluster address: (\\S+)"))) << started.out;
  address_ = m[1].str();

  // The driver joins while the head is the only node: its own node survives.
  driver_ = SpawnDriver();
  ASSERT_TRUE(PollUntil([&] { return DriverSaid("JOINED"); })) << ReadFile(err_);
  ASSERT_NO_FATAL_FAILURE(Join("victim", "{\"pin\": 1, \"solo\": 1}"));
  std::ofstream(root_ + "/work/victim-up");
  ASSERT_TRUE(PollUntil([&] { return DriverSaid("READY") || waitpid(driver_, nullptr, WNOHANG) == driver_; }))
      << ReadFile(err_);
  ASSERT_TRUE(DriverSaid("READY")) << ReadFile(out_) << ReadFile(err_);
  const std::string said = ReadFile(out_);
  ASSERT_TRUE(std::regex_search(said, m, std::regex("VICTIM (\\S+) (\\S+)"))) << said;
  const std::string victim = m[1].str();
  EXPECT_EQ(m[2].str(), victim) << "both actors are on the node with pin and solo";

  ASSERT_NO_FATAL_FAILURE(Join("third", "{\"pin\": 1}"));
  Result killed = Run(LUMEN_CLI, {"stop", "--force", "--temp-dir=" + root_ + "/victim"});
  ASSERT_EQ(killed.rc, 0) << killed.err;
  std::ofstream(root_ + "/work/killed");

  int status = 0;
  ASSERT_TRUE(PollUntil([&] { return waitpid(driver_, &status, WNOHANG) == driver_; }))
      << ReadFile(out_) << ReadFile(err_);
  driver_ = 0;
  const std::string out = ReadFile(out_), err = ReadFile(err_);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out << err;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("SURVIVOR (\\S+)"))) << out;
  EXPECT_NE(m[1].str(), victim) << "the restarted actor answers from another node";
  ASSERT_TRUE(std::regex_search(out, m, std::regex("SOLO_ERROR ([^\n]*)"))) << out;
  EXPECT_NE(m[1].str().find("its node " + victim), std::string::npos) << m[1].str();
  EXPECT_NE(m[1].str().find("died"), std::string::npos) << m[1].str();
  EXPECT_NE(out.find("GROUP 1"), std::string::npos) << "the group is created again: " << out;
  const std::string warning = "Lumen: node " + victim + " (";
  size_t count = 0;
  for (size_t at = err.find(warning); at != std::string::npos; at = err.find(warning, at + 1)) ++count;
  EXPECT_EQ(count, 1u) << "one warning line: " << err;

  Result st = Run(LUMEN_CLI, {"status", "--address=" + address_});
  ASSERT_EQ(st.rc, 0) << st.err;
  EXPECT_TRUE(std::regex_search(st.out, std::regex("Dead:\n 1 node_" + victim + " [^\n]*: its connection")))
      << st.out;
}

}  // namespace
