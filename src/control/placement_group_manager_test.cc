// The placement-group manager through a real control service and fake nodes
// (control_test_peers.h): all bundles reserved at once, Wait, removal giving
// the bundles back and ending the group's actors, names, strategies, and a
// failed reservation.
#include <gtest/gtest.h>

#include <future>

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

TEST_F(PlacementGroupManagerTest, StrictSpreadWaitsForAsManyNodesAsBundles) {
  FakeNode *first = AddNode();
  auto *client = AddClient();
  auto g = Group(2, "", kStrictSpread);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  // A second node's registration is what lets it go out; before it, nothing did.
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).state(), proto::PG_PENDING);
  EXPECT_TRUE(first->log().Get().reservations.empty());
  FakeNode *second = AddNode();
  first->log().WaitFor([&](const FakeNode::Log &l) {
    return !l.reservations.empty() || !second->log().Get().reservations.empty();
  });
}

TEST_F(PlacementGroupManagerTest, TheReservationGoesToANodeWhoseTotalFitsEveryBundle) {
  FakeNode *small = AddNode({{"CPU", 2}});
  FakeNode *big = AddNode({{"CPU", 8}});
  auto *client = AddClient();
  auto g = Group(3);  // 1 + 2 + 3 CPUs
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  EXPECT_EQ(big->WaitReservation(1).request.group_id(), g.group_id());
  EXPECT_TRUE(small->log().Get().reservations.empty());
  EXPECT_EQ(GetGroup(client->conn(), g.group_id()).node_id(), big->node_id());
}

TEST_F(PlacementGroupManagerTest, AFailedReservationIsTriedAgainWhenANodeRegisters) {
  FakeNode *node = AddNode();
  auto *client = AddClient();
  auto g = Group(1);
  ASSERT_TRUE(CreateGroup(client->conn(), g).ok());
  node->ReservationFailed(node->WaitReservation(1), Status::Internal("bundle bookkeeping failed"));
  auto waiting = WaitGroup(client->conn(), g.group_id(), 600000);
  FakeNode *other = AddNode();
  // One of the live nodes gets the group again; reserving it there creates it.
  FakeNode *retried = nullptr;
  node->log().WaitFor([&](const FakeNode::Log &l) {
    if (l.reservations.size() >= 2) retried = node;
    if (!other->log().Get().reservations.empty()) retried = other;
    return retried != nullptr;
  });
  ASSERT_NE(retried, nullptr);
  retried->Reserved(retried->log().Get().reservations.back());
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
