// The owner's lineage and recovery plans without processes: what is kept and
// for how long, what a lost object's recovery re-runs (recursively through
// lost or freed arguments, counting against the task's retries), and what
// it fails, saying why.
#include "worker/object_recovery.h"

#include <gtest/gtest.h>

#include <map>

namespace lumen::worker {
namespace {

using State = ObjectRecovery::ObjectState;

class ObjectRecoveryTest : public ::testing::Test {
 protected:
  // The return of the owner's task number `seq`.
  ObjectID Return(uint64_t seq) { return ObjectID::ForTaskReturn(TaskID::Of(owner_, seq), 1); }
  ObjectID PutId(uint64_t seq) { return ObjectID::ForTaskReturn(TaskID::Of(owner_, (1ull << 63) | seq), 0); }

  // A task `name` whose arguments are `refs` (by reference, in a store) and one small inline value.
  proto::TaskSpec Spec(const std::string &name, const std::vector<ObjectID> &refs, int max_retries = 3) {
    proto::TaskSpec spec;
    spec.mutable_function()->set_function_name(name);
    spec.set_max_retries(max_retries);
    spec.add_args()->set_data("inline");
    for (auto &r : refs) {
      auto *arg = spec.add_args();
      arg->set_is_ref(true);
      arg->set_in_plasma(true);
      arg->set_object_id(r.Binary());
    }
    return spec;
  }
  ObjectRecovery::StateFn States() {
    return [this](const ObjectID &id) {
      auto it = states_.find(id);
      return it == states_.end() ? State::kAvailable : it->second;
    };
  }
  static std::vector<ObjectID> Ids(const std::vector<ObjectRecovery::Resubmit> &r) {
    std::vector<ObjectID> out;
    for (auto &x : r) out.push_back(x.id);
    return out;
  }

  WorkerID owner_ = WorkerID::FromRandom();
  std::map<ObjectID, State> states_;
};

TEST_F(ObjectRecoveryTest, ALostReturnIsMadeAgainByItsTaskCountingAgainstItsRetries) {
  ObjectRecovery recovery;
  ObjectID a = Return(1);
  recovery.AddLineage(a, Spec("make", {}), 2);
  auto plan = recovery.PlanRecovery(a, "node n1 died", States());
  EXPECT_TRUE(plan.fail.empty());
  ASSERT_EQ(plan.resubmit.size(), 1u);
  EXPECT_EQ(plan.resubmit[0].id, a);
  EXPECT_EQ(plan.resubmit[0].spec.function().function_name(), "make");
  EXPECT_EQ(plan.resubmit[0].retries_left, 1);

  // The re-run finished with what it had left; lost again, it runs again, then not.
  recovery.AddLineage(a, plan.resubmit[0].spec, plan.resubmit[0].retries_left);
  plan = recovery.PlanRecovery(a, "node n2 died", States());
  ASSERT_EQ(plan.resubmit.size(), 1u);
  EXPECT_EQ(plan.resubmit[0].retries_left, 0);
  recovery.AddLineage(a, plan.resubmit[0].spec, 0);
  plan = recovery.PlanRecovery(a, "node n3 died", States());
  EXPECT_TRUE(plan.resubmit.empty());
  ASSERT_EQ(plan.fail.size(), 1u);
  EXPECT_EQ(plan.fail[0].id, a);
  EXPECT_NE(plan.fail[0].message.find("node n3 died"), std::string::npos) << plan.fail[0].message;
  EXPECT_NE(plan.fail[0].message.find("('make') has no retries left (max_retries=3)"), std::string::npos)
      << plan.fail[0].message;
}

TEST_F(ObjectRecoveryTest, APutOrAnUnkeptReturnCannotBeMadeAgainAndTheMessageSaysWhy) {
  ObjectRecovery recovery;
  auto plan = recovery.PlanRecovery(PutId(1), "node n1 died", States());
  ASSERT_EQ(plan.fail.size(), 1u);
  EXPECT_TRUE(plan.resubmit.empty());
  EXPECT_NE(plan.fail[0].message.find("made by ray::Put"), std::string::npos) << plan.fail[0].message;
  EXPECT_NE(plan.fail[0].message.find("node n1 died"), std::string::npos);

  plan = recovery.PlanRecovery(Return(7), "node n1 died", States());
  ASSERT_EQ(plan.fail.size(), 1u);
  EXPECT_NE(plan.fail[0].message.find("not kept"), std::string::npos) << plan.fail[0].message;
}

TEST_F(ObjectRecoveryTest, LostArgumentsAreMadeAgainBeforeTheTaskThatNeedsThem) {
  ObjectRecovery recovery;
  ObjectID a = Return(1), b = Return(2), c = Return(3);
  recovery.AddLineage(a, Spec("a", {}), 1);
  recovery.AddLineage(b, Spec("b", {a}), 1);
  recovery.AddLineage(c, Spec("c", {b, a}), 1);
  states_[a] = State::kLost;
  states_[b] = State::kLost;
  auto plan = recovery.PlanRecovery(c, "node n1 died", States());
  EXPECT_TRUE(plan.fail.empty());
  EXPECT_EQ(Ids(plan.resubmit), (std::vector<ObjectID>{a, b, c}));  // each once, arguments first
}

TEST_F(ObjectRecoveryTest, AnAvailableOrPendingArgumentIsNotMadeAgain) {
  ObjectRecovery recovery;
  ObjectID a = Return(1), b = Return(2), c = Return(3);
  recovery.AddLineage(a, Spec("a", {}), 1);
  recovery.AddLineage(b, Spec("b", {}), 1);
  recovery.AddLineage(c, Spec("c", {a, b}), 1);
  states_[b] = State::kPending;
  auto plan = recovery.PlanRecovery(c, "node n1 died", States());
  EXPECT_EQ(Ids(plan.resubmit), (std::vector<ObjectID>{c}));
}

TEST_F(ObjectRecoveryTest, AFreedArgumentIsKeptWhileATaskThatUsedItIsKept) {
  ObjectRecovery recovery;
  ObjectID a = Return(1), b = Return(2);
  recovery.AddLineage(a, Spec("a", {}), 1);
  recovery.AddLineage(b, Spec("b", {a}), 1);
  recovery.OnObjectFreed(a);  // the program dropped its ref to a; b's lineage still needs it
  EXPECT_TRUE(recovery.Keeps(a));
  states_[a] = State::kFreed;
  auto plan = recovery.PlanRecovery(b, "node n1 died", States());
  EXPECT_EQ(Ids(plan.resubmit), (std::vector<ObjectID>{a, b}));

  // Freeing b releases both.
  recovery.OnObjectFreed(b);
  EXPECT_FALSE(recovery.Keeps(b));
  EXPECT_FALSE(recovery.Keeps(a));
  EXPECT_EQ(recovery.num_kept(), 0u);
  EXPECT_EQ(recovery.lineage_bytes(), 0u);
}

TEST_F(ObjectRecoveryTest, AFreedArgumentWithoutLineageFailsTheTaskSayingWhich) {
  ObjectRecovery recovery;
  ObjectID p = PutId(1), b = Return(2);
  recovery.AddLineage(b, Spec("b", {p}), 1);
  states_[p] = State::kFreed;
  auto plan = recovery.PlanRecovery(b, "node n1 died", States());
  EXPECT_TRUE(plan.resubmit.empty());
  ASSERT_EQ(plan.fail.size(), 1u);
  EXPECT_EQ(plan.fail[0].id, b);
  EXPECT_NE(plan.fail[0].message.find(p.Hex()), std::string::npos) << plan.fail[0].message;
}

TEST_F(ObjectRecoveryTest, ALostPutArgumentFailsItselfAndTheTaskStillRunsToReportIt) {
  // The Put is failed (its readers, and the task's resolution, see why); the
  // task is re-run and fails on its argument with the Put's message.
  ObjectRecovery recovery;
  ObjectID p = PutId(1), b = Return(2);
  recovery.AddLineage(b, Spec("b", {p}), 1);
  states_[p] = State::kLost;
  auto plan = recovery.PlanRecovery(b, "node n1 died", States());
  ASSERT_EQ(plan.fail.size(), 1u);
  EXPECT_EQ(plan.fail[0].id, p);
  EXPECT_EQ(Ids(plan.resubmit), (std::vector<ObjectID>{b}));
}

TEST_F(ObjectRecoveryTest, FreeingAReturnReleasesItsLineage) {
  ObjectRecovery recovery;
  ObjectID a = Return(1);
  recovery.AddLineage(a, Spec("a", {}), 1);
  EXPECT_GT(recovery.lineage_bytes(), 0u);
  recovery.OnObjectFreed(a);
  EXPECT_EQ(recovery.num_kept(), 0u);
  EXPECT_EQ(recovery.lineage_bytes(), 0u);
  recovery.OnObjectFreed(a);  // twice: nothing
}

TEST_F(ObjectRecoveryTest, KeptSpecsAreBoundedOldestFirst) {
  proto::TaskSpec spec = Spec("a", {});
  const size_t one = spec.ByteSizeLong();
  ObjectRecovery recovery(3 * one);
  for (uint64_t i = 1; i <= 5; i++) recovery.AddLineage(Return(i), spec, 1);
  EXPECT_EQ(recovery.num_kept(), 3u);
  EXPECT_LE(recovery.lineage_bytes(), 3 * one);
  EXPECT_FALSE(recovery.Keeps(Return(1)));
  EXPECT_FALSE(recovery.Keeps(Return(2)));
  EXPECT_TRUE(recovery.Keeps(Return(5)));
  auto plan = recovery.PlanRecovery(Return(1), "node n1 died", States());
  ASSERT_EQ(plan.fail.size(), 1u);
  EXPECT_NE(plan.fail[0].message.find("not kept"), std::string::npos);
}

}  // namespace
}  // namespace lumen::worker
