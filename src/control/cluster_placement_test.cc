// The placement policy without processes: targeted cases pin down each
// strategy's choice and the actors' hybrid policy; random clusters checked
// against a brute force over every assignment prove that a placement is
// found exactly when one exists, that it respects the strategy and what is
// free, and that "unavailable" and "infeasible" are told apart rightly.
#include "control/cluster_placement.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace lumen::control {
namespace {

PlacementNode Node(const std::string &id, ResourceMap total, ResourceMap available) {
  return PlacementNode{id, std::move(total), std::move(available)};
}
PlacementNode Idle(const std::string &id, ResourceMap total) { return Node(id, total, total); }

std::set<std::string> Distinct(const std::vector<std::string> &v) { return {v.begin(), v.end()}; }

// ------------------------------------------------------------------ actors

TEST(PlaceActorTest, PrefersTheOwnersNodeWhileItIsLessThanHalfUsed) {
  std::vector<PlacementNode> nodes = {Idle("a", {{"CPU", 4}}), Node("b", {{"CPU", 4}}, {{"CPU", 3}})};
  auto p = PlaceActor(nodes, {{"CPU", 1}}, "b");
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(p.node, "b");
}

TEST(PlaceActorTest, SpreadsToTheLeastUsedNodeOnceTheOwnersIsHalfUsed) {
  std::vector<PlacementNode> nodes = {Node("a", {{"CPU", 4}}, {{"CPU", 1}}),
                                      Node("b", {{"CPU", 4}}, {{"CPU", 2}}),
                                      Node("c", {{"CPU", 4}}, {{"CPU", 3}})};
  auto p = PlaceActor(nodes, {{"CPU", 1}}, "b");  // b is half used: not below the threshold
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(p.node, "c");
}

TEST(PlaceActorTest, WhenAllAreBusyTakesTheLeastUsedThatHasRoom) {
  std::vector<PlacementNode> nodes = {Node("a", {{"CPU", 4}}, {{"CPU", 1}}),
                                      Node("b", {{"CPU", 4}}, {{"CPU", 0}}),
                                      Node("c", {{"CPU", 8}}, {{"CPU", 3}})};
  auto p = PlaceActor(nodes, {{"CPU", 1}}, "b");
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(p.node, "c");  // 5/8 used beats 3/4; b has no CPU free
}

TEST(PlaceActorTest, CustomResourcesPinTheActorToTheNodesThatHaveThem) {
  std::vector<PlacementNode> nodes = {Idle("a", {{"CPU", 4}}), Idle("b", {{"CPU", 4}, {"special", 1}})};
  auto p = PlaceActor(nodes, {{"CPU", 1}, {"special", 1}}, "a");
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(p.node, "b");
}

TEST(PlaceActorTest, UsedUpIsUnavailableAndMissingEverywhereIsInfeasible) {
  std::vector<PlacementNode> nodes = {Node("a", {{"CPU", 2}}, {}), Node("b", {{"CPU", 2}}, {{"CPU", 0.5}})};
  EXPECT_EQ(PlaceActor(nodes, {{"CPU", 1}}, "a").outcome, PlacementOutcome::kUnavailable);
  EXPECT_EQ(PlaceActor(nodes, {{"CPU", 3}}, "a").outcome, PlacementOutcome::kInfeasible);
  EXPECT_EQ(PlaceActor(nodes, {{"GPU", 1}}, "a").outcome, PlacementOutcome::kInfeasible);
  EXPECT_EQ(PlaceActor({}, {{"CPU", 1}}, "a").outcome, PlacementOutcome::kInfeasible);
}

TEST(PlaceActorTest, AnActorNeedingNothingGoesToTheOwnersNode) {
  std::vector<PlacementNode> nodes = {Idle("a", {{"CPU", 1}}), Node("b", {{"CPU", 1}}, {})};
  auto p = PlaceActor(nodes, {}, "b");
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(p.node, "a") << "b is fully used: the idle node is preferred";
  p = PlaceActor({Idle("a", {{"CPU", 1}}), Idle("b", {{"CPU", 1}})}, {}, "b");
  EXPECT_EQ(p.node, "b");
}

// ----------------------------------------------------------------- bundles

TEST(PlaceBundlesTest, PackPutsEverythingOnOneNodeWhenOneFits) {
  std::vector<PlacementNode> nodes = {Idle("a", {{"CPU", 2}}), Idle("b", {{"CPU", 8}}),
                                      Idle("c", {{"CPU", 4}})};
  auto p = PlaceBundles(nodes, {{{"CPU", 1}}, {{"CPU", 1}}, {{"CPU", 1}}}, BundleStrategy::kPack);
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(Distinct(p.nodes).size(), 1u);
  EXPECT_NE(p.nodes[0], "a");
}

TEST(PlaceBundlesTest, PackPrefersTheFullestNodeThatFits) {
  std::vector<PlacementNode> nodes = {Idle("a", {{"CPU", 8}}), Node("b", {{"CPU", 8}}, {{"CPU", 3}})};
  auto p = PlaceBundles(nodes, {{{"CPU", 1}}, {{"CPU", 2}}}, BundleStrategy::kPack);
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(p.nodes, (std::vector<std::string>{"b", "b"}));
}

TEST(PlaceBundlesTest, PackUsesAsFewNodesAsItCanWhenNoneFitsAll) {
  std::vector<PlacementNode> nodes = {Idle("a", {{"CPU", 2}}), Idle("b", {{"CPU", 2}}),
                                      Idle("c", {{"CPU", 4}})};
  auto p = PlaceBundles(nodes, std::vector<ResourceMap>(5, {{"CPU", 1}}), BundleStrategy::kPack);
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(Distinct(p.nodes).size(), 2u);
  EXPECT_EQ(std::count(p.nodes.begin(), p.nodes.end(), "c"), 4);
}

TEST(PlaceBundlesTest, StrictPackNeedsOneNodeAndWaitsOtherwise) {
  std::vector<PlacementNode> nodes = {Node("a", {{"CPU", 4}}, {{"CPU", 1}}), Idle("b", {{"CPU", 2}})};
  std::vector<ResourceMap> three(3, {{"CPU", 1}});
  EXPECT_EQ(PlaceBundles(nodes, three, BundleStrategy::kStrictPack).outcome, PlacementOutcome::kUnavailable)
      << "a could hold them once free";
  EXPECT_EQ(
      PlaceBundles(nodes, std::vector<ResourceMap>(5, {{"CPU", 1}}), BundleStrategy::kStrictPack).outcome,
      PlacementOutcome::kInfeasible)
      << "no node has 5 CPUs, though the cluster has 6";
  auto p = PlaceBundles(nodes, {{{"CPU", 1}}, {{"CPU", 1}}}, BundleStrategy::kStrictPack);
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(p.nodes, (std::vector<std::string>{"b", "b"}));
}

TEST(PlaceBundlesTest, StrictSpreadPutsOneBundlePerNode) {
  std::vector<PlacementNode> nodes = {Idle("a", {{"CPU", 4}}), Idle("b", {{"CPU", 4}}),
                                      Idle("c", {{"CPU", 4}})};
  auto p = PlaceBundles(nodes, std::vector<ResourceMap>(3, {{"CPU", 1}}), BundleStrategy::kStrictSpread);
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(Distinct(p.nodes).size(), 3u);
  EXPECT_EQ(
      PlaceBundles(nodes, std::vector<ResourceMap>(4, {{"CPU", 1}}), BundleStrategy::kStrictSpread).outcome,
      PlacementOutcome::kInfeasible)
      << "four bundles need four nodes";
}

TEST(PlaceBundlesTest, StrictSpreadFindsTheMatchingAGreedyPassWouldMiss) {
  // The GPU bundle can only go to b; a greedy pass taking the least used
  // node for the CPU bundle first would take b.
  std::vector<PlacementNode> nodes = {Node("a", {{"CPU", 4}}, {{"CPU", 1}}),
                                      Idle("b", {{"CPU", 4}, {"GPU", 1}})};
  auto p = PlaceBundles(nodes, {{{"CPU", 1}}, {{"GPU", 1}}}, BundleStrategy::kStrictSpread);
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(p.nodes, (std::vector<std::string>{"a", "b"}));
}

TEST(PlaceBundlesTest, SpreadUsesDistinctNodesWhileThereAreEnoughAndSharesAfter) {
  std::vector<PlacementNode> nodes = {Idle("a", {{"CPU", 4}}), Idle("b", {{"CPU", 4}})};
  auto p = PlaceBundles(nodes, std::vector<ResourceMap>(2, {{"CPU", 1}}), BundleStrategy::kSpread);
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(Distinct(p.nodes).size(), 2u);
  p = PlaceBundles(nodes, std::vector<ResourceMap>(4, {{"CPU", 1}}), BundleStrategy::kSpread);
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(std::count(p.nodes.begin(), p.nodes.end(), "a"), 2);
  EXPECT_EQ(std::count(p.nodes.begin(), p.nodes.end(), "b"), 2);
}

TEST(PlaceBundlesTest, SpreadStartsWithTheLeastUsedNodes) {
  std::vector<PlacementNode> nodes = {Node("a", {{"CPU", 4}}, {{"CPU", 1}}), Idle("b", {{"CPU", 4}}),
                                      Node("c", {{"CPU", 4}}, {{"CPU", 2}})};
  auto p = PlaceBundles(nodes, std::vector<ResourceMap>(2, {{"CPU", 1}}), BundleStrategy::kSpread);
  ASSERT_EQ(p.outcome, PlacementOutcome::kPlaced);
  EXPECT_EQ(Distinct(p.nodes), (std::set<std::string>{"b", "c"}));
}

TEST(PlaceBundlesTest, NothingToPlaceOnIsInfeasible) {
  EXPECT_EQ(PlaceBundles({}, {{{"CPU", 1}}}, BundleStrategy::kPack).outcome, PlacementOutcome::kInfeasible);
}

// ---------------------------------------------------- against brute force

// Whether some assignment of bundles to nodes fits `capacity` and the strategy.
bool BruteForceFits(const std::vector<ResourceMap> &capacity, const std::vector<ResourceMap> &bundles,
                    BundleStrategy strategy) {
  std::vector<int> assignment(bundles.size(), 0);
  std::function<bool(size_t)> rec = [&](size_t i) -> bool {
    if (i == bundles.size()) {
      std::vector<ResourceMap> used(capacity.size());
      std::set<int> distinct;
      for (size_t b = 0; b < bundles.size(); ++b) {
        for (auto &[k, v] : bundles[b]) used[assignment[b]][k] += v;
        distinct.insert(assignment[b]);
      }
      if (strategy == BundleStrategy::kStrictPack && distinct.size() > 1) return false;
      if (strategy == BundleStrategy::kStrictSpread && distinct.size() < bundles.size()) return false;
      for (size_t n = 0; n < capacity.size(); ++n)
        if (!Fits(capacity[n], used[n])) return false;
      return true;
    }
    for (size_t n = 0; n < capacity.size(); ++n) {
      assignment[i] = static_cast<int>(n);
      if (rec(i + 1)) return true;
    }
    return false;
  };
  return rec(0);
}

TEST(PlaceBundlesTest, RandomClustersAgreeWithBruteForce) {
  std::mt19937 rng(12345);
  const std::vector<std::string> kinds = {"CPU", "GPU", "mem"};
  const BundleStrategy strategies[] = {BundleStrategy::kPack, BundleStrategy::kSpread,
                                       BundleStrategy::kStrictPack, BundleStrategy::kStrictSpread};
  int placed = 0, unavailable = 0, infeasible = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<PlacementNode> nodes;
    int num_nodes = 1 + static_cast<int>(rng() % 4);
    for (int n = 0; n < num_nodes; ++n) {
      PlacementNode node{"n" + std::to_string(n), {}, {}};
      for (auto &k : kinds) {
        if (rng() % 3 == 0) continue;
        double total = 1 + rng() % 4;
        node.total[k] = total;
        node.available[k] = static_cast<double>(rng() % (static_cast<int>(total) + 1));
      }
      nodes.push_back(node);
    }
    std::vector<ResourceMap> bundles;
    int num_bundles = 1 + static_cast<int>(rng() % 4);
    for (int b = 0; b < num_bundles; ++b) {
      ResourceMap bundle;
      bundle[kinds[rng() % kinds.size()]] = 0.5 * (1 + rng() % 4);
      if (rng() % 3 == 0) bundle[kinds[rng() % kinds.size()]] = 1;
      bundles.push_back(bundle);
    }
    std::vector<ResourceMap> available, total;
    for (auto &n : nodes) {
      available.push_back(n.available);
      total.push_back(n.total);
    }
    for (BundleStrategy s : strategies) {
      SCOPED_TRACE("round " + std::to_string(round) + " strategy " + std::to_string(static_cast<int>(s)));
      auto p = PlaceBundles(nodes, bundles, s);
      bool fits_now = BruteForceFits(available, bundles, s);
      ASSERT_EQ(p.outcome == PlacementOutcome::kPlaced, fits_now);
      if (p.outcome == PlacementOutcome::kPlaced) {
        ++placed;
        ASSERT_EQ(p.nodes.size(), bundles.size());
        std::map<std::string, ResourceMap> used;
        for (size_t b = 0; b < bundles.size(); ++b)
          for (auto &[k, v] : bundles[b]) used[p.nodes[b]][k] += v;
        for (auto &n : nodes) EXPECT_TRUE(Fits(n.available, used[n.id])) << "overcommits " << n.id;
        if (s == BundleStrategy::kStrictPack) {
          EXPECT_EQ(Distinct(p.nodes).size(), 1u);
        }
        if (s == BundleStrategy::kStrictSpread) {
          EXPECT_EQ(Distinct(p.nodes).size(), bundles.size());
        }
        if (s == BundleStrategy::kPack && BruteForceFits(available, bundles, BundleStrategy::kStrictPack)) {
          EXPECT_EQ(Distinct(p.nodes).size(), 1u) << "PACK must use one node when one fits";
        }
        continue;
      }
      bool fits_idle = BruteForceFits(total, bundles, s);
      EXPECT_EQ(p.outcome, fits_idle ? PlacementOutcome::kUnavailable : PlacementOutcome::kInfeasible);
      ++(fits_idle ? unavailable : infeasible);
    }
  }
  // The generator reaches every outcome often enough to mean something.
  EXPECT_GT(placed, 1000);
  EXPECT_GT(unavailable, 300);
  EXPECT_GT(infeasible, 300);
}

TEST(PlaceActorTest, RandomClustersNeverOvercommitAndWaitOnlyWhenNothingFits) {
  std::mt19937 rng(777);
  for (int round = 0; round < 3000; ++round) {
    std::vector<PlacementNode> nodes;
    int num_nodes = 1 + static_cast<int>(rng() % 4);
    for (int n = 0; n < num_nodes; ++n) {
      double total = 1 + rng() % 4;
      nodes.push_back(Node("n" + std::to_string(n), {{"CPU", total}},
                           {{"CPU", static_cast<double>(rng() % (static_cast<int>(total) + 1))}}));
    }
    ResourceMap need = {{"CPU", 0.5 * (1 + rng() % 6)}};
    std::string owner = "n" + std::to_string(rng() % num_nodes);
    auto p = PlaceActor(nodes, need, owner);
    bool any_now = false, any_idle = false;
    for (auto &n : nodes) {
      any_now = any_now || Fits(n.available, need);
      any_idle = any_idle || Fits(n.total, need);
    }
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_EQ(p.outcome == PlacementOutcome::kPlaced, any_now);
    if (any_now) {
      auto it = std::find_if(nodes.begin(), nodes.end(), [&](auto &n) { return n.id == p.node; });
      ASSERT_NE(it, nodes.end());
      EXPECT_TRUE(Fits(it->available, need));
      auto own = std::find_if(nodes.begin(), nodes.end(), [&](auto &n) { return n.id == owner; });
      if (Fits(own->available, need) && Utilization(*own) < kSpreadThreshold) {
        EXPECT_EQ(p.node, owner);
      }
    } else {
      EXPECT_EQ(p.outcome, any_idle ? PlacementOutcome::kUnavailable : PlacementOutcome::kInfeasible);
    }
  }
}

}  // namespace
}  // namespace lumen::control
