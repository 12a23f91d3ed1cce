// User code on every node, with real processes: a three-node cluster started
// with the built `lumen start` (each node its own --temp-dir; node2 has the
// custom resource "a", node3 "b"), and a single-file driver
// (code_everywhere_driver) whose actors ask for "a" and "b": they must run
// on those nodes, from the driver's program shipped there, call its
// RAY_REMOTE functions there and return values. main() up to ray::Init runs
// once per node per job (never per worker), a second run of the same
// program fetches nothing, nothing of a job remains once it ended or the
// cluster stopped, and a copy that fails on another node fails the actor
// with the reason.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "lumen_cli_test_util.h"

namespace {
namespace fs = std::filesystem;
using lumen::testing::ReadFile;
using lumen::testing::Result;

// Only a real hang waits this long.
constexpr std::chrono::seconds kHang{120};

size_t Count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

bool Alive(int pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// Waits until every pid is gone (the condition itself; the deadline is for hangs).
bool AllGone(const std::vector<int> &pids) {
  for (auto until = std::chrono::steady_clock::now() + kHang; std::chrono::steady_clock::now() < until;) {
    bool any = false;
    for (int pid : pids) any = any || Alive(pid);
    if (!any) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

struct Actor {
  std::string node;
  int square = 0;
  int pid = 0;
  int fork_server = 0;
};

class CodeEverywhereTest : public lumen::testing::CliClusterTest {
 protected:
  CodeEverywhereTest() : CliClusterTest("lce") {}

  // Starts the head (no custom resources) and node2 ("a"), node3 ("b").
  void StartCluster() {
    std::vector<std::string> head = {"start", "--head", "--port=0"};
    for (auto &f : NodeFlags("head", "")) head.push_back(f);
    Result started = Run(LUMEN_CLI, head);
    ASSERT_EQ(started.rc, 0) << started.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(started.out, m, std::regex("Cluster address: (\\S+)"))) << started.out;
    address_ = m[1].str();
    for (auto [name, resource] : {std::pair{"node2", "a"}, std::pair{"node3", "b"}}) {
      std::vector<std::string> join = {"start", "--address=" + address_};
      for (auto &f : NodeFlags(name, resource)) join.push_back(f);
      Result joined = Run(LUMEN_CLI, join);
      ASSERT_EQ(joined.rc, 0) << joined.err;
    }
  }

  std::vector<std::string> NodeFlags(const std::string &name, const std::string &resource) {
    std::vector<std::string> flags = {"--num-cpus=2", "--object-store-memory=100000000",
                                      "--temp-dir=" + root_ + "/" + name};
    if (!resource.empty()) flags.push_back("--resources={\"" + resource + "\": 1}");
    return flags;
  }

  // What the node under `name`'s temp dir logged, all its files together.
  std::string NodeLogs(const std::string &name) {
    std::string all;
    for (auto &e : fs::recursive_directory_iterator(root_ + "/" + name))
      if (e.is_regular_file() && e.path().filename().string().rfind("node", 0) == 0 &&
          e.path().extension() == ".log")
        all += ReadFile(e.path());
    return all;
  }
  // Files in the node's program cache.
  size_t CachedPrograms(const std::string &name) {
    size_t n = 0;
    for (auto &e : fs::recursive_directory_iterator(root_ + "/" + name))
      if (e.is_regular_file() && e.path().parent_path().filename() == "programs") ++n;
    return n;
  }

  std::string Starts() const { return root_ + "/starts"; }

  std::string address_;
};

// "a", "b" -> the node holding it; "driver" -> the driver's node.
std::map<std::string, std::string> ParseNodes(const std::string &out) {
  std::map<std::string, std::string> nodes;
  std::smatch m;
  if (std::regex_search(out, m, std::regex("DRIVER (\\S+)"))) nodes["driver"] = m[1];
  static const std::regex line("NODE (\\S+) (\\S+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it)
    nodes[(*it)[1]] = (*it)[2];
  return nodes;
}

std::map<std::string, Actor> ParseActors(const std::string &out) {
  std::map<std::string, Actor> actors;
  static const std::regex line("ACTOR (\\S+) (\\S+) (\\d+) (\\d+) (\\d+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it)
    actors[(*it)[1]] = {(*it)[2], std::stoi((*it)[3]), std::stoi((*it)[4]), std::stoi((*it)[5])};
  return actors;
}

// Which of node2 ("a") and node3 ("b") the driver did not join: those run
// its code from its shipped program (at least one does).
std::vector<std::pair<std::string, std::string>> OtherNodes(std::map<std::string, std::string> nodes) {
  std::vector<std::pair<std::string, std::string>> other;  // node name, its resource
  for (auto [name, resource] : {std::pair{"node2", "a"}, std::pair{"node3", "b"}})
    if (nodes[resource] != nodes["driver"]) other.emplace_back(name, resource);
  return other;
}

TEST_F(CodeEverywhereTest, ActorsRunTheDriversCodeOnOtherNodes) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::vector<int> first_job;
  for (const char *tag : {"first", "second"}) {
    SCOPED_TRACE(tag);
    Result r = Run(LUMEN_CODE_EVERYWHERE_DRIVER, {address_, Starts(), tag});
    ASSERT_EQ(r.rc, 0) << r.out << r.err;
    auto nodes = ParseNodes(r.out);
    auto actors = ParseActors(r.out);
    ASSERT_EQ(actors.size(), 2u) << r.out;
    ASSERT_FALSE(nodes["driver"].empty()) << r.out;
    for (const char *resource : {"a", "b"}) {
      SCOPED_TRACE(resource);
      const Actor &a = actors[resource];
      ASSERT_NE(nodes[resource], "-") << r.out;
      EXPECT_EQ(a.node, nodes[resource]) << "the actor runs on the node with its resource";
      EXPECT_EQ(a.square, 49) << "the program's function ran there";
    }
    EXPECT_NE(actors["a"].fork_server, actors["b"].fork_server) << "a fork server per node";
    const auto other = OtherNodes(nodes);
    ASSERT_FALSE(other.empty());
    std::vector<int> pids;  // the job's processes on the other nodes
    for (auto &[name, resource] : other) {
      pids.push_back(actors[resource].pid);
      pids.push_back(actors[resource].fork_server);
    }
    // main() up to ray::Init ran in the driver and once on each other node
    // that runs an actor (and at most once on a node the job's tasks spread
    // to); the workers there (an actor and a task each) did not.
    const size_t starts = Count(ReadFile(Starts()), std::string(tag) + " ");
    EXPECT_GE(starts, 1 + other.size()) << ReadFile(Starts());
    EXPECT_LE(starts, 3u) << "at most once per node: " << ReadFile(Starts());
    if (first_job.empty()) {
      first_job = pids;
      // The job ended with its driver: its fork servers and workers on the
      // other nodes end too, with the cluster still up.
      EXPECT_TRUE(AllGone(first_job)) << "a process of the finished job remains";
      continue;
    }
    // Same program: each node running an actor fetched it once, for the
    // first job only. Another node fetched it at most once too (the job's
    // tasks may spread to it, which then needs the program; the driver's
    // node never does).
    for (const char *name : {"head", "node2", "node3"}) {
      SCOPED_TRACE(name);
      bool runs_it = false;
      for (auto &o : other) runs_it = runs_it || o.first == name;
      const size_t fetched = Count(NodeLogs(name), "fetching program");
      if (runs_it) {
        EXPECT_EQ(fetched, 1u);
      } else {
        EXPECT_LE(fetched, 1u);
      }
      EXPECT_EQ(CachedPrograms(name), fetched);
    }
    Result stopped = Run(LUMEN_CLI, {"stop"});
    ASSERT_EQ(stopped.rc, 0) << stopped.err;
    EXPECT_TRUE(AllGone(pids)) << "a process of the job remains after lumen stop";
  }
}

TEST_F(CodeEverywhereTest, AProgramThatFailsOnAnotherNodeFailsTheActorWithTheReason) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  Result r = Run(LUMEN_CODE_EVERYWHERE_DRIVER, {address_, Starts(), "broken", "fail-elsewhere"});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  const auto other = OtherNodes(ParseNodes(r.out));
  ASSERT_FALSE(other.empty()) << r.out;
  for (auto &[name, resource] : other) {
    SCOPED_TRACE(resource);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("FAILED " + resource + " ([^\\n]*)"))) << r.out;
    EXPECT_NE(m[1].str().find("exited with code 3 before it became the job's fork server"), std::string::npos)
        << m[1].str();
  }
  // An actor on the driver's own node (if one has its resource) works.
  EXPECT_EQ(ParseActors(r.out).size(), 2 - other.size()) << r.out;
  EXPECT_EQ(Count(ReadFile(Starts()), "broken "), 1 + other.size())
      << "the driver, and each copy that failed";
}

}  // namespace
