// ActorTaskSubmitter without a process: a fake transport that the test
// answers by hand (the control service's subscription and updates, the
// connection to the actor's worker, its replies), a fake owner that records
// how each call ended, and a FakeClock for the wait for death info.
#include "worker/actor_task_submitter.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lumen::worker {
namespace {

using Peer = ActorTransport::Peer;

// A connection as the fake transport hands it out: which worker it reaches.
struct FakeConn {
  std::string worker;
};

struct FakeTransport : ActorTransport {
  struct Subscription {
    Peer control;
    ActorID id;
    rpc::ResponseCallback reply;
  };
  struct Connect {
    proto::Address address;
    std::function<void(Peer)> done;
  };
  struct Push {
    std::string worker;
    proto::TaskSpec spec;
    bool write_now;
    rpc::ResponseCallback reply;
  };

  void ListenForActorUpdates(std::function<void(const proto::ActorInfo &)> on_update) override {
    update = std::move(on_update);
  }
  void SubscribeActor(const Peer &control, const ActorID &id, rpc::ResponseCallback cb) override {
    subscriptions.push_back({control, id, std::move(cb)});
  }
  void ConnectToActor(const proto::Address &address, std::function<void(Peer)> done) override {
    connects.push_back({address, std::move(done)});
  }
  void PushActorTask(const Peer &peer, const proto::TaskSpec &spec, bool write_now,
                     rpc::ResponseCallback cb) override {
    pushes.push_back({std::static_pointer_cast<FakeConn>(peer)->worker, spec, write_now, std::move(cb)});
  }

  std::function<void(const proto::ActorInfo &)> update;
  std::vector<Subscription> subscriptions;
  std::vector<Connect> connects;
  std::vector<Push> pushes;
};

// How each call ended, by function name.
struct FakeOwner : ActorTaskSubmitter::Owner {
  struct Failure {
    proto::ErrorType type;
    std::string message;
  };
  void FailTask(TaskEntry &task, proto::ErrorType type, const std::string &message, After *) override {
    EXPECT_FALSE(task.done) << task.spec.function().function_name();
    task.done = true;
    failed[task.spec.function().function_name()] = {type, message};
  }
  void CompleteTask(TaskEntry &task, const proto::PushTaskReply &reply, After *) override {
    EXPECT_FALSE(task.done) << task.spec.function().function_name();
    task.done = true;
    completed[task.spec.function().function_name()] = reply;
  }
  void FinishTask(TaskEntry &task, After *) override {
    task.done = true;
    finished.push_back(task.spec.function().function_name());
  }

  std::map<std::string, Failure> failed;
  std::map<std::string, proto::PushTaskReply> completed;
  std::vector<std::string> finished;
};

proto::Address AddressOf(const std::string &worker) {
  proto::Address a;
  a.set_unix_path("/tmp/" + worker);
  a.set_worker_id(WorkerID::FromRandom().Binary());
  return a;
}

proto::ActorInfo Info(const ActorID &id, proto::ActorState state, int num_restarts = 0,
                      const std::string &worker = "", const std::string &death_cause = "") {
  proto::ActorInfo info;
  info.set_actor_id(id.Binary());
  info.set_state(state);
  info.set_num_restarts(num_restarts);
  if (!worker.empty()) *info.mutable_address() = AddressOf(worker);
  info.set_death_cause(death_cause);
  return info;
}

std::string Serialized(const google::protobuf::MessageLite &msg) { return msg.SerializeAsString(); }

class ActorTaskSubmitterTest : public ::testing::Test {
 protected:
  // A call to `function` on actor `id_`, its arguments resolved unless said.
  std::shared_ptr<TaskEntry> Call(const std::string &function, bool resolved = true) {
    auto task = std::make_shared<TaskEntry>();
    task->spec.set_type(proto::ACTOR_TASK);
    task->spec.mutable_function()->set_function_name(function);
    task->spec.set_actor_id(id_.Binary());
    task->resolved = resolved;
    return task;
  }
  // Queues and pumps calls as the core worker's SubmitActorTask does.
  void Submit(const std::shared_ptr<TaskEntry> &task) {
    Locked([&](After *after) {
      submitter_.Queue(task, control_);
      submitter_.Pump(id_, after);
    });
  }
  // The core worker resolved `task`'s arguments.
  void Resolve(const std::shared_ptr<TaskEntry> &task) {
    Locked([&](After *after) {
      task->resolved = true;
      submitter_.Pump(id_, after);
    });
  }
  // Runs `f` with mu held, as the core worker calls the submitter.
  template <typename F>
  void Locked(F f) {
    After after;
    {
      std::lock_guard<std::mutex> lock(mu_);
      f(&after);
    }
    RunAll(after);
  }
  size_t NumAwaitingDeathInfo() {
    std::lock_guard<std::mutex> lock(mu_);
    return submitter_.NumAwaitingDeathInfo();
  }
  // The control service's answer to the subscription, then its updates.
  void AnswerSubscription(const proto::ActorInfo &info) {
    ASSERT_EQ(transport_.subscriptions.size(), 1u);
    proto::SubscribeActorReply rep;
    rep.set_found(true);
    *rep.mutable_info() = info;
    transport_.subscriptions[0].reply(Status::OK(), Serialized(rep));
  }
  void Update(const proto::ActorInfo &info) { transport_.update(info); }
  // Completes the last connection asked for, to `worker` (empty: unreachable).
  void Connected(const std::string &worker) {
    ASSERT_FALSE(transport_.connects.empty());
    auto done = std::move(transport_.connects.back().done);
    transport_.connects.pop_back();
    done(worker.empty() ? nullptr : std::make_shared<FakeConn>(FakeConn{worker}));
  }
  // The actor is alive at `worker` and connected.
  void Alive(const std::string &worker, int num_restarts = 0) {
    Update(Info(id_, proto::ALIVE, num_restarts, worker));
    Connected(worker);
  }
  std::vector<std::string> Pushed() const {
    std::vector<std::string> names;
    for (auto &p : transport_.pushes) names.push_back(p.worker + ":" + p.spec.function().function_name());
    return names;
  }
  void Reply(size_t push, const Status &st, const std::string &body = "") {
    transport_.pushes.at(push).reply(st, body);
  }

  std::mutex mu_;
  FakeTransport transport_;
  FakeOwner owner_;
  TaskEventRecorder events_{true, 1000};
  FakeClock clock_;
  ActorTaskSubmitter submitter_{mu_, transport_, owner_, events_, clock_};
  ActorID id_ = ActorID::FromRandom();
  Peer control_ = std::make_shared<FakeConn>(FakeConn{"control"});
};

const Status kClosed = Status::Disconnected("connection closed by peer");

TEST_F(ActorTaskSubmitterTest, CallsGoInSubmissionOrderOnceTheActorIsAlive) {
  auto a = Call("a"), b = Call("b"), c = Call("c");
  Submit(a);
  Submit(b);
  // One subscription per actor, at its first call.
  ASSERT_EQ(transport_.subscriptions.size(), 1u);
  EXPECT_EQ(transport_.subscriptions[0].id, id_);
  EXPECT_EQ(transport_.subscriptions[0].control, control_);
  AnswerSubscription(Info(id_, proto::PENDING_CREATION));
  Submit(c);
  EXPECT_TRUE(transport_.connects.empty());
  EXPECT_TRUE(transport_.pushes.empty());

  Update(Info(id_, proto::ALIVE, 0, "w1"));
  ASSERT_EQ(transport_.connects.size(), 1u);
  EXPECT_EQ(transport_.connects[0].address.unix_path(), "/tmp/w1");
  EXPECT_TRUE(transport_.pushes.empty());  // not before the connection is made
  Connected("w1");
  EXPECT_EQ(Pushed(), (std::vector<std::string>{"w1:a", "w1:b", "w1:c"}));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(transport_.pushes[i].spec.actor_seq(), static_cast<uint64_t>(i));
  // Only a lone call is written at once; the ones behind it go with the loop.
  EXPECT_TRUE(transport_.pushes[0].write_now);
  EXPECT_FALSE(transport_.pushes[1].write_now);
  EXPECT_FALSE(transport_.pushes[2].write_now);
  EXPECT_TRUE(owner_.failed.empty());
}

TEST_F(ActorTaskSubmitterTest, ACallWhoseArgumentsAreNotReadyHoldsBackTheOnesBehindIt) {
  auto a = Call("a"), b = Call("b", /*resolved=*/false), c = Call("c"), d = Call("d", /*resolved=*/false),
       e = Call("e");
  for (auto &t : {a, b, c, d, e}) Submit(t);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("w1");
  EXPECT_EQ(Pushed(), std::vector<std::string>{"w1:a"});
  Resolve(b);
  EXPECT_EQ(Pushed(), (std::vector<std::string>{"w1:a", "w1:b", "w1:c"}));
  // A call that failed before it was sent (an argument's task failed) holds
  // nothing back any more.
  Locked([&](After *after) {
    owner_.FailTask(*d, proto::TASK_EXECUTION_EXCEPTION, "its argument failed", after);
    submitter_.Pump(id_, after);
  });
  EXPECT_EQ(Pushed(), (std::vector<std::string>{"w1:a", "w1:b", "w1:c", "w1:e"}));
  for (auto &p : transport_.pushes) EXPECT_LT(p.spec.actor_seq(), 5u);
  EXPECT_EQ(transport_.pushes[3].spec.actor_seq(), 4u);
}

TEST_F(ActorTaskSubmitterTest, AReplyCompletesItsTask) {
  auto a = Call("a");
  Submit(a);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("w1");
  ASSERT_EQ(Pushed(), std::vector<std::string>{"w1:a"});
  proto::PushTaskReply rep;
  rep.add_returns()->set_object_id("the return");
  Reply(0, Status::OK(), Serialized(rep));
  ASSERT_EQ(owner_.completed.count("a"), 1u);
  EXPECT_EQ(owner_.completed["a"].returns(0).object_id(), "the return");
  EXPECT_TRUE(a->done);
  // The next lone call is written at once again.
  auto b = Call("b");
  Submit(b);
  ASSERT_EQ(transport_.pushes.size(), 2u);
  EXPECT_TRUE(transport_.pushes[1].write_now);
}

TEST_F(ActorTaskSubmitterTest, AMalformedReplyFailsItsCallAsADeadActorsWould) {
  auto a = Call("a");
  Submit(a);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("w1");
  Update(Info(id_, proto::DEAD, 0, "", "it was killed"));
  Reply(0, Status::OK(), "\xff\xff not a reply");
  ASSERT_EQ(owner_.failed.count("a"), 1u);
  EXPECT_EQ(owner_.failed["a"].type, proto::ACTOR_DIED);
  EXPECT_EQ(owner_.failed["a"].message, "The actor died before finishing the call to a. it was killed");
}

TEST_F(ActorTaskSubmitterTest, CallsInFlightWhenTheConnectionFailsWaitForDeathInfoThenFailWithTheCause) {
  auto a = Call("a"), b = Call("b");
  Submit(a);
  Submit(b);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("w1");
  ASSERT_EQ(transport_.pushes.size(), 2u);
  Reply(0, kClosed);
  Reply(1, kClosed);
  // The control service has said nothing yet: the calls wait for its news.
  EXPECT_TRUE(owner_.failed.empty());
  EXPECT_EQ(NumAwaitingDeathInfo(), 2u);
  Update(Info(id_, proto::DEAD, 0, "", "The node it ran on died."));
  EXPECT_EQ(NumAwaitingDeathInfo(), 0u);
  ASSERT_EQ(owner_.failed.size(), 2u);
  EXPECT_EQ(owner_.failed["a"].type, proto::ACTOR_DIED);
  EXPECT_EQ(owner_.failed["a"].message,
            "The actor died before finishing the call to a. The node it ran on died.");
  EXPECT_EQ(owner_.failed["b"].message,
            "The actor died before finishing the call to b. The node it ran on died.");
}

TEST_F(ActorTaskSubmitterTest, ACallWaitingForDeathInfoFailsWithTheConnectionErrorWhenTheWaitIsOver) {
  auto a = Call("a");
  Submit(a);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("w1");
  Reply(0, kClosed);
  ASSERT_EQ(NumAwaitingDeathInfo(), 1u);
  clock_.Advance(ActorTaskSubmitter::DeathInfoWait() - std::chrono::milliseconds(1));
  Locked([&](After *after) { submitter_.ExpireDeathInfoWaits(after); });
  EXPECT_TRUE(owner_.failed.empty());
  clock_.Advance(std::chrono::milliseconds(1));
  Locked([&](After *after) { submitter_.ExpireDeathInfoWaits(after); });
  EXPECT_EQ(NumAwaitingDeathInfo(), 0u);
  ASSERT_EQ(owner_.failed.count("a"), 1u);
  EXPECT_EQ(owner_.failed["a"].type, proto::ACTOR_DIED);
  EXPECT_EQ(owner_.failed["a"].message,
            "The actor died before finishing the call to a. The actor's process "
            "exited or was killed (" +
                kClosed.ToString() + ").");
  // News that comes later has nothing left to fail.
  Update(Info(id_, proto::DEAD, 0, "", "too late"));
  EXPECT_EQ(owner_.failed.size(), 1u);
}

TEST_F(ActorTaskSubmitterTest, ARestartResendsPendingCallsToTheNewAddress) {
  auto a = Call("a"), b = Call("b", /*resolved=*/false), c = Call("c");
  Submit(a);
  Submit(b);
  Submit(c);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("w1");
  ASSERT_EQ(Pushed(), std::vector<std::string>{"w1:a"});
  // The actor restarts: the call in flight to its old worker fails at once
  // (the control service said that incarnation is gone), the others wait.
  Update(Info(id_, proto::RESTARTING, 1));
  Reply(0, kClosed);
  EXPECT_EQ(NumAwaitingDeathInfo(), 0u);
  ASSERT_EQ(owner_.failed.count("a"), 1u);
  EXPECT_EQ(owner_.failed["a"].type, proto::ACTOR_DIED);
  Resolve(b);
  EXPECT_EQ(transport_.pushes.size(), 1u);
  // Stale news of the old incarnation changes nothing.
  Update(Info(id_, proto::ALIVE, 0, "w1"));
  EXPECT_TRUE(transport_.connects.empty());
  Alive("w2", /*num_restarts=*/1);
  EXPECT_EQ(Pushed(), (std::vector<std::string>{"w1:a", "w2:b", "w2:c"}));
  EXPECT_EQ(transport_.pushes[1].spec.actor_seq(), 1u);  // numbered once, at submission
  EXPECT_EQ(owner_.failed.size(), 1u);
}

TEST_F(ActorTaskSubmitterTest, ACallInFlightWhenTheActorRestartsFailsWithItsConnectionError) {
  auto a = Call("a");
  Submit(a);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("w1");
  Reply(0, kClosed);
  ASSERT_EQ(NumAwaitingDeathInfo(), 1u);
  // Restarted, not dead: there is no death cause to give.
  Update(Info(id_, proto::RESTARTING, 1));
  EXPECT_EQ(NumAwaitingDeathInfo(), 0u);
  ASSERT_EQ(owner_.failed.count("a"), 1u);
  EXPECT_NE(owner_.failed["a"].message.find(kClosed.ToString()), std::string::npos)
      << owner_.failed["a"].message;
}

TEST_F(ActorTaskSubmitterTest, AWorkerThatCannotBeReachedWaitsForTheNextIncarnation) {
  auto a = Call("a");
  Submit(a);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("");  // its worker is already gone
  EXPECT_TRUE(transport_.pushes.empty());
  EXPECT_TRUE(owner_.failed.empty());
  Update(Info(id_, proto::ALIVE, 0, "w1"));  // that incarnation failed: not connected to again
  EXPECT_TRUE(transport_.connects.empty());
  Alive("w2", 1);
  EXPECT_EQ(Pushed(), std::vector<std::string>{"w2:a"});
}

TEST_F(ActorTaskSubmitterTest, ADeadActorFailsPendingAndLaterCallsWithItsDeathCause) {
  auto a = Call("a"), b = Call("b", /*resolved=*/false);
  Submit(a);
  Submit(b);
  AnswerSubscription(Info(id_, proto::PENDING_CREATION));
  Update(Info(id_, proto::DEAD, 0, "", "Killed by ray.kill."));
  ASSERT_EQ(owner_.failed.size(), 2u);
  EXPECT_EQ(owner_.failed["a"].type, proto::ACTOR_DIED);
  EXPECT_EQ(owner_.failed["a"].message,
            "The actor is dead, so the call to a cannot run. Killed by ray.kill.");
  EXPECT_EQ(owner_.failed["b"].message,
            "The actor is dead, so the call to b cannot run. Killed by ray.kill.");
  auto c = Call("c");
  Submit(c);
  EXPECT_EQ(owner_.failed["c"].message,
            "The actor is dead, so the call to c cannot run. Killed by ray.kill.");
  EXPECT_TRUE(transport_.connects.empty());
  EXPECT_TRUE(transport_.pushes.empty());
  EXPECT_EQ(transport_.subscriptions.size(), 1u);
}

TEST_F(ActorTaskSubmitterTest, AnActorTheControlServiceDoesNotKnowOrCannotBeAskedIsDead) {
  auto a = Call("a");
  Submit(a);
  proto::SubscribeActorReply not_found;
  not_found.set_found(false);
  transport_.subscriptions[0].reply(Status::OK(), Serialized(not_found));
  EXPECT_EQ(owner_.failed["a"].message, "The actor is dead, so the call to a cannot run. No actor with id " +
                                            id_.Hex() + " exists in this cluster.");

  id_ = ActorID::FromRandom();
  auto b = Call("b");
  Submit(b);
  transport_.subscriptions[1].reply(kClosed, "");
  EXPECT_EQ(owner_.failed["b"].message,
            "The actor is dead, so the call to b cannot run. Cannot reach the "
            "control service: " +
                kClosed.ToString());

  // No connection to the control service at all: nothing to subscribe over.
  id_ = ActorID::FromRandom();
  control_ = nullptr;
  auto c = Call("c");
  Submit(c);
  EXPECT_EQ(transport_.subscriptions.size(), 2u);
  EXPECT_EQ(
      owner_.failed["c"].message,
      "The actor is dead, so the call to c cannot run. Cannot reach the control service to find the actor.");
}

TEST_F(ActorTaskSubmitterTest, AnActorThatCannotBeCreatedFailsItsCallsAndReleasesItsCreationTask) {
  auto creation = std::make_shared<TaskEntry>();
  creation->spec.mutable_function()->set_function_name("Counter.__init__");
  Locked([&](After *) { submitter_.AddCreatedActor(id_, creation); });
  auto a = Call("a");
  Submit(a);
  EXPECT_TRUE(transport_.subscriptions.empty());  // registering it subscribed this process
  EXPECT_TRUE(owner_.failed.empty());
  Locked([&](After *after) {
    submitter_.MarkDead(id_, "The actor could not be created: no control service", after);
  });
  EXPECT_EQ(owner_.finished, std::vector<std::string>{"Counter.__init__"});
  EXPECT_EQ(
      owner_.failed["a"].message,
      "The actor is dead, so the call to a cannot run. The actor could not be created: no control service");
}

TEST_F(ActorTaskSubmitterTest, TheCreationTaskIsKeptWhileTheActorLivesAndReleasedWhenItDies) {
  auto creation = std::make_shared<TaskEntry>();
  creation->spec.mutable_function()->set_function_name("Counter.__init__");
  Locked([&](After *) { submitter_.AddCreatedActor(id_, creation); });
  Update(Info(id_, proto::ALIVE, 0, "w1"));
  Update(Info(id_, proto::RESTARTING, 1));
  Update(Info(id_, proto::ALIVE, 1, "w2"));
  EXPECT_TRUE(owner_.finished.empty());  // a restart runs the constructor again
  Update(Info(id_, proto::DEAD, 1, "", "out of restarts"));
  EXPECT_EQ(owner_.finished, std::vector<std::string>{"Counter.__init__"});
}

TEST_F(ActorTaskSubmitterTest, TheJobsLossFailsWhatWaits) {
  auto creation = std::make_shared<TaskEntry>();
  creation->spec.mutable_function()->set_function_name("Counter.__init__");
  Locked([&](After *) { submitter_.AddCreatedActor(id_, creation); });
  auto a = Call("a");
  Submit(a);
  // Another actor, alive, with a call waiting for death info.
  ActorID created = id_;
  id_ = ActorID::FromRandom();
  auto b = Call("b");
  Submit(b);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("w1");
  Reply(0, kClosed);
  ASSERT_EQ(NumAwaitingDeathInfo(), 1u);

  const Status lost(StatusCode::kWorkerDied, "The node service died.");
  Locked([&](After *after) { submitter_.OnLost(lost, after); });
  // The actor being created never will be.
  EXPECT_EQ(owner_.finished, std::vector<std::string>{"Counter.__init__"});
  EXPECT_EQ(owner_.failed["a"].message,
            "The actor is dead, so the call to a cannot run. The node service died.");
  // No news of the actor is coming: the call that waited for it names the loss.
  EXPECT_EQ(NumAwaitingDeathInfo(), 0u);
  EXPECT_EQ(owner_.failed["b"].message,
            "The actor died before finishing the call to b. The node service died.");
  // Later calls to the actor that was being created fail at once.
  id_ = created;
  auto c = Call("c");
  Submit(c);
  EXPECT_EQ(owner_.failed["c"].message,
            "The actor is dead, so the call to c cannot run. The node service died.");
}

TEST_F(ActorTaskSubmitterTest, AfterShutdownAFailedConnectionFailsItsCallsAtOnce) {
  auto a = Call("a");
  Submit(a);
  AnswerSubscription(Info(id_, proto::ALIVE, 0, "w1"));
  Connected("w1");
  Locked([&](After *) { submitter_.Shutdown(); });
  Reply(0, kClosed);
  EXPECT_EQ(NumAwaitingDeathInfo(), 0u);
  ASSERT_EQ(owner_.failed.count("a"), 1u);
  // Cleared: later news and replies find nothing.
  Locked([&](After *) { submitter_.Clear(); });
  Update(Info(id_, proto::DEAD, 0, "", "gone"));
  EXPECT_EQ(owner_.failed.size(), 1u);
}

}  // namespace
}  // namespace lumen::worker
