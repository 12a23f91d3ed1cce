// Nodes that fail, seen from the owner (issue 15 point 8): a three-node
// cluster started with the built `lumen start`, every node with the custom
// resource `lin` (and a `lin_<name>` of its own); a driver
// (lineage_driver) that leaves a large task return, a running task and an
// actor's Put object on node B, one of the two nodes it does not run on (not
// the head), and B SIGKILLed (`lumen stop --force --temp-dir=B`) while they
// are there. Then, as in Ray: the driver reads the large object (rebuilt on
// C by re-running the task that made it; the bytes are checked), the running
// task is retried on C and its result returned, (disabled variant) a task
// reads a second lost object first (its worker tells the owner, which makes
// it again on C), and the Put object, whose
// owner died with B, raises UnreconstructableException saying so. Nothing hangs.
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
using lumen::testing::ReadFile;
using lumen::testing::Result;

class LineageTest : public lumen::testing::CliClusterTest {
 protected:
  LineageTest() : CliClusterTest("lnd") {}
  // Starts the cluster and the driver, kills node B, checks what the driver read.
  void RunScenario(bool borrower);
};

std::string Field(const std::string &out, const std::string &key) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(key + " ([^\\n]+)"))) return "";
  return m[1].str();
}

// Waits until `path` exists or the driver `pid` has exited; true: it exists.
// The bound is a hang's, not a timing: the driver's own steps end far sooner.
bool WaitForFileWhile(const std::string &path, pid_t pid) {
  for (int i = 0; i < 12000; i++) {
    if (fs::exists(path)) return true;
    if (waitpid(pid, nullptr, WNOHANG) == pid) return fs::exists(path);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void LineageTest::RunScenario(bool borrower) {
  constexpr uint64_t kBytes = 64ull << 20;
  Result head = Run(
      LUMEN_CLI, {"start", "--head", "--port=0", "--num-cpus=2", "--resources={\"lin\": 1, \"lin_head\": 2}",
                  "--object-store-memory=400000000", "--temp-dir=" + root_ + "/head"});
  ASSERT_EQ(head.rc, 0) << head.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(head.out, m, std::regex("Cluster address: (\\S+)"))) << head.out;
  const std::string address = m[1].str();
  for (const char *node : {"b", "c"}) {
    Result joined = Run(LUMEN_CLI, {"start", "--address=" + address, "--num-cpus=2",
                                    std::string("--resources={\"lin\": 1, \"lin_") + node + "\": 2}",
                                    "--object-store-memory=400000000", "--temp-dir=" + root_ + "/" + node});
    ASSERT_EQ(joined.rc, 0) << joined.err;
  }

  const std::string dir = root_ + "/sync";
  fs::create_directories(dir);
  const std::string out = root_ + "/driver.out", err = root_ + "/driver.err";
  std::vector<std::string> args{address, std::to_string(kBytes), dir};
  if (borrower) args.push_back("borrower");
  pid_t driver = Spawn(LUMEN_LINEAGE_DRIVER, args, out, err);
  ASSERT_GT(driver, 0);
  ASSERT_TRUE(WaitForFileWhile(dir + "/ready", driver)) << ReadFile(out) << ReadFile(err);

  // The driver names B by its temp dir (it joins the cluster through any node).
  const std::string kill = Field(ReadFile(out), "KILL");
  ASSERT_TRUE(kill == "b" || kill == "c" || kill == "head") << ReadFile(out);
  Result stopped = Run(LUMEN_CLI, {"stop", "--force", "--temp-dir=" + root_ + "/" + kill});
  ASSERT_EQ(stopped.rc, 0) << stopped.out << stopped.err;
  std::ofstream(dir + "/killed") << "killed";

  int status = 0;
  ASSERT_EQ(waitpid(driver, &status, 0), driver);
  const std::string o = ReadFile(out), e = ReadFile(err);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << o << e;
  const std::string node_b = Field(o, "NODE_B"), node_c = Field(o, "NODE_C");
  ASSERT_FALSE(node_b.empty()) << o;
  ASSERT_FALSE(node_c.empty()) << o;
  ASSERT_NE(node_b, node_c);

  // The large object: made on B, lost with it, made again on C.
  EXPECT_TRUE(fs::exists(dir + "/made_5_" + node_b)) << o;
  EXPECT_TRUE(fs::exists(dir + "/made_5_" + node_c)) << o << e;
  const std::string expected = Field(o, "EXPECTED");
  ASSERT_FALSE(expected.empty()) << o;
  EXPECT_EQ(Field(o, "BIG"), std::to_string(kBytes) + " " + expected) << o << e;
  // The long task: running on B when it died, retried on C.
  EXPECT_EQ(Field(o, "LONG"), node_c) << o << e;
  if (borrower) {
    // The second object, lost with B, read first by a task: its worker told
    // the owner, which made it again on C.
    EXPECT_TRUE(fs::exists(dir + "/made_6_" + node_c)) << o << e;
    const std::string expected_arg = Field(o, "EXPECTED_ARG");
    ASSERT_FALSE(expected_arg.empty()) << o;
    EXPECT_EQ(Field(o, "ARG_READ"), expected_arg) << o << e;
  }
  // The actor's Put: its owner died with B.
  const std::string lost = Field(o, "PUT_LOST");
  EXPECT_NE(lost.find("owner"), std::string::npos) << o << e;
  EXPECT_EQ(o.find("PUT_READ"), std::string::npos) << o;
}

TEST_F(LineageTest, LostObjectsAreRebuiltRunningTasksRetriedAndALostOwnersPutIsUnreconstructable) {
  RunScenario(/*borrower=*/false);
}

// The same, with the second lost object read first by a task, whose worker
// (a borrower) finds every copy gone and tells the owner (NODES_DEAD).
// (Disabled for a while: under load about 1 run in 12 failed, before the
// owner also heard of node deaths through NODE_CHANGED; since then 64 of 64
// under a load of 7-10 and 8 of 8 under ASan.)
TEST_F(LineageTest, ALostArgumentReadByATaskIsMadeAgainByItsOwner) { RunScenario(/*borrower=*/true); }

}  // namespace
