// The lease spillback policy against hand-computed cases (no processes).
#include "scheduler/lease_policy.h"

#include <gtest/gtest.h>

#include <map>

namespace lumen::scheduler {
namespace {

constexpr uint32_t kJob = 7;
const Clock::TimePoint kNow = Clock::TimePoint() + std::chrono::hours(1);

ResourceNode Node(const std::string &id, ResourceMap total, ResourceMap available) {
  return ResourceNode{id, std::move(total), std::move(available)};
}

RemoteNode Remote(const std::string &id, ResourceMap total, ResourceMap available, bool alive = true,
                  bool runs_job = true) {
  RemoteNode n;
  n.resources = Node(id, std::move(total), std::move(available));
  n.address = "unix:/nodes/" + id;
  n.alive = alive;
  if (runs_job) n.startable_jobs = {kJob};
  return n;
}

ClusterSnapshot Fresh(std::vector<RemoteNode> nodes) {
  ClusterSnapshot v;
  v.valid = true;
  v.as_of = kNow - std::chrono::milliseconds(10);
  v.nodes = std::move(nodes);
  return v;
}

LeaseQuery Need(ResourceMap need, int hops = 0) { return LeaseQuery{std::move(need), kJob, hops}; }

// Where the decision sends the request: "local", "infeasible", "refresh" or
// the remote node's id.
std::string Where(const LeaseDecision &d) {
  switch (d.action) {
    case LeaseAction::kLocal:
      return "local";
    case LeaseAction::kInfeasible:
      return "infeasible";
    case LeaseAction::kRefreshView:
      return "refresh";
    case LeaseAction::kSpill:
      return d.node->resources.id;
  }
  return "?";
}

std::string Decide(const ResourceNode &local, const ClusterSnapshot &view, const LeaseQuery &q) {
  return Where(DecideLease(local, Fits(local.available, q.need), view, q, kNow));
}

TEST(LeasePolicyTest, TheLocalNodeBelowTheThresholdGrantsWithoutAView) {
  // 4 CPUs, 1 used: 25% < 50%. No view was ever received.
  auto local = Node("A", {{"CPU", 4}}, {{"CPU", 3}});
  auto d = DecideLease(local, true, ClusterSnapshot{}, Need({{"CPU", 1}}), kNow);
  EXPECT_EQ(Where(d), "local");
  EXPECT_FALSE(d.refresh_view) << "the fast path reads no view";
  EXPECT_TRUE(GrantsLocally(0.25, true, {}));
  EXPECT_FALSE(GrantsLocally(0.5, true, {})) << "at the threshold it is no longer below it";
  EXPECT_FALSE(GrantsLocally(0.0, false, {}));
}

TEST(LeasePolicyTest, AboveTheThresholdItGoesToAnIdleRemote) {
  // A: 3 of 4 CPUs used (75%); B idle (0%): B, the first below 50%.
  auto local = Node("A", {{"CPU", 4}}, {{"CPU", 1}});
  auto view = Fresh({Remote("B", {{"CPU", 4}}, {{"CPU", 4}})});
  auto d = DecideLease(local, true, view, Need({{"CPU", 1}}), kNow);
  ASSERT_EQ(Where(d), "B");
  EXPECT_EQ(d.node->address, "unix:/nodes/B");
}

TEST(LeasePolicyTest, AboveTheThresholdEverywhereTheLeastLoadedTakesIt) {
  auto local = Node("A", {{"CPU", 4}}, {{"CPU", 1}});  // 75%
  // B 87.5% (7 of 8 used), C 62.5% (5 of 8): C is the least loaded.
  EXPECT_EQ(
      Decide(local, Fresh({Remote("B", {{"CPU", 8}}, {{"CPU", 1}}), Remote("C", {{"CPU", 8}}, {{"CPU", 3}})}),
             Need({{"CPU", 1}})),
      "C");
  // B 87.5%, C 100% (nothing free): this node, at 75%, is least loaded.
  EXPECT_EQ(
      Decide(local, Fresh({Remote("B", {{"CPU", 8}}, {{"CPU", 1}}), Remote("C", {{"CPU", 8}}, {{"CPU", 0}})}),
             Need({{"CPU", 1}})),
      "local");
}

TEST(LeasePolicyTest, NodesBelowTheThresholdGoFirstInTheirOrder) {
  auto local = Node("A", {{"CPU", 2}}, {{"CPU", 0}});  // full
  // B 25% and C 0%: both below 50%, B comes first in the view.
  EXPECT_EQ(
      Decide(local, Fresh({Remote("B", {{"CPU", 4}}, {{"CPU", 3}}), Remote("C", {{"CPU", 4}}, {{"CPU", 4}})}),
             Need({{"CPU", 1}})),
      "B");
  // B 75% (above), C 25% (below): C, although B is first.
  EXPECT_EQ(
      Decide(local, Fresh({Remote("B", {{"CPU", 4}}, {{"CPU", 1}}), Remote("C", {{"CPU", 4}}, {{"CPU", 3}})}),
             Need({{"CPU", 1}})),
      "C");
}

TEST(LeasePolicyTest, ACustomResourceOnlyARemoteHasTakesItThere) {
  auto local = Node("A", {{"CPU", 4}}, {{"CPU", 4}});  // idle, but without "special"
  auto need = Need({{"CPU", 1}, {"special", 1}});
  EXPECT_EQ(
      Decide(local, Fresh({Remote("B", {{"CPU", 2}, {"special", 1}}, {{"CPU", 2}, {"special", 1}})}), need),
      "B");
  // Even while B's "special" is in use (it waits there, not here as infeasible).
  EXPECT_EQ(
      Decide(local, Fresh({Remote("B", {{"CPU", 2}, {"special", 1}}, {{"CPU", 2}, {"special", 0}})}), need),
      "B");
  // And even when B cannot start the job's workers yet: only there can it run.
  EXPECT_EQ(
      Decide(local,
             Fresh({Remote("B", {{"CPU", 2}, {"special", 1}}, {{"CPU", 2}, {"special", 1}}, true, false)}),
             need),
      "B");
}

TEST(LeasePolicyTest, LoadIsSpreadOnlyToNodesThatCanStartTheJobsWorkers) {
  auto local = Node("A", {{"CPU", 4}}, {{"CPU", 1}});  // 75%
  auto view = Fresh({Remote("B", {{"CPU", 4}}, {{"CPU", 4}}, /*alive=*/true, /*runs_job=*/false)});
  EXPECT_EQ(Decide(local, view, Need({{"CPU", 1}})), "local");
}

// A job whose program the control service holds starts its workers on any
// node (that node learns the job at the lease): load spreads to nodes that
// never saw it.
TEST(LeasePolicyTest, APortableJobsLoadSpreadsToNodesThatHaveNotSeenIt) {
  auto local = Node("A", {{"CPU", 4}}, {{"CPU", 1}});  // 75%
  auto view = Fresh({Remote("B", {{"CPU", 4}}, {{"CPU", 4}}, /*alive=*/true, /*runs_job=*/false)});
  LeaseQuery q = Need({{"CPU", 1}});
  q.portable = true;
  EXPECT_EQ(Decide(local, view, q), "B");
}

TEST(LeasePolicyTest, NothingFitsAnywhereIsInfeasible) {
  auto local = Node("A", {{"CPU", 4}}, {{"CPU", 4}});
  auto view = Fresh({Remote("B", {{"CPU", 8}}, {{"CPU", 8}})});
  EXPECT_EQ(Decide(local, view, Need({{"CPU", 16}})), "infeasible");
  EXPECT_EQ(Decide(local, view, Need({{"CPU", 1}, {"TPU", 1}})), "infeasible");
}

TEST(LeasePolicyTest, ADeadNodeIsNeverChosen) {
  auto busy = Node("A", {{"CPU", 4}}, {{"CPU", 0}});
  // The dead node is idle and has the custom resource; it is chosen for neither.
  auto view =
      Fresh({Remote("B", {{"CPU", 8}, {"special", 1}}, {{"CPU", 8}, {"special", 1}}, /*alive=*/false)});
  EXPECT_EQ(Decide(busy, view, Need({{"CPU", 1}})), "local") << "waits here for its CPU";
  EXPECT_EQ(Decide(busy, view, Need({{"special", 1}})), "infeasible");
  view.nodes.push_back(Remote("C", {{"CPU", 2}}, {{"CPU", 2}}));
  EXPECT_EQ(Decide(busy, view, Need({{"CPU", 1}})), "C");
}

TEST(LeasePolicyTest, AStaleViewNeverMovesWork) {
  auto above = Node("A", {{"CPU", 4}}, {{"CPU", 1}});  // 75%, has room
  auto view = Fresh({Remote("B", {{"CPU", 4}, {"special", 1}}, {{"CPU", 4}, {"special", 1}})});
  view.as_of = kNow - kClusterViewMaxAge - std::chrono::milliseconds(1);
  // Room here: granted here, and a fresh view is asked for the next ones.
  auto d = DecideLease(above, true, view, Need({{"CPU", 1}}), kNow);
  EXPECT_EQ(Where(d), "local");
  EXPECT_TRUE(d.refresh_view);
  // No room here, or never here: decided once a fresh view is in.
  auto full = Node("A", {{"CPU", 4}}, {{"CPU", 0}});
  EXPECT_EQ(Decide(full, view, Need({{"CPU", 1}})), "refresh");
  EXPECT_EQ(Decide(above, view, Need({{"special", 1}})), "refresh");
  EXPECT_EQ(Decide(above, ClusterSnapshot{}, Need({{"special", 1}})), "refresh") << "no view yet";
  // The same view within its age moves it.
  view.as_of = kNow - kClusterViewMaxAge;
  EXPECT_EQ(Decide(full, view, Need({{"CPU", 1}})), "B");
}

TEST(LeasePolicyTest, ASpilledRequestThatFitsIsGrantedWhereItLandsWhateverItsUtilization) {
  auto above = Node("A", {{"CPU", 2}}, {{"CPU", 1}});  // 50%: not below the threshold, has room
  auto view = Fresh({Remote("B", {{"CPU", 2}}, {{"CPU", 2}})});
  EXPECT_EQ(Decide(above, view, Need({{"CPU", 1}})), "B") << "its first node spreads it";
  EXPECT_EQ(Decide(above, view, Need({{"CPU", 1}}, 1)), "local") << "spilled here: not chased on";
  EXPECT_TRUE(GrantsLocally(0.5, true, {}, /*hops=*/1));
  EXPECT_FALSE(GrantsLocally(0.5, false, {}, /*hops=*/1));
}

// A request that reached the spreading bound at a node that turned out busy
// (the view that sent it there was stale) moves on to a node that a fresh
// view shows with room now; it waits here only while none has.
TEST(LeasePolicyTest, AtTheHopBoundAQueuedRequestMovesOnlyToANodeWithRoomNow) {
  auto full = Node("A", {{"CPU", 4}}, {{"CPU", 0}});
  auto idle_b = Remote("B", {{"CPU", 4}, {"special", 1}}, {{"CPU", 4}, {"special", 1}});
  auto busy_b = Remote("B", {{"CPU", 4}, {"special", 1}}, {{"CPU", 0}, {"special", 0}});
  EXPECT_EQ(Decide(full, Fresh({idle_b}), Need({{"CPU", 1}}, kMaxLeaseSpills - 1)), "B");
  EXPECT_EQ(Decide(full, Fresh({idle_b}), Need({{"CPU", 1}}, kMaxLeaseSpills)), "B");
  EXPECT_EQ(Decide(full, Fresh({busy_b}), Need({{"CPU", 1}}, kMaxLeaseSpills)), "local") << "queued here";
  EXPECT_EQ(Decide(full, Fresh({idle_b}), Need({{"special", 1}}, kMaxLeaseSpills)), "B");
  EXPECT_EQ(Decide(full, Fresh({busy_b}), Need({{"special", 1}}, kMaxLeaseSpills)), "infeasible")
      << "held here";
  // A stale view does not move it; a fresh one is asked for.
  auto stale = Fresh({idle_b});
  stale.as_of = kNow - kClusterViewMaxAge - std::chrono::milliseconds(1);
  auto d = DecideLease(full, false, stale, Need({{"CPU", 1}}, kMaxLeaseSpills), kNow);
  EXPECT_EQ(Where(d), "local");
  EXPECT_TRUE(d.refresh_view);
  // Past the bound on all moves it stays whatever the view says.
  EXPECT_EQ(Decide(full, Fresh({idle_b}), Need({{"CPU", 1}}, kMaxLeaseMoves)), "local");
  EXPECT_EQ(Decide(full, Fresh({idle_b}), Need({{"special", 1}}, kMaxLeaseMoves)), "infeasible");
}

TEST(LeasePolicyTest, BusyButFeasibleHereWaitsHereUnlessOnlyARemoteCanEverRunIt) {
  auto full = Node("A", {{"CPU", 4}}, {{"CPU", 0}});
  auto busy_b = Remote("B", {{"CPU", 8}}, {{"CPU", 0}});
  EXPECT_EQ(Decide(full, Fresh({busy_b}), Need({{"CPU", 2}})), "local");
  // 6 CPUs: only B's total fits it; B is busy, so it waits on B.
  EXPECT_EQ(Decide(full, Fresh({busy_b}), Need({{"CPU", 6}})), "B");
  // Neither of two such nodes has 6 free: the less utilized, C (50%), over B (100%).
  EXPECT_EQ(Decide(full, Fresh({busy_b, Remote("C", {{"CPU", 8}}, {{"CPU", 4}})}), Need({{"CPU", 6}})), "C");
}

// Requests decided one after another on the same view: each one sent to a
// node takes its room in the view, so the next goes to another node instead
// of all of them to the first idle one.
TEST(LeasePolicyTest, RequestsSpilledOnOneViewBookTheirNodesRoom) {
  auto full = Node("A", {{"CPU", 2}}, {{"CPU", 0}});
  auto view = Fresh({Remote("B", {{"CPU", 2}}, {{"CPU", 2}}), Remote("C", {{"CPU", 2}}, {{"CPU", 2}})});
  std::map<std::string, int> sent;
  for (int i = 0; i < 4; ++i) {
    auto d = DecideLease(full, false, view, Need({{"CPU", 1}}), kNow);
    ASSERT_EQ(d.action, LeaseAction::kSpill);
    ++sent[d.node->resources.id];
    BookOnNode(view, d.node->resources.id, {{"CPU", 1}});
  }
  EXPECT_EQ(sent["B"], 2);
  EXPECT_EQ(sent["C"], 2);
  EXPECT_EQ(Decide(full, view, Need({{"CPU", 1}})), "local") << "no room left anywhere: waits here";
}

TEST(LeasePolicyTest, TheNodesOwnExactCheckOverridesItsMaps) {
  // The maps say 1 GPU is free, but the node's device check says no (e.g. a
  // whole GPU asked while only fractions of devices are free): not here.
  auto local = Node("A", {{"CPU", 4}, {"GPU", 2}}, {{"CPU", 4}, {"GPU", 1}});
  auto view = Fresh({Remote("B", {{"CPU", 4}, {"GPU", 1}}, {{"CPU", 4}, {"GPU", 1}})});
  auto q = Need({{"GPU", 1}});
  EXPECT_EQ(Where(DecideLease(local, /*fits_now=*/false, view, q, kNow)), "B");
}

TEST(LeasePolicyTest, FixedPointUtilizationMatchesTheMaps) {
  ResourceSet total = ResourceSet::FromMap({{"CPU", 4}, {"memory", 1000}, {"special", 2}});
  ResourceSet available = ResourceSet::FromMap({{"CPU", 2.5}, {"memory", 100}, {"special", 2}});
  EXPECT_DOUBLE_EQ(FixedUtilization(total, available), 0.9);  // memory: 900 of 1000 used
  EXPECT_DOUBLE_EQ(FixedUtilization(total, available),
                   Utilization(ResourceNode{"A", ToResourceMap(total), ToResourceMap(available)}));
  EXPECT_EQ(ToResourceMap(available).at("CPU"), 2.5);
}

}  // namespace
}  // namespace lumen::scheduler
