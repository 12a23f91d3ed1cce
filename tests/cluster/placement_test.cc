// Placement groups across nodes, with real processes: a three-node cluster
// started with the built `lumen start` (each node its own --temp-dir, two
// CPUs each), and a driver (placement_driver) that creates groups with each
// strategy and reports, from ray::Nodes(), which node holds each bundle.
// The reservation itself is what is checked (work in bundles on other nodes
// is cluster_code_everywhere_test's and cluster_spillback_test's subject).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lumen_cli_test_util.h"

namespace {
namespace fs = std::filesystem;
using lumen::testing::ReadFile;
using lumen::testing::Result;

struct Group {
  bool created = false;
  std::vector<std::string> nodes;  // per bundle; "-" for none
};

class PlacementAcrossNodesTest : public lumen::testing::CliClusterTest {
 protected:
  PlacementAcrossNodesTest() : CliClusterTest("lpg") {}

  std::vector<std::string> NodeFlags(const std::string &name) {
    return {"--num-cpus=2", "--object-store-memory=100000000", "--temp-dir=" + root_ + "/" + name};
  }
};

std::map<std::string, Group> ParseGroups(const std::string &out) {
  std::map<std::string, Group> groups;
  static const std::regex line("GROUP (\\S+) ([01]) (\\S+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
    Group g;
    g.created = (*it)[2] == "1";
    std::stringstream nodes((*it)[3].str());
    for (std::string n; std::getline(nodes, n, ',');) g.nodes.push_back(n);
    groups[(*it)[1]] = g;
  }
  return groups;
}

std::set<std::string> Distinct(const Group &g) { return {g.nodes.begin(), g.nodes.end()}; }

TEST_F(PlacementAcrossNodesTest, StrategiesPlaceBundlesOnTheRightNodes) {
  std::vector<std::string> head = {"start", "--head", "--port=0"};
  for (auto &f : NodeFlags("head")) head.push_back(f);
  Result started = Run(LUMEN_CLI, head);
  ASSERT_EQ(started.rc, 0) << started.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(started.out, m, std::regex("Cluster address: (\\S+)"))) << started.out;
  const std::string address = m[1].str();
  for (const char *name : {"node2", "node3"}) {
    std::vector<std::string> join = {"start", "--address=" + address};
    for (auto &f : NodeFlags(name)) join.push_back(f);
    Result joined = Run(LUMEN_CLI, join);
    ASSERT_EQ(joined.rc, 0) << joined.err;
  }

  Result r = Run(LUMEN_PLACEMENT_DRIVER, {address});
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_NE(r.out.find("NODES 3"), std::string::npos) << r.out;
  auto groups = ParseGroups(r.out);
  ASSERT_EQ(groups.size(), 6u) << r.out;
  for (const char *label : {"strict_spread", "pack", "spread", "pack_spans", "strict_pack"}) {
    SCOPED_TRACE(label);
    const Group &g = groups[label];
    EXPECT_TRUE(g.created);
    for (auto &n : g.nodes) EXPECT_NE(n, "-") << "every bundle is on a node";
  }
  EXPECT_EQ(Distinct(groups["strict_spread"]).size(), 3u) << "one bundle per node";
  EXPECT_EQ(Distinct(groups["spread"]).size(), 3u) << "idle nodes: one bundle each";
  EXPECT_EQ(Distinct(groups["pack"]).size(), 1u) << "one node has room for both";
  EXPECT_EQ(Distinct(groups["strict_pack"]).size(), 1u);
  EXPECT_EQ(Distinct(groups["pack_spans"]).size(), 2u) << "no node has 4 CPUs: two nodes, 2 each";
  EXPECT_FALSE(groups["strict_spread_4"].created) << "four bundles need four nodes";
  EXPECT_EQ(Distinct(groups["strict_spread_4"]), std::set<std::string>{"-"}) << "and none is left reserved";
}

}  // namespace
