// The actor manager's life cycle, through a real control service and fake
// peers (control_test_peers.h): placement by leasing a worker from a node,
// the creation task, the states published, restarts, death with a cause,
// names, kills and fate-sharing with the owner.
#include <gtest/gtest.h>

#include <vector>

#include "control/control_test_peers.h"

namespace lumen::control {
namespace {

using testing::ControlServiceTest;
using testing::FakeNode;
using testing::FakeWorker;

proto::TaskSpec ActorSpec(const std::string &name = "", int max_restarts = 0, bool detached = false) {
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
  cs->set_detached(detached);
  (*cs->mutable_placement_resources()->mutable_amounts())["CPU"] = 1;
  return spec;
}

Status Register(rpc::Connection &conn, const proto::TaskSpec &spec) {
  proto::RegisterActorRequest req;
  *req.mutable_spec() = spec;
  proto::Empty rep;
  return conn.CallSync(proto::REGISTER_ACTOR, req, &rep);
}

void Create(rpc::Connection &conn, const proto::TaskSpec &spec) {
  proto::CreateActorRequest req;
  *req.mutable_spec() = spec;
  proto::Empty rep;
  ASSERT_TRUE(conn.CallSync(proto::CREATE_ACTOR, req, &rep).ok());
}

proto::ActorInfo Lookup(rpc::Connection &conn, const std::string &actor_id) {
  proto::GetAllActorsReply rep;
  EXPECT_TRUE(conn.CallSync(proto::GET_ALL_ACTORS, proto::GetAllActorsRequest(), &rep).ok());
  for (auto &a : rep.actors())
    if (a.actor_id() == actor_id) return a;
  ADD_FAILURE() << "actor not in the table";
  return {};
}

std::string NamedActor(rpc::Connection &conn, const std::string &name) {
  proto::GetNamedActorRequest req;
  req.set_name(name);
  req.set_ray_namespace("ns");
  proto::GetNamedActorReply rep;
  EXPECT_TRUE(conn.CallSync(proto::GET_NAMED_ACTOR, req, &rep).ok());
  return rep.found() ? rep.actor_id() : std::string();
}

using ActorManagerTest = ControlServiceTest;

TEST_F(ActorManagerTest, LeasesAWorkerPushesTheCreationTaskAndPublishesAlive) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec();
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);

  auto lease = node->WaitLease(1);
  EXPECT_TRUE(lease.request.for_actor());
  EXPECT_EQ(lease.request.actor_id(), spec.actor_id());
  EXPECT_EQ(lease.request.resources().amounts().at("CPU"), 1);
  EXPECT_EQ(lease.request.hold().amounts().at("CPU"), 1);
  driver->WaitState(spec.actor_id(), proto::PENDING_CREATION);

  FakeWorker *worker = AddWorker();
  node->Grant(lease, *worker, 7, {1});
  worker->pushed().WaitFor([](auto &v) { return !v.empty(); });
  auto pushed = worker->pushed().Get().at(0);
  EXPECT_EQ(pushed.actor_id(), spec.actor_id());
  EXPECT_EQ(pushed.type(), proto::ACTOR_CREATION_TASK);
  EXPECT_EQ(pushed.actor_creation().num_restarts(), 0);
  ASSERT_EQ(pushed.gpu_ids_size(), 1);  // the lease's GPUs travel with the creation task
  EXPECT_EQ(pushed.gpu_ids(0), 1);

  auto alive = driver->WaitState(spec.actor_id(), proto::ALIVE);
  EXPECT_EQ(alive.address().worker_id(), worker->id().Binary());
  EXPECT_EQ(alive.pid(), 4242);
  EXPECT_EQ(alive.num_restarts(), 0);
  // A later subscriber gets the current state at once.
  auto *other = AddClient();
  proto::ActorIdRequest sub;
  sub.set_actor_id(spec.actor_id());
  proto::SubscribeActorReply sub_rep;
  ASSERT_TRUE(other->conn().CallSync(proto::SUBSCRIBE_ACTOR, sub, &sub_rep).ok());
  EXPECT_TRUE(sub_rep.found());
  EXPECT_EQ(sub_rep.info().state(), proto::ALIVE);
}

TEST_F(ActorManagerTest, RestartsWhileMaxRestartsAllowsThenDiesWithACause) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec("", /*max_restarts=*/1);
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);

  FakeWorker *first = AddWorker();
  node->Grant(node->WaitLease(1), *first, 1);
  driver->WaitState(spec.actor_id(), proto::ALIVE, 0);

  first->Die();
  auto second_lease = node->WaitLease(2);  // a fresh placement
  EXPECT_EQ(second_lease.request.actor_id(), spec.actor_id());
  driver->WaitState(spec.actor_id(), proto::RESTARTING, 1);
  FakeWorker *second = AddWorker();
  node->Grant(second_lease, *second, 2);
  second->pushed().WaitFor([](auto &v) { return !v.empty(); });
  EXPECT_EQ(second->pushed().Get().at(0).actor_creation().num_restarts(), 1);
  auto alive = driver->WaitState(spec.actor_id(), proto::ALIVE, 1);
  EXPECT_EQ(alive.address().worker_id(), second->id().Binary());

  second->Die();
  auto dead = driver->WaitState(spec.actor_id(), proto::DEAD);
  EXPECT_NE(dead.death_cause().find("no restarts left"), std::string::npos) << dead.death_cause();
  EXPECT_NE(dead.death_cause().find("max_restarts=1"), std::string::npos) << dead.death_cause();
  // No third placement was asked for.
  EXPECT_EQ(node->log().Get().leases.size(), 2u);

  // The state API's history: every state entered, in order, with where the
  // worker was; a restart names the incarnation that died. Handle holders
  // are never sent it.
  EXPECT_EQ(dead.state_transitions_size(), 0);
  proto::ActorInfo listed = Lookup(driver->conn(), spec.actor_id());
  std::vector<proto::ActorState> states;
  for (const auto &t : listed.state_transitions()) states.push_back(t.state());
  EXPECT_EQ(states,
            (std::vector<proto::ActorState>{proto::DEPENDENCIES_UNREADY, proto::PENDING_CREATION,
                                            proto::ALIVE, proto::RESTARTING, proto::ALIVE, proto::DEAD}));
  ASSERT_EQ(listed.state_transitions_size(), 6);
  const auto &t = listed.state_transitions();
  EXPECT_TRUE(t[1].worker_id().empty());
  EXPECT_EQ(t[2].worker_id(), first->id().Binary());
  EXPECT_EQ(t[2].pid(), 4242);
  EXPECT_EQ(t[3].worker_id(), first->id().Binary());
  EXPECT_FALSE(t[3].cause().empty());
  EXPECT_EQ(t[4].worker_id(), second->id().Binary());
  EXPECT_EQ(t[5].worker_id(), second->id().Binary());
  EXPECT_EQ(t[5].cause(), listed.death_cause());
  EXPECT_GT(t[0].time_ns(), 1600000000LL * 1000000000LL);  // Unix time, not a steady clock's
  EXPECT_EQ(listed.num_state_transitions_dropped(), 0);
}

TEST_F(ActorManagerTest, AnActorRestartedWithoutEndKeepsItsLatestStateChanges) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec("", /*max_restarts=*/-1);
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);
  constexpr int kRestarts = 40;  // 3 + 2 a restart: past the 64 kept
  for (int i = 0; i <= kRestarts; ++i) {
    FakeWorker *worker = AddWorker();
    node->Grant(node->WaitLease(i + 1), *worker, i + 1);
    driver->WaitState(spec.actor_id(), proto::ALIVE, i);
    if (i < kRestarts) worker->Die();
  }
  proto::ActorInfo listed = Lookup(driver->conn(), spec.actor_id());
  ASSERT_EQ(listed.state_transitions_size(), 64);
  EXPECT_EQ(listed.num_state_transitions_dropped(), 3 + 2 * kRestarts - 64);
  EXPECT_EQ(listed.state_transitions(63).state(), proto::ALIVE);
  EXPECT_EQ(listed.state_transitions(62).state(), proto::RESTARTING);
}

TEST_F(ActorManagerTest, ANamedActorsNameIsReservedAndFreedWhenItIsKilled) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec("counter", /*max_restarts=*/-1);
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Status clash = Register(driver->conn(), ActorSpec("counter"));
  EXPECT_EQ(clash.code(), StatusCode::kAlreadyExists) << clash.ToString();
  EXPECT_EQ(NamedActor(driver->conn(), "counter"), spec.actor_id());

  Create(driver->conn(), spec);
  FakeWorker *worker = AddWorker();
  node->Grant(node->WaitLease(1), *worker, 1);
  driver->WaitState(spec.actor_id(), proto::ALIVE);

  // The node kills the worker it is asked to kill; Kill is answered once
  // the process is gone, and no restart follows despite max_restarts=-1.
  node->OnKill([&](const std::string &id) {
    if (id == worker->id().Binary()) worker->Die();
  });
  proto::KillActorRequest kill;
  kill.set_actor_id(spec.actor_id());
  kill.set_no_restart(true);
  proto::Empty rep;
  ASSERT_TRUE(driver->conn().CallSync(proto::KILL_ACTOR, kill, &rep).ok());
  EXPECT_EQ(node->log().Get().killed_workers, std::vector<std::string>{worker->id().Binary()});
  auto dead = Lookup(driver->conn(), spec.actor_id());
  EXPECT_EQ(dead.state(), proto::DEAD);
  EXPECT_NE(dead.death_cause().find("killed"), std::string::npos) << dead.death_cause();

  EXPECT_EQ(NamedActor(driver->conn(), "counter"), "");
  EXPECT_TRUE(Register(driver->conn(), ActorSpec("counter")).ok());
  EXPECT_EQ(node->log().Get().leases.size(), 1u);
}

TEST_F(ActorManagerTest, KillWithRestartRestartsTheActor) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec("", /*max_restarts=*/1);
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);
  FakeWorker *worker = AddWorker();
  node->Grant(node->WaitLease(1), *worker, 1);
  driver->WaitState(spec.actor_id(), proto::ALIVE);
  node->OnKill([&](const std::string &) { worker->Die(); });

  proto::KillActorRequest kill;
  kill.set_actor_id(spec.actor_id());
  kill.set_no_restart(false);
  proto::Empty rep;
  ASSERT_TRUE(driver->conn().CallSync(proto::KILL_ACTOR, kill, &rep).ok());
  EXPECT_EQ(node->WaitLease(2).request.actor_id(), spec.actor_id());
  driver->WaitState(spec.actor_id(), proto::RESTARTING, 1);
}

TEST_F(ActorManagerTest, AThrowingConstructorIsDeathWithoutRestart) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec("", /*max_restarts=*/3);
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);
  FakeWorker *worker = AddWorker(FakeWorker::Answer::kConstructorThrows);
  node->Grant(node->WaitLease(1), *worker, 1);

  auto dead = driver->WaitState(spec.actor_id(), proto::DEAD);
  EXPECT_NE(dead.death_cause().find("constructor failed"), std::string::npos) << dead.death_cause();
  EXPECT_NE(dead.death_cause().find("boom"), std::string::npos) << dead.death_cause();
  // Its worker is killed, not placed again.
  node->log().WaitFor([&](const FakeNode::Log &l) { return !l.killed_workers.empty(); });
  EXPECT_EQ(node->log().Get().killed_workers.at(0), worker->id().Binary());
  EXPECT_EQ(node->log().Get().leases.size(), 1u);
}

TEST_F(ActorManagerTest, AFailedArgumentIsDeathOnArrival) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec("named");
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  spec.mutable_actor_creation()->set_dependency_error("upstream task failed");
  Create(driver->conn(), spec);
  auto dead = driver->WaitState(spec.actor_id(), proto::DEAD);
  EXPECT_NE(dead.death_cause().find("upstream task failed"), std::string::npos) << dead.death_cause();
  EXPECT_TRUE(node->log().Get().leases.empty());
  EXPECT_EQ(NamedActor(driver->conn(), "named"), "");
}

TEST_F(ActorManagerTest, ARefusedLeaseIsDeathWithTheNodesReason) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec("", /*max_restarts=*/-1);
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);
  node->Refuse(node->WaitLease(1), "runtime_env could not be set up");
  auto dead = driver->WaitState(spec.actor_id(), proto::DEAD);
  EXPECT_NE(dead.death_cause().find("could not be placed"), std::string::npos) << dead.death_cause();
  EXPECT_NE(dead.death_cause().find("runtime_env could not be set up"), std::string::npos);
}

// A worker the control service cannot reach (e.g. out of file descriptors)
// is a failed attempt whose reason the death cause names, not a bare
// "died unexpectedly".
TEST_F(ActorManagerTest, AnUnreachableWorkerIsNamedInTheDeathCause) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec("", /*max_restarts=*/0);
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);
  node->GrantUnreachable(node->WaitLease(1), 9, dir_ + "/nobody-listens.sock");
  auto dead = driver->WaitState(spec.actor_id(), proto::DEAD);
  EXPECT_NE(dead.death_cause().find("could not connect to its worker"), std::string::npos)
      << dead.death_cause();
  EXPECT_NE(dead.death_cause().find("nobody-listens.sock"), std::string::npos) << dead.death_cause();
}

TEST_F(ActorManagerTest, AnActorWithNoNodeIsPlacedWhenANodeRegisters) {
  auto *driver = AddClient();
  auto spec = ActorSpec();
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);
  driver->WaitState(spec.actor_id(), proto::PENDING_CREATION);

  FakeNode *node = AddNode();
  EXPECT_EQ(node->WaitLease(1).request.actor_id(), spec.actor_id());
}

// With several nodes, the actor goes where its resources are free now (the
// nodes are asked).
TEST_F(ActorManagerTest, PlacementGoesToANodeWithTheResourcesFree) {
  FakeNode *small = AddNode({{"CPU", 1}});
  FakeNode *big = AddNode({{"CPU", 1}, {"GPU", 2}});
  small->SetIdle({{"CPU", 1}});
  big->SetIdle({{"CPU", 1}, {"GPU", 2}});
  auto *driver = AddClient();
  auto spec = ActorSpec();
  (*spec.mutable_actor_creation()->mutable_placement_resources()->mutable_amounts())["GPU"] = 1;
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);
  EXPECT_EQ(big->WaitLease(1).request.actor_id(), spec.actor_id());
  EXPECT_TRUE(small->log().Get().leases.empty());
}

// No node has room now: the actor stays pending (it does not fail), the
// nodes are asked again, and it is placed once one has room.
TEST_F(ActorManagerTest, AnActorWaitsWhileNoNodeHasRoomAndIsPlacedOnceOneHas) {
  FakeNode *a = AddNode({{"CPU", 2}});
  FakeNode *b = AddNode({{"CPU", 2}});
  a->SetUsage({{"CPU", 2}}, {});
  b->SetUsage({{"CPU", 2}}, {{"CPU", 0.5}});
  auto *driver = AddClient();
  auto spec = ActorSpec();
  (*spec.mutable_actor_creation()->mutable_placement_resources()->mutable_amounts())["CPU"] = 1;
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);
  driver->WaitState(spec.actor_id(), proto::PENDING_CREATION);
  // Asked more than once: it went on waiting after finding no room.
  EXPECT_TRUE(b->log().WaitFor([](const FakeNode::Log &l) { return l.stats_requests >= 2; }));
  EXPECT_TRUE(a->log().Get().leases.empty());
  EXPECT_TRUE(b->log().Get().leases.empty());
  b->SetUsage({{"CPU", 2}}, {{"CPU", 1}});
  EXPECT_EQ(b->WaitLease(1).request.actor_id(), spec.actor_id());
  EXPECT_TRUE(a->log().Get().leases.empty());
}

// The owner's node while it is less than half used (Ray's hybrid policy),
// the least used node once it is busier.
TEST_F(ActorManagerTest, AnActorGoesToItsOwnersNodeUntilItIsHalfUsed) {
  FakeNode *a = AddNode({{"CPU", 4}});
  FakeNode *b = AddNode({{"CPU", 4}});
  a->SetIdle({{"CPU", 4}});
  b->SetUsage({{"CPU", 4}}, {{"CPU", 3}});
  auto *driver = AddClient();
  auto first = ActorSpec();
  first.mutable_caller()->set_node_id(b->node_id());
  (*first.mutable_actor_creation()->mutable_placement_resources()->mutable_amounts())["CPU"] = 1;
  ASSERT_TRUE(Register(driver->conn(), first).ok());
  Create(driver->conn(), first);
  EXPECT_EQ(b->WaitLease(1).request.actor_id(), first.actor_id());

  b->SetUsage({{"CPU", 4}}, {{"CPU", 2}});  // half used
  auto second = ActorSpec();
  second.mutable_caller()->set_node_id(b->node_id());
  (*second.mutable_actor_creation()->mutable_placement_resources()->mutable_amounts())["CPU"] = 1;
  ASSERT_TRUE(Register(driver->conn(), second).ok());
  Create(driver->conn(), second);
  EXPECT_EQ(a->WaitLease(1).request.actor_id(), second.actor_id());
  EXPECT_EQ(b->log().Get().leases.size(), 1u);
}

TEST_F(ActorManagerTest, TheOwnerLeavingEndsItsActorsButNotDetachedOnes) {
  FakeNode *node = AddNode();
  auto *owner = AddClient();
  auto *watcher = AddClient();
  auto owned = ActorSpec();
  auto detached = ActorSpec("keeper", 0, /*detached=*/true);
  for (auto *spec : {&owned, &detached}) {
    ASSERT_TRUE(Register(owner->conn(), *spec).ok());
    Create(owner->conn(), *spec);
  }
  // Subscribed before the actors are placed, so the watcher sees every change.
  for (auto *spec : {&owned, &detached}) {
    proto::ActorIdRequest sub;
    sub.set_actor_id(spec->actor_id());
    proto::SubscribeActorReply rep;
    ASSERT_TRUE(watcher->conn().CallSync(proto::SUBSCRIBE_ACTOR, sub, &rep).ok());
  }
  FakeWorker *w1 = AddWorker();
  FakeWorker *w2 = AddWorker();
  // Leases may come in either order: grant each to the worker of its actor.
  node->WaitLease(2);
  for (auto &l : node->log().Get().leases)
    node->Grant(l, l.request.actor_id() == owned.actor_id() ? *w1 : *w2,
                l.request.actor_id() == owned.actor_id() ? 1 : 2);
  watcher->WaitState(owned.actor_id(), proto::ALIVE);
  watcher->WaitState(detached.actor_id(), proto::ALIVE);

  owner->Close();
  auto dead = watcher->WaitState(owned.actor_id(), proto::DEAD);
  EXPECT_NE(dead.death_cause().find("owner"), std::string::npos) << dead.death_cause();
  node->log().WaitFor([&](const FakeNode::Log &l) { return !l.killed_workers.empty(); });
  EXPECT_EQ(node->log().Get().killed_workers, std::vector<std::string>{w1->id().Binary()});
  EXPECT_EQ(Lookup(watcher->conn(), detached.actor_id()).state(), proto::ALIVE);
  EXPECT_EQ(NamedActor(watcher->conn(), "keeper"), detached.actor_id());
}

TEST_F(ActorManagerTest, ALeaseGrantedAfterAKillIsGivenBack) {
  FakeNode *node = AddNode();
  auto *driver = AddClient();
  auto spec = ActorSpec();
  ASSERT_TRUE(Register(driver->conn(), spec).ok());
  Create(driver->conn(), spec);
  auto lease = node->WaitLease(1);

  proto::KillActorRequest kill;
  kill.set_actor_id(spec.actor_id());
  kill.set_no_restart(true);
  proto::Empty rep;
  ASSERT_TRUE(driver->conn().CallSync(proto::KILL_ACTOR, kill, &rep).ok());  // answered at once: no worker
  driver->WaitState(spec.actor_id(), proto::DEAD);

  FakeWorker *worker = AddWorker();
  node->Grant(lease, *worker, 99);
  node->log().WaitFor([](const FakeNode::Log &l) { return !l.returned_leases.empty(); });
  EXPECT_EQ(node->log().Get().returned_leases.at(0), 99u);
  EXPECT_TRUE(worker->pushed().Get().empty());
}

TEST_F(ActorManagerTest, KillingAnUnknownActorIsNotFound) {
  auto *driver = AddClient();
  proto::KillActorRequest kill;
  kill.set_actor_id(ActorID::FromRandom().Binary());
  kill.set_no_restart(true);
  proto::Empty rep;
  EXPECT_EQ(driver->conn().CallSync(proto::KILL_ACTOR, kill, &rep).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace lumen::control
