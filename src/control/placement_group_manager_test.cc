// The placement-group manager through a real control service and fake nodes
// (control_test_peers.h): all bundles reserved at once, Wait, removal giving
// the bundles back and ending the group's actors, names, strategies, and a
// failed reservation.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <set>

#include "control/control_test_peers.h"

namespace lumen::control {
namespace {

using testing::ControlServiceTest;
using testing::FakeNode;

constexpr int kStrictSpread = 3;

proto::PlacementGroupInfo Group(int bundles, const std::string &name = "", int strategy = 0) {
  proto::PlacementGroupInfo g;
  g.set_group_id(NodeID::FromRandom().Hex());
  g.set_name(name);
  g.set_ray_namespace("ns");
  g.set_strategy(strategy);
  for (int i = 0; i < bundles; ++i) (*g.add_bundles()->mutable_amounts())["CPU"] = 1 + i;
  return g;
}

Status CreateGroup(rpc::Connection &conn, const proto::PlacementGroupInfo &g) {
  proto::CreatePlacementGroupRequest req;
  *req.mutable_info() = g;
  proto::Empty rep;
  return conn.CallSync(proto::CREATE_PLACEMENT_GROUP, req, &rep);
}

proto::PlacementGroupInfo GetGroup(rpc::Connection &conn, const std::string &id) {
  proto::GetPlacementGroupRequest req;
  req.set_group_id(id);
  proto::GetPlacementGroupReply rep;
  EXPECT_TRUE(conn.CallSync(proto::GET_PLACEMENT_GROUP, req, &rep).ok());
  EXPECT_TRUE(rep.found());
  return rep.info();
}

void RemoveGroup(rpc::Connection &conn, const std::string &id) {
  proto::PlacementGroupIdRequest req;
  req.set_group_id(id);
  proto::Empty rep;
  ASSERT_TRUE(conn.CallSync(proto::REMOVE_PLACEMENT_GROUP, req, &rep).ok());
}

/// WAIT_PLACEMENT_GROUP, answered later: its future holds `ready`.
std::future<bool> WaitGroup(rpc::Connection &conn, const std::string &id, int64_t timeout_ms) {
  auto done = std::make_shared<std::promise<bool>>();
  proto::WaitPlacementGroupRequest req;
  req.set_group_id(id);
  req.set_timeout_ms(timeout_ms);
  conn.Call(
      proto::WAIT_PLACEMENT_GROUP, req,
      [done](Status st, std::string_view body) {
        proto::WaitPlacementGroupReply rep;
        EXPECT_TRUE(st.ok()) << st.ToString();
        done->set_value(st.ok() && rpc::ParseBody(body, &rep) && rep.ready());
      },
      kForever);
  return done->get_future();
}

bool Ready(std::future<bool> &f) {
  if (f.wait_for(testing::kDeadline) != std::future_status::ready) {
    ADD_FAILURE() << "Wait was never answered";
    return false;
  }
  return f.get();
}

using PlacementGroupManagerTest = ControlServiceTest;

TEST_F(PlacementGroupManagerTest, ReservesEveryBundleInOneRequestAndWaitAnswersOnceReserved) {
  FakeNode *node = AddNode();
  auto *client = AddClient();
  auto g = Group(3);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());

  auto r = node->WaitReservation(1);
  EXPECT_EQ(r.request.group_id(), g.group_id());
  ASSERT_EQ(r.request.bundles_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r.request.bundles(i).amounts().at("CPU"), 1 + i);
  auto waiting = WaitGroup(client->conn(), g.group_id(), /*timeout_ms=*/600000);
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).state(), proto::PG_PENDING);

  node->Reserved(r);
  EXPECT_TRUE(Ready(waiting));
  auto info = GetGroup(client->conn(), g.group_id());
  EXPECT_EQ(info.state(), proto::PG_CREATED);
  EXPECT_EQ(info.node_id(), node->node_id());
  // A Wait after creation is answered at once.
  auto after = WaitGroup(client->conn(), g.group_id(), 600000);
  EXPECT_TRUE(Ready(after));
}

TEST_F(PlacementGroupManagerTest, RemovalReturnsTheBundlesEndsWaitersAndFreesTheName) {
  FakeNode *node = AddNode();
  auto *client = AddClient();
  auto g = Group(1, "pg");
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  EXPECT_EQ(CreateGroup(client->conn(), Group(1, "pg")).code(), StatusCode::kAlreadyExists);
  node->Reserved(node->WaitReservation(1));
  auto created = WaitGroup(client->conn(), g.group_id(), 600000);
  ASSERT_TRUE(Ready(created));

  RemoveGroup(client->conn(), g.group_id());
  node->log().WaitFor([](const FakeNode::Log &l) { return !l.returned_groups.empty(); });
  EXPECT_EQ(node->log().Get().returned_groups, std::vector<std::string>{g.group_id()});
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).state(), proto::PG_REMOVED);
  auto removed = WaitGroup(client->conn(), g.group_id(), 600000);
  EXPECT_FALSE(Ready(removed));
  EXPECT_TRUE(CreateGroup(client->conn(), Group(1, "pg")).ok());
  // Removing twice is harmless: the bundles are returned once.
  RemoveGroup(client->conn(), g.group_id());
  EXPECT_EQ(node->log().Get().returned_groups.size(), 1u);
}

TEST_F(PlacementGroupManagerTest, RemovingAPendingGroupAnswersItsWaitersFalse) {
  FakeNode *node = AddNode();
  auto *client = AddClient();
  auto g = Group(2);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  auto r = node->WaitReservation(1);
  auto waiting = WaitGroup(client->conn(), g.group_id(), 600000);
  RemoveGroup(client->conn(), g.group_id());
  EXPECT_FALSE(Ready(waiting));
  // A reservation that completes after the removal does not revive it.
  node->Reserved(r);
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).state(), proto::PG_REMOVED);
}

// The timeout is the service's clock's: the last instant before it answers
// nothing (a later call on the same connection is answered first), passing
// it answers false, and a Wait with a later deadline stays open.
TEST_F(PlacementGroupManagerTest, WaitAnswersFalseOnceItsTimeoutPassesWhileStillPending) {
  FakeNode *node = AddNode();
  auto *client = AddClient();
  auto g = Group(1);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  auto r = node->WaitReservation(1);  // held by the node until the end
  auto waiting = WaitGroup(client->conn(), g.group_id(), /*timeout_ms=*/60000);
  auto longer = WaitGroup(client->conn(), g.group_id(), /*timeout_ms=*/120000);
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).state(), proto::PG_PENDING);  // both Waits arrived
  clock_.Advance(std::chrono::milliseconds(60000) - std::chrono::nanoseconds(1));
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).state(), proto::PG_PENDING);
  EXPECT_EQ(waiting.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "answered before its timeout";

  clock_.Advance(std::chrono::nanoseconds(1));
  EXPECT_FALSE(Ready(waiting));
  EXPECT_EQ(longer.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  // The group is still pending, and reserving it answers the other Wait.
  node->Reserved(r);
  EXPECT_TRUE(Ready(longer));
}

TEST_F(PlacementGroupManagerTest, RemovalEndsTheActorsPlacedInTheGroup) {
  FakeNode *node = AddNode();
  auto *client = AddClient();
  auto g = Group(1);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  node->Reserved(node->WaitReservation(1));

  proto::TaskSpec spec;
  spec.set_actor_id(ActorID::FromRandom().Binary());
  spec.set_type(proto::ACTOR_CREATION_TASK);
  spec.mutable_actor_creation()->set_placement_group_id(g.group_id());
  proto::RegisterActorRequest reg;
  *reg.mutable_spec() = spec;
  proto::Empty empty;
  ASSERT_TRUE(client->conn().CallSync(proto::REGISTER_ACTOR, reg, &empty).ok());
  proto::CreateActorRequest create;
  *create.mutable_spec() = spec;
  ASSERT_TRUE(client->conn().CallSync(proto::CREATE_ACTOR, create, &empty).ok());
  node->WaitLease(1);

  RemoveGroup(client->conn(), g.group_id());
  auto dead = client->WaitState(spec.actor_id(), proto::DEAD);
  EXPECT_NE(dead.death_cause().find("placement group was removed"), std::string::npos) << dead.death_cause();
}

TEST_F(PlacementGroupManagerTest, AGroupWithNoNodeIsReservedWhenOneRegisters) {
  auto *client = AddClient();
  auto g = Group(1);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  FakeNode *node = AddNode();
  EXPECT_EQ(node->WaitReservation(1).request.group_id(), g.group_id());
}

// ---- several nodes: the nodes say what they have free, the policy places
// each bundle, and the bundles are prepared on every chosen node, then
// committed.

constexpr int kPack = 0;
constexpr int kSpread = 1;

/// True once `node` holds (prepared and committed, not returned) `group`.
bool WaitCommitted(FakeNode *node, const std::string &group) {
  return node->log().WaitFor([&](const FakeNode::Log &l) {
    return l.Holding().count(group) &&
           std::count(l.committed_groups.begin(), l.committed_groups.end(), group);
  });
}

TEST_F(PlacementGroupManagerTest, StrictSpreadWaitsForAsManyNodesAsBundles) {
  FakeNode *first = AddNode();
  first->SetIdle({{"CPU", 4}});
  auto *client = AddClient();
  auto g = Group(2, "", kStrictSpread);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  auto waiting = WaitGroup(client->conn(), g.group_id(), 600000);
  // A second node's registration is what lets it go out; before it, nothing did.
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).state(), proto::PG_PENDING);
  EXPECT_TRUE(first->log().Get().reservations.empty());
  EXPECT_TRUE(first->log().Get().prepares.empty());
  FakeNode *second = AddNode();
  second->SetIdle({{"CPU", 4}});
  ASSERT_TRUE(Ready(waiting));
  EXPECT_TRUE(WaitCommitted(first, g.group_id()));
  EXPECT_TRUE(WaitCommitted(second, g.group_id()));
  auto info = GetGroup(client->conn(), g.group_id());
  ASSERT_EQ(info.bundle_node_ids_size(), 2);
  EXPECT_NE(info.bundle_node_ids(0), info.bundle_node_ids(1));
  // Each node was asked for its one bundle, by its index in the group.
  for (FakeNode *n : {first, second}) {
    auto prepare = n->log().Get().prepares.back();
    ASSERT_EQ(prepare.bundles_size(), 1);
    int index = prepare.bundles(0).index();
    EXPECT_EQ(info.bundle_node_ids(index), n->node_id());
    EXPECT_EQ(prepare.bundles(0).resources().amounts().at("CPU"), 1 + index);
  }
}

TEST_F(PlacementGroupManagerTest, PackPutsTheGroupOnOneNodeThatHasItFree) {
  FakeNode *small = AddNode({{"CPU", 2}});
  FakeNode *big = AddNode({{"CPU", 8}});
  small->SetIdle({{"CPU", 2}});
  big->SetIdle({{"CPU", 8}});
  auto *client = AddClient();
  auto g = Group(3, "", kPack);  // 1 + 2 + 3 CPUs
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  auto waiting = WaitGroup(client->conn(), g.group_id(), 600000);
  ASSERT_TRUE(Ready(waiting));
  EXPECT_TRUE(WaitCommitted(big, g.group_id()));
  EXPECT_EQ(big->log().Get().prepares.back().bundles_size(), 3);
  EXPECT_TRUE(small->log().Get().prepares.empty());
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).node_id(), big->node_id());
}

TEST_F(PlacementGroupManagerTest, PackSpansNodesWhenNoneHasRoomForAll) {
  FakeNode *a = AddNode({{"CPU", 8}});
  FakeNode *b = AddNode({{"CPU", 8}});
  a->SetUsage({{"CPU", 8}}, {{"CPU", 3}});
  b->SetUsage({{"CPU", 8}}, {{"CPU", 3}});
  auto *client = AddClient();
  auto g = Group(3, "", kPack);  // 1 + 2 + 3 CPUs: no node has 6 free, two together have
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  auto waiting = WaitGroup(client->conn(), g.group_id(), 600000);
  ASSERT_TRUE(Ready(waiting));
  EXPECT_TRUE(WaitCommitted(a, g.group_id()));
  EXPECT_TRUE(WaitCommitted(b, g.group_id()));
}

TEST_F(PlacementGroupManagerTest, SpreadPutsBundlesOnDistinctNodesAndRemovalReturnsThemEverywhere) {
  FakeNode *a = AddNode();
  FakeNode *b = AddNode();
  a->SetIdle({{"CPU", 4}});
  b->SetIdle({{"CPU", 4}});
  auto *client = AddClient();
  auto g = Group(2, "", kSpread);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  auto waiting = WaitGroup(client->conn(), g.group_id(), 600000);
  ASSERT_TRUE(Ready(waiting));
  EXPECT_TRUE(WaitCommitted(a, g.group_id()));
  EXPECT_TRUE(WaitCommitted(b, g.group_id()));
  RemoveGroup(client->conn(), g.group_id());
  for (FakeNode *n : {a, b})
    EXPECT_TRUE(n->log().WaitFor([&](const FakeNode::Log &l) { return l.Holding().empty(); }));
}

// Ray's two-phase reservation: a node that cannot prepare its bundle makes
// every other chosen node cancel its prepared bundles, nothing is committed
// anywhere, and the group stays pending until a later attempt succeeds.
TEST_F(PlacementGroupManagerTest, ANodeFailingPrepareLeavesNothingReservedAnywhere) {
  FakeNode *a = AddNode();
  FakeNode *b = AddNode();
  FakeNode *c = AddNode();
  for (FakeNode *n : {a, b, c}) n->SetIdle({{"CPU", 4}});
  c->FailPrepares(true);  // it says it has room, but by the time it is asked it has not
  auto *client = AddClient();
  auto g = Group(3, "", kStrictSpread);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  auto waiting = WaitGroup(client->conn(), g.group_id(), 600000);
  // a and b prepared their bundle, and were told to give it back.
  for (FakeNode *n : {a, b})
    EXPECT_TRUE(n->log().WaitFor([&](const FakeNode::Log &l) {
      return !l.prepares.empty() &&
             std::count(l.returned_groups.begin(), l.returned_groups.end(), g.group_id()) > 0;
    }));
  for (FakeNode *n : {a, b, c}) EXPECT_TRUE(n->log().Get().committed_groups.empty());
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).state(), proto::PG_PENDING);

  c->FailPrepares(false);  // room again: a later attempt reserves the group on all three
  ASSERT_TRUE(Ready(waiting));
  for (FakeNode *n : {a, b, c}) {
    EXPECT_TRUE(WaitCommitted(n, g.group_id()));
    auto log = n->log().Get();
    // Every earlier prepare was cancelled: the node holds the group once.
    EXPECT_EQ(log.Holding(), std::set<std::string>{g.group_id()});
    EXPECT_EQ(log.committed_groups.size(), 1u);
  }
}

TEST_F(PlacementGroupManagerTest, AFailedReservationIsTriedAgainWhenANodeRegisters) {
  FakeNode *node = AddNode();
  auto *client = AddClient();
  auto g = Group(1);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  node->ReservationFailed(node->WaitReservation(1), Status::Internal("bundle bookkeeping failed"));
  auto waiting = WaitGroup(client->conn(), g.group_id(), 600000);
  node->SetIdle({{"CPU", 4}});
  FakeNode *other = AddNode();
  other->SetIdle({{"CPU", 4}});
  // With two nodes, the group is placed and reserved in two phases.
  EXPECT_TRUE(Ready(waiting));
}

TEST_F(PlacementGroupManagerTest, InvalidGroupsAreRefused) {
  auto *client = AddClient();
  EXPECT_EQ(CreateGroup(client->conn(), Group(0)).code(), StatusCode::kInvalidArgument);
  auto empty_bundle = Group(1);
  empty_bundle.mutable_bundles(0)->clear_amounts();
  EXPECT_EQ(CreateGroup(client->conn(), empty_bundle).code(), StatusCode::kInvalidArgument);
  auto g = Group(1);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  EXPECT_EQ(CreateGroup(client->conn(), g).code(), StatusCode::kInvalidArgument);  // same id twice
}

}  // namespace
}  // namespace lumen::control
