// Nodes that die, as the control service sees them, through a real control
// service on a FakeClock and fake peers (control_test_peers.h): death by the
// node's connection closing and by silence past the death timeout (the
// health check), the node table and NODE_CHANGED afterwards, a dead node
// that comes back, its actors restarting elsewhere or dying with a cause
// naming the node, and its placement-group bundles placed again.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "control/control_test_peers.h"

namespace lumen::control {
namespace {

using testing::ControlServiceTest;
using testing::FakeClient;
using testing::FakeNode;
using testing::FakeWorker;
using testing::kHealthCheckPeriod;
using testing::kNodeDeathTimeout;

constexpr int kStrictSpread = 3;

proto::NodeInfo NodeRecord(rpc::Connection &conn, const std::string &node_id) {
  proto::GetAllNodesReply rep;
  EXPECT_TRUE(conn.CallSync(proto::GET_ALL_NODES, proto::GetAllNodesRequest(), &rep).ok());
  for (auto &n : rep.nodes())
    if (n.node_id() == node_id) return n;
  ADD_FAILURE() << "node not in the table";
  return {};
}

/// Waits for the NODE_CHANGED of `node_id`'s death; returns it.
proto::NodeInfo WaitDeath(FakeClient &client, const std::string &node_id) {
  proto::NodeInfo found;
  client.node_changes().WaitFor([&](const std::vector<proto::NodeInfo> &v) {
    for (auto &n : v)
      if (n.node_id() == node_id && !n.alive()) {
        found = n;
        return true;
      }
    return false;
  });
  return found;
}

proto::TaskSpec ActorSpec(const std::string &name, int max_restarts) {
  proto::TaskSpec spec;
  spec.set_task_id(TaskID::FromRandom().Binary());
  spec.set_job_id(1);
  spec.set_type(proto::ACTOR_CREATION_TASK);
  spec.set_actor_id(ActorID::FromRandom().Binary());
  spec.mutable_function()->set_class_name("Counter");
  (*spec.mutable_resources()->mutable_amounts())["CPU"] = 1;
  auto *cs = spec.mutable_actor_creation();
  cs->set_name(name);
  cs->set_ray_namespace("ns");
  cs->set_max_restarts(max_restarts);
  cs->set_detached(!name.empty());
  (*cs->mutable_placement_resources()->mutable_amounts())["CPU"] = 1;
  return spec;
}

void StartActor(rpc::Connection &conn, const proto::TaskSpec &spec) {
  proto::RegisterActorRequest reg;
  *reg.mutable_spec() = spec;
  proto::Empty rep;
  ASSERT_TRUE(conn.CallSync(proto::REGISTER_ACTOR, reg, &rep).ok());
  proto::CreateActorRequest create;
  *create.mutable_spec() = spec;
  ASSERT_TRUE(conn.CallSync(proto::CREATE_ACTOR, create, &rep).ok());
}

/// Polls `done` (a query of the service) until it holds; false past a
/// deadline only a hang reaches.
template <class F>
bool PollUntil(F done) {
  const auto until = std::chrono::steady_clock::now() + testing::kDeadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

using NodeDeathTest = ControlServiceTest;

// The node a driver starts on a machine with no other (NodeInfo.for_driver)
// ends with its driver: its death reason says whose node it was, then why
// its connection closed, as any node's does.
TEST_F(NodeDeathTest, ADriversOwnNodesDeathSaysWhoseNodeItWas) {
  FakeClient *driver = AddClient();
  driver->SubscribeNodeChanges();
  auto conn = rpc::Connect(loop_, address_, testing::kToken, nullptr);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  proto::NodeInfo info;
  info.set_node_id(NodeID::FromRandom().Binary());
  info.set_raylet_address("unix:/nonexistent/driver-node.sock");
  info.set_for_driver(true);
  proto::RegisterNodeReply rep;
  ASSERT_TRUE(conn.value()->CallSync(proto::REGISTER_NODE, info, &rep).ok());
  EXPECT_TRUE(NodeRecord(driver->conn(), info.node_id()).for_driver());

  conn.value()->Close();
  proto::NodeInfo told = WaitDeath(*driver, info.node_id());
  EXPECT_TRUE(told.for_driver());
  EXPECT_EQ(told.death_reason().rfind("it was the node of a driver", 0), 0u) << told.death_reason();
  EXPECT_NE(told.death_reason().find("connection to the control service closed"), std::string::npos)
      << told.death_reason();
}

TEST_F(NodeDeathTest, ANodeWhoseConnectionClosesIsDeadAtOnceAndSubscribersAreToldOnce) {
  FakeNode *a = AddNode();
  FakeNode *b = AddNode();
  FakeClient *driver = AddClient();
  driver->SubscribeNodeChanges();

  a->Close();
  proto::NodeInfo told = WaitDeath(*driver, a->node_id());
  EXPECT_NE(told.death_reason().find("connection to the control service closed"), std::string::npos)
      << told.death_reason();
  proto::NodeInfo record = NodeRecord(driver->conn(), a->node_id());
  EXPECT_FALSE(record.alive());
  EXPECT_EQ(record.death_reason(), told.death_reason());
  EXPECT_GT(record.death_time_ms(), 0);
  EXPECT_TRUE(NodeRecord(driver->conn(), b->node_id()).alive());

  // Told once: a later death is the next notification.
  b->Close();
  WaitDeath(*driver, b->node_id());
  auto changes = driver->node_changes().Get();
  EXPECT_EQ(std::count_if(changes.begin(), changes.end(),
                          [&](const proto::NodeInfo &n) { return n.node_id() == a->node_id(); }),
            1);
}

// A node cut off from the network keeps its connection open and says
// nothing: dead once a health check has gone unanswered for the timeout, not
// before; a node that answers stays alive however far the clock moves.
TEST_F(NodeDeathTest, ASilentNodeIsDeadOnceAHealthCheckGoesUnansweredForTheTimeout) {
  FakeNode *talking = AddNode();
  FakeNode *silent = AddNode();
  FakeClient *driver = AddClient();
  driver->SubscribeNodeChanges();
  for (int i = 1; i <= 3; ++i) {
    clock_.Advance(kHealthCheckPeriod);
    talking->WaitHealthChecks(i);
    silent->WaitHealthChecks(i);
    talking->Sync();
    silent->Sync();
  }
  clock_.Advance(kNodeDeathTimeout * 3);  // far past the timeout, with every check answered
  talking->WaitHealthChecks(4);
  silent->WaitHealthChecks(4);
  talking->Sync();
  silent->Sync();
  EXPECT_TRUE(NodeRecord(driver->conn(), talking->node_id()).alive());
  EXPECT_TRUE(NodeRecord(driver->conn(), silent->node_id()).alive());

  silent->Silence(true);
  clock_.Advance(kHealthCheckPeriod);
  silent->WaitHealthChecks(5);  // sent, unanswered
  talking->WaitHealthChecks(5);
  talking->Sync();
  clock_.Advance(kNodeDeathTimeout - std::chrono::milliseconds(1));
  EXPECT_TRUE(NodeRecord(driver->conn(), silent->node_id()).alive()) << "not before the timeout";
  clock_.Advance(std::chrono::milliseconds(1));
  proto::NodeInfo told = WaitDeath(*driver, silent->node_id());
  EXPECT_NE(told.death_reason().find("did not answer the control service's health check for 10000 ms"),
            std::string::npos)
      << told.death_reason();
  EXPECT_FALSE(NodeRecord(driver->conn(), silent->node_id()).alive());
  EXPECT_TRUE(NodeRecord(driver->conn(), talking->node_id()).alive());

  // Its registration is over: the control service closed its connection,
  // and it is not taken back under the same id.
  EXPECT_TRUE(PollUntil([&] { return !silent->Open(); }));
  Status again = silent->RegisterAgain(loop_, address_);
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.message().find("must restart as a new node"), std::string::npos) << again.ToString();
  EXPECT_FALSE(NodeRecord(driver->conn(), silent->node_id()).alive());
}

// A detached, named actor with a restart left: its node dies, it restarts
// on the other node, keeping its name.
TEST_F(NodeDeathTest, AnActorOnADeadNodeRestartsOnAnotherNodeKeepingItsName) {
  FakeNode *a = AddNode();
  FakeNode *b = AddNode();
  a->SetIdle({{"CPU", 4}});
  b->SetUsage({{"CPU", 4}}, {{"CPU", 0}});  // no room: the actor goes to A first
  FakeClient *driver = AddClient();
  auto spec = ActorSpec("keeper", /*max_restarts=*/1);
  StartActor(driver->conn(), spec);
  FakeWorker *first = AddWorker();
  a->Grant(a->WaitLease(1), *first, 1);
  driver->WaitState(spec.actor_id(), proto::ALIVE, 0);

  b->SetIdle({{"CPU", 4}});
  a->Close();  // the node's processes die (its worker here stays up: it is cut off with it)
  auto lease = b->WaitLease(1);
  EXPECT_EQ(lease.request.actor_id(), spec.actor_id());
  driver->WaitState(spec.actor_id(), proto::RESTARTING, 1);
  FakeWorker *second = AddWorker();
  b->Grant(lease, *second, 2);
  auto alive = driver->WaitState(spec.actor_id(), proto::ALIVE, 1);
  EXPECT_EQ(alive.address().worker_id(), second->id().Binary());

  proto::GetNamedActorRequest req;
  req.set_name("keeper");
  req.set_ray_namespace("ns");
  proto::GetNamedActorReply named;
  ASSERT_TRUE(driver->conn().CallSync(proto::GET_NAMED_ACTOR, req, &named).ok());
  EXPECT_TRUE(named.found());
  EXPECT_EQ(named.actor_id(), spec.actor_id());
}

// No restarts left, and the node is cut off (its worker's connection stays
// open): the actor is DEAD with a cause naming the node's death.
TEST_F(NodeDeathTest, AnActorWithNoRestartsLeftDiesNamingItsNodesDeath) {
  FakeNode *a = AddNode();
  FakeNode *b = AddNode();
  a->SetIdle({{"CPU", 4}});
  b->SetUsage({{"CPU", 4}}, {{"CPU", 0}});
  FakeClient *driver = AddClient();
  auto spec = ActorSpec("", /*max_restarts=*/0);
  StartActor(driver->conn(), spec);
  FakeWorker *worker = AddWorker();
  a->Grant(a->WaitLease(1), *worker, 1);
  driver->WaitState(spec.actor_id(), proto::ALIVE, 0);

  a->Silence(true);
  clock_.Advance(kHealthCheckPeriod);
  a->WaitHealthChecks(1);
  b->WaitHealthChecks(1);
  b->Sync();  // B's answer is in: B stays alive
  clock_.Advance(kNodeDeathTimeout);
  auto dead = driver->WaitState(spec.actor_id(), proto::DEAD);
  EXPECT_NE(dead.death_cause().find("its node " + ToHex(a->node_id())), std::string::npos)
      << dead.death_cause();
  EXPECT_NE(dead.death_cause().find("died: it did not answer"), std::string::npos) << dead.death_cause();
  EXPECT_NE(dead.death_cause().find("max_restarts=0"), std::string::npos) << dead.death_cause();
  EXPECT_EQ(b->log().Get().leases.size(), 0u) << "not placed again";
}

// A STRICT_SPREAD group on A and B; A dies: its bundle alone is placed again,
// on C (which holds none of the group), and the group is CREATED again; B's
// bundle is never returned.
TEST_F(NodeDeathTest, ADeadNodesBundlesArePlacedAgainOnAnotherNode) {
  FakeNode *a = AddNode();
  FakeNode *b = AddNode();
  FakeNode *c = AddNode();
  a->SetIdle({{"CPU", 4}});
  b->SetIdle({{"CPU", 4}});
  c->SetUsage({{"CPU", 4}}, {{"CPU", 0}});
  FakeClient *driver = AddClient();
  proto::PlacementGroupInfo g;
  g.set_group_id(NodeID::FromRandom().Hex());
  g.set_ray_namespace("ns");
  g.set_strategy(kStrictSpread);
  for (int i = 0; i < 2; ++i) (*g.add_bundles()->mutable_amounts())["CPU"] = 1;
  proto::CreatePlacementGroupRequest create;
  *create.mutable_info() = g;
  proto::Empty empty;
  ASSERT_TRUE(driver->conn().CallSync(proto::CREATE_PLACEMENT_GROUP, create, &empty).ok());
  auto info = [&] {
    proto::GetPlacementGroupRequest req;
    req.set_group_id(g.group_id());
    proto::GetPlacementGroupReply rep;
    EXPECT_TRUE(driver->conn().CallSync(proto::GET_PLACEMENT_GROUP, req, &rep).ok());
    return rep.info();
  };
  auto committed = [&](FakeNode *n) {
    return n->log().WaitFor([&](const FakeNode::Log &l) {
      return std::count(l.committed_groups.begin(), l.committed_groups.end(), g.group_id()) > 0;
    });
  };
  ASSERT_TRUE(committed(a));
  ASSERT_TRUE(committed(b));
  ASSERT_TRUE(PollUntil([&] { return info().state() == proto::PG_CREATED; }));
  const proto::PlacementGroupInfo before = info();
  int on_a = -1;
  for (int i = 0; i < 2; ++i)
    if (before.bundle_node_ids(i) == a->node_id()) on_a = i;
  ASSERT_GE(on_a, 0);

  c->SetIdle({{"CPU", 4}});
  a->Close();
  ASSERT_TRUE(committed(c));
  auto prepares = c->log().Get().prepares;
  ASSERT_EQ(prepares.size(), 1u);
  ASSERT_EQ(prepares[0].bundles_size(), 1) << "only the lost bundle";
  EXPECT_EQ(prepares[0].bundles(0).index(), on_a);
  ASSERT_TRUE(PollUntil([&] { return info().state() == proto::PG_CREATED; }));
  auto after = info();
  EXPECT_EQ(after.bundle_node_ids(on_a), c->node_id());
  EXPECT_EQ(after.bundle_node_ids(1 - on_a), b->node_id());
  EXPECT_TRUE(b->log().Get().returned_groups.empty()) << "the surviving bundle stays reserved";
  EXPECT_EQ(b->log().Get().prepares.size(), 1u);
}

}  // namespace
}  // namespace lumen::control
