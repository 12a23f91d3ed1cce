// What a trial may ask for: plain amounts on one node, placement-group bundles
// by strategy (STRICT_PACK on one node, STRICT_SPREAD on nodes of their own,
// PACK and SPREAD wherever they fit), malformed requests, and how many trials
// fit at once. Nodes are made up here; no cluster runs.
#include "trial_resources.h"

#include <gtest/gtest.h>

namespace ray {
namespace tune {
namespace {

using internal::CheckTrialResources;
using internal::TrialsThatFit;

ray::NodeInfo Node(std::string id, std::unordered_map<std::string, double> resources, bool alive = true) {
  ray::NodeInfo n;
  n.node_id = std::move(id);
  n.alive = alive;
  n.resources = std::move(resources);
  return n;
}

Resources Group(std::vector<Resources::Bundle> bundles, ray::PlacementStrategy strategy) {
  return Resources::PlacementGroup(std::move(bundles), strategy);
}

const std::vector<ray::NodeInfo> kTwoNodes = {Node("a", {{"CPU", 4}, {"GPU", 1}}), Node("b", {{"CPU", 2}})};

TEST(TrialResourcesTest, PlainAmountsMustFitOneAliveNode) {
  Resources r;
  r.cpu = 4;
  r.gpu = 1;
  EXPECT_NO_THROW(CheckTrialResources(r, kTwoNodes));
  r.cpu = 5;  // 6 CPUs in all, but no node has 5
  try {
    CheckTrialResources(r, kTwoNodes);
    ADD_FAILURE() << "5 CPUs on nodes of 4 and 2";
  } catch (const TuneError &e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("{CPU: 5, GPU: 1}"), std::string::npos) << what;
    EXPECT_NE(what.find("node a: {CPU: 4, GPU: 1}"), std::string::npos) << what;
  }
  r.cpu = 1;
  r.custom["TPU"] = 1;
  EXPECT_THROW(CheckTrialResources(r, kTwoNodes), TuneError);
  // A dead node's resources do not count.
  Resources one_gpu;
  one_gpu.gpu = 1;
  EXPECT_THROW(CheckTrialResources(one_gpu, {Node("a", {{"CPU", 4}, {"GPU", 1}}, /*alive=*/false)}),
               TuneError);
}

TEST(TrialResourcesTest, BundlesFitAsTheirStrategyAsks) {
  using S = ray::PlacementStrategy;
  // Each bundle on a node of its own: two nodes hold two bundles, not three.
  EXPECT_NO_THROW(CheckTrialResources(Group({{{"CPU", 2}}, {{"CPU", 2}}}, S::STRICT_SPREAD), kTwoNodes));
  EXPECT_THROW(
      CheckTrialResources(Group({{{"CPU", 1}}, {{"CPU", 1}}, {{"CPU", 1}}}, S::STRICT_SPREAD), kTwoNodes),
      TuneError);
  // The GPU bundle needs node a, so the 3-CPU bundle cannot have it: a
  // matching, not a greedy pick, sees that no assignment works...
  EXPECT_THROW(CheckTrialResources(Group({{{"CPU", 3}}, {{"GPU", 1}}}, S::STRICT_SPREAD), kTwoNodes),
               TuneError);
  // ...and finds the one that does when the order misleads a greedy pick.
  EXPECT_NO_THROW(CheckTrialResources(Group({{{"CPU", 1}}, {{"CPU", 3}}}, S::STRICT_SPREAD), kTwoNodes));
  // All on one node.
  EXPECT_NO_THROW(CheckTrialResources(Group({{{"CPU", 2}}, {{"CPU", 2}}}, S::STRICT_PACK), kTwoNodes));
  EXPECT_THROW(CheckTrialResources(Group({{{"CPU", 3}}, {{"CPU", 2}}}, S::STRICT_PACK), kTwoNodes),
               TuneError);
  // PACK and SPREAD: each bundle on some node, all within the cluster.
  EXPECT_NO_THROW(CheckTrialResources(Group({{{"CPU", 3}}, {{"CPU", 2}}}, S::PACK), kTwoNodes));
  EXPECT_NO_THROW(CheckTrialResources(Group({{{"CPU", 3}}, {{"CPU", 2}}}, S::SPREAD), kTwoNodes));
  EXPECT_THROW(CheckTrialResources(Group({{{"CPU", 5}}}, S::PACK), kTwoNodes), TuneError);
  EXPECT_THROW(CheckTrialResources(Group({{{"CPU", 4}}, {{"CPU", 2}}, {{"CPU", 1}}}, S::SPREAD), kTwoNodes),
               TuneError);
}

TEST(TrialResourcesTest, MalformedRequestsAreErrors) {
  using S = ray::PlacementStrategy;
  EXPECT_THROW(CheckTrialResources(Group({{{"CPU", 1}}, {}}, S::PACK), kTwoNodes), TuneError);
  EXPECT_THROW(CheckTrialResources(Group({{{"CPU", 0}}}, S::PACK), kTwoNodes),
               TuneError);  // nothing, once zeros go
  EXPECT_THROW(CheckTrialResources(Group({{{"CPU", -1}}}, S::PACK), kTwoNodes), TuneError);
  EXPECT_THROW(CheckTrialResources(Group({{{"CPU", 1.5}}}, S::PACK), kTwoNodes), TuneError);
  EXPECT_THROW(CheckTrialResources(Group({{{"CPU", 1}}}, S::UNRECOGNIZED), kTwoNodes), TuneError);
  Resources negative;
  negative.gpu = -1;
  EXPECT_THROW(CheckTrialResources(negative, kTwoNodes), TuneError);
}

TEST(TrialResourcesTest, TrialsThatFitCountEveryBundle) {
  const std::unordered_map<std::string, double> cluster{{"CPU", 8}, {"GPU", 2}};
  Resources plain;
  EXPECT_EQ(TrialsThatFit(plain, cluster), 8);
  plain.gpu = 1;
  EXPECT_EQ(TrialsThatFit(plain, cluster), 2);
  EXPECT_EQ(TrialsThatFit(Group({{{"CPU", 1}}, {{"CPU", 2}}}, ray::PlacementStrategy::PACK), cluster), 2);
  EXPECT_EQ(TrialsThatFit(Group({{{"CPU", 16}}}, ray::PlacementStrategy::PACK), cluster), 1);  // at least one
  Resources nothing;
  nothing.cpu = 0;
  EXPECT_EQ(TrialsThatFit(nothing, cluster), 64);
}

TEST(TrialResourcesTest, ResourcesTravelAsJson) {
  Resources r = Group({{{"CPU", 1}, {"GPU", 0.5}}, {{"CPU", 2}}}, ray::PlacementStrategy::STRICT_SPREAD);
  r.custom["TPU"] = 2;
  Resources back = internal::ResourcesFromJson(internal::ResourcesToJson(r));
  EXPECT_EQ(back.bundles, r.bundles);
  EXPECT_EQ(back.strategy, r.strategy);
  EXPECT_EQ(back.custom, r.custom);
  EXPECT_EQ(back.cpu, r.cpu);
  // The trial's actor holds the first bundle; the trial, all of them.
  EXPECT_EQ(r.ToMap(), (std::unordered_map<std::string, double>{{"CPU", 1}, {"GPU", 0.5}}));
  EXPECT_EQ(r.Total(), (std::map<std::string, double>{{"CPU", 3}, {"GPU", 0.5}}));
}

}  // namespace
}  // namespace tune
}  // namespace ray
