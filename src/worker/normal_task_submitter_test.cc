// NormalTaskSubmitter without a node or a worker: a fake transport records
// what it sends and the test answers, a fake owner records what became of
// each task, and a FakeClock stands in for time.
#include "worker/normal_task_submitter.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace lumen::worker {
namespace {

using Peer = LeaseTransport::Peer;

Peer Named(const std::string &name) { return std::make_shared<std::string>(name); }
std::string NameOf(const Peer &p) { return p ? *static_cast<std::string *>(p.get()) : "own node"; }

struct FakeTransport : LeaseTransport {
  struct Lease {
    Peer node;
    proto::WorkerLeaseRequest request;
    rpc::ResponseCallback cb;
  };
  struct Push {
    Peer worker;
    proto::PushTaskRequest request;
    bool write_now;
    rpc::ResponseCallback cb;
  };
  struct Return {
    std::string node;
    uint64_t lease_id;
    bool failed;
  };
  std::vector<Lease> leases;  // in the order asked; answered ones stay, with cb moved out
  std::vector<Push> pushes;
  std::vector<std::string> cancels;  // the nodes asked to cancel
  std::vector<Return> returns;
  std::map<std::string, Peer> reachable;  // nodes and workers by address / worker id
  bool node_connected = true;

  void RequestLease(const Peer &node, proto::WorkerLeaseRequest request, rpc::ResponseCallback cb) override {
    leases.push_back({node, std::move(request), std::move(cb)});
  }
  void CancelLeases(const Peer &node, const proto::WorkerLeaseRequest &) override {
    cancels.push_back(NameOf(node));
  }
  void ReturnWorker(const Peer &node, uint64_t lease_id, bool failed) override {
    returns.push_back({NameOf(node), lease_id, failed});
  }
  Peer ConnectNode(const std::string &address) override { return Find(address); }
  Peer ConnectWorker(const proto::Address &worker) override { return Find(worker.worker_id()); }
  void PushTask(const Peer &worker, const proto::PushTaskRequest &request, bool write_now,
                rpc::ResponseCallback cb) override {
    pushes.push_back({worker, request, write_now, std::move(cb)});
  }
  bool NodeConnected() override { return node_connected; }
  std::string NodeName(const Peer &node) override { return NameOf(node); }

  Peer Find(const std::string &name) {
    auto it = reachable.find(name);
    return it == reachable.end() ? nullptr : it->second;
  }
  size_t Unanswered() const {
    size_t n = 0;
    for (auto &l : leases) n += l.cb != nullptr;
    return n;
  }
};

struct FakeOwner : NormalTaskSubmitter::Owner {
  std::map<std::string, std::string> failed;  // function name -> message
  std::vector<std::string> completed;
  NormalTaskSubmitter *submitter = nullptr;
  Status loss_found;  // what CheckForLoss finds
  int checks = 0;

  void CheckForLoss(After *after) override {
    checks++;
    if (!loss_found.ok()) submitter->OnLost(loss_found, after);
  }
  void FailTask(TaskEntry &task, proto::ErrorType type, const std::string &message, After *) override {
    EXPECT_EQ(type, proto::WORKER_DIED);
    EXPECT_FALSE(task.done) << "a task ends once";
    task.done = true;
    failed[task.spec.function().function_name()] = message;
  }
  void CompleteTask(TaskEntry &task, const proto::PushTaskReply &, After *) override {
    EXPECT_FALSE(task.done) << "a task ends once";
    task.done = true;
    completed.push_back(task.spec.function().function_name());
  }
};

std::string Granted(uint64_t lease_id, const std::string &worker) {
  proto::WorkerLeaseReply rep;
  rep.set_granted(true);
  rep.set_lease_id(lease_id);
  rep.mutable_worker()->set_worker_id(worker);
  rep.add_gpu_ids(3);
  return rep.SerializeAsString();
}

std::string Spilled(const std::string &address) {
  proto::WorkerLeaseReply rep;
  rep.set_spillback_address(address);
  rep.set_spillback_node_id("node-b-id");
  return rep.SerializeAsString();
}

std::string Refused(proto::LeaseRefusal why, const std::string &error) {
  proto::WorkerLeaseReply rep;
  rep.set_refusal(why);
  rep.set_error(error);
  return rep.SerializeAsString();
}

std::string Done(bool exiting = false) {
  proto::PushTaskReply rep;
  rep.set_worker_exiting(exiting);
  return rep.SerializeAsString();
}

class NormalTaskSubmitterTest : public ::testing::Test {
 protected:
  NormalTaskSubmitterTest() { owner_.submitter = &submitter_; }

  std::shared_ptr<TaskEntry> Submit(const std::string &function, int max_retries = 0,
                                    std::map<std::string, double> resources = {{"CPU", 1}}) {
    auto task = std::make_shared<TaskEntry>();
    task->spec.set_task_id(TaskID::Of(WorkerID::FromRandom(), ++seq_).Binary());
    task->spec.mutable_function()->set_function_name(function);
    task->spec.set_max_retries(max_retries);
    task->retries_left = max_retries;
    After after;
    {
      std::lock_guard<std::mutex> lock(mu_);
      bool created = false;
      task->key = submitter_.QueueKey(resources, "", &created);
      submitter_.Submit(task, &after);
    }
    RunAll(after);
    return task;
  }
  // Answers lease request `i` (as the event loop would: without mu_).
  void AnswerLease(size_t i, Status st, const std::string &body = "") {
    auto cb = std::move(transport_.leases.at(i).cb);
    ASSERT_TRUE(cb) << "lease request " << i << " was answered already";
    transport_.leases.at(i).cb = nullptr;
    cb(st, body);
  }
  void AnswerPush(size_t i, Status st, const std::string &body = Done()) {
    auto cb = std::move(transport_.pushes.at(i).cb);
    ASSERT_TRUE(cb) << "push " << i << " was answered already";
    transport_.pushes.at(i).cb = nullptr;
    cb(st, body);
  }
  std::string PushedFunction(size_t i) {
    return transport_.pushes.at(i).request.spec().function().function_name();
  }
  template <typename Fn>
  void Locked(Fn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    fn();
  }

  std::mutex mu_;
  FakeClock clock_;
  FakeTransport transport_;
  FakeOwner owner_;
  TaskEventRecorder events_{true, 1000};
  NormalTaskSubmitter submitter_{mu_, clock_, transport_, owner_, events_};
  uint64_t seq_ = 0;
};

TEST_F(NormalTaskSubmitterTest, ATaskRunsOnALeasedWorkerWhichGoesBackOnceIdleForLong) {
  transport_.reachable["w1"] = Named("w1");
  auto task = Submit("f", 0, {{"CPU", 1}, {"GPU", 1}});
  ASSERT_EQ(transport_.leases.size(), 1u);
  EXPECT_EQ(transport_.leases[0].node, nullptr) << "the first request goes to this process's node";
  EXPECT_EQ(transport_.leases[0].request.resources().amounts().at("GPU"), 1);
  EXPECT_EQ(transport_.leases[0].request.spill_hops(), 0);

  AnswerLease(0, Status::OK(), Granted(7, "w1"));
  ASSERT_EQ(transport_.pushes.size(), 1u);
  EXPECT_EQ(NameOf(transport_.pushes[0].worker), "w1");
  EXPECT_TRUE(transport_.pushes[0].write_now) << "a lone task is written at once";
  ASSERT_EQ(transport_.pushes[0].request.spec().gpu_ids_size(), 1);
  EXPECT_EQ(transport_.pushes[0].request.spec().gpu_ids(0), 3) << "the lease's devices go with the task";
  Locked([&] { EXPECT_EQ(submitter_.NumLeases(), 1u); });

  AnswerPush(0, Status::OK());
  EXPECT_EQ(owner_.completed, std::vector<std::string>{"f"});
  Locked([&] { submitter_.ReturnIdleLeases(); });
  EXPECT_TRUE(transport_.returns.empty()) << "idle for no time yet: kept for the next task";

  clock_.Advance(NormalTaskSubmitter::kLeaseIdle);
  Locked([&] { submitter_.ReturnIdleLeases(); });
  ASSERT_EQ(transport_.returns.size(), 1u);
  EXPECT_EQ(transport_.returns[0].lease_id, 7u);
  EXPECT_FALSE(transport_.returns[0].failed);
  Locked([&] { EXPECT_EQ(submitter_.NumLeases(), 0u); });
}

TEST_F(NormalTaskSubmitterTest, AsksForOneLeasePerWaitingTaskUpToTheLimitAndCancelsTheRestOnceAllRun) {
  transport_.reachable["w1"] = Named("w1");
  for (size_t i = 0; i < NormalTaskSubmitter::kMaxPendingLeases + 4; ++i) Submit("f" + std::to_string(i));
  EXPECT_EQ(transport_.leases.size(), NormalTaskSubmitter::kMaxPendingLeases);

  // One worker, and a function not yet known to be short: one task at a time.
  AnswerLease(0, Status::OK(), Granted(1, "w1"));
  ASSERT_EQ(transport_.pushes.size(), 1u);
  for (size_t i = 0; i < NormalTaskSubmitter::kMaxPendingLeases + 3; ++i) {
    AnswerPush(i, Status::OK());
    ASSERT_EQ(transport_.pushes.size(), i + 2) << "the next task goes to the worker that finished";
  }
  // The request answered was replaced while tasks still waited; with the
  // last task on the worker, the requests still pending are withdrawn, once.
  EXPECT_EQ(transport_.cancels, std::vector<std::string>{"own node"});
  Locked([&] { EXPECT_EQ(submitter_.NumPendingLeaseRequests(), NormalTaskSubmitter::kMaxPendingLeases); });

  // Canceled requests are answered so; a grant that comes anyway goes straight back.
  AnswerLease(1, Status::OK(), Refused(proto::LEASE_CANCELED, ""));
  transport_.reachable["w2"] = Named("w2");
  AnswerLease(2, Status::OK(), Granted(2, "w2"));
  ASSERT_EQ(transport_.returns.size(), 1u);
  EXPECT_EQ(transport_.returns[0].lease_id, 2u);
  EXPECT_FALSE(transport_.returns[0].failed);
  EXPECT_EQ(transport_.cancels.size(), 1u) << "withdrawn once, not at every answer";
  EXPECT_TRUE(owner_.failed.empty());
}

TEST_F(NormalTaskSubmitterTest, ShortFunctionsArePipelinedOntoAWorker) {
  transport_.reachable["w1"] = Named("w1");
  Submit("short");
  AnswerLease(0, Status::OK(), Granted(1, "w1"));
  AnswerPush(0, Status::OK());  // took no time on the FakeClock: short
  for (int i = 0; i < 4; ++i) Submit("short");
  EXPECT_EQ(transport_.pushes.size(), 5u) << "all four go to the one worker at once";
  EXPECT_FALSE(transport_.pushes[2].write_now) << "a pipelined burst leaves batched";
  for (size_t i = 1; i < 5; ++i) AnswerPush(i, Status::OK());
  EXPECT_EQ(owner_.completed.size(), 5u);
}

TEST_F(NormalTaskSubmitterTest, ASpilledRequestGoesToTheNamedNodeWhoseLeaseGoesBackThere) {
  transport_.reachable["10.0.0.2:7000"] = Named("node-b");
  transport_.reachable["w9"] = Named("w9");
  Submit("f");
  AnswerLease(0, Status::OK(), Spilled("10.0.0.2:7000"));
  ASSERT_EQ(transport_.leases.size(), 2u);
  EXPECT_EQ(NameOf(transport_.leases[1].node), "node-b");
  EXPECT_EQ(transport_.leases[1].request.spill_hops(), 1);

  AnswerLease(1, Status::OK(), Granted(5, "w9"));
  ASSERT_EQ(transport_.pushes.size(), 1u);
  AnswerPush(0, Status::OK(), Done(/*exiting=*/true));
  ASSERT_EQ(transport_.returns.size(), 1u);
  EXPECT_EQ(transport_.returns[0].node, "node-b") << "a lease goes back to the node that granted it";
  EXPECT_TRUE(transport_.returns[0].failed) << "an exiting worker is not reused";
}

TEST_F(NormalTaskSubmitterTest, AnUnreachableOrFailingSpillTargetSendsTheRequestBackToThisNode) {
  Submit("f");
  AnswerLease(0, Status::OK(), Spilled("10.0.0.9:1"));  // not reachable
  ASSERT_EQ(transport_.leases.size(), 2u);
  EXPECT_EQ(transport_.leases[1].node, nullptr);
  EXPECT_EQ(transport_.leases[1].request.spill_hops(), 1);

  transport_.reachable["10.0.0.2:7000"] = Named("node-b");
  AnswerLease(1, Status::OK(), Spilled("10.0.0.2:7000"));
  ASSERT_EQ(transport_.leases.size(), 3u);
  AnswerLease(2, Status::Disconnected("node-b died"));
  ASSERT_EQ(transport_.leases.size(), 4u);
  EXPECT_EQ(transport_.leases[3].node, nullptr);
  EXPECT_EQ(transport_.leases[3].request.spill_hops(), 3);
  Locked([&] { EXPECT_EQ(submitter_.NumPendingLeaseRequests(), 1u); });
  EXPECT_TRUE(owner_.failed.empty());
}

TEST_F(NormalTaskSubmitterTest, AWorkerThatDiesHasItsTasksRetriedWhileRetriesLastThenFailed) {
  transport_.reachable["w1"] = Named("w1");
  transport_.reachable["w2"] = Named("w2");
  auto task = Submit("flaky", /*max_retries=*/1);
  AnswerLease(0, Status::OK(), Granted(1, "w1"));
  AnswerPush(0, Status::Disconnected("worker gone"));
  EXPECT_EQ(owner_.checks, 1) << "the owner looks for a loss that would explain it";
  ASSERT_EQ(transport_.returns.size(), 1u);
  EXPECT_TRUE(transport_.returns[0].failed);
  EXPECT_EQ(task->spec.attempt(), 1);
  EXPECT_EQ(task->retries_left, 0);
  ASSERT_EQ(transport_.leases.size(), 2u) << "the retry asks for a new worker";

  AnswerLease(1, Status::OK(), Granted(2, "w2"));
  ASSERT_EQ(transport_.pushes.size(), 2u);
  EXPECT_EQ(transport_.pushes[1].request.spec().attempt(), 1);
  AnswerPush(1, Status::Disconnected("worker gone again"));
  ASSERT_EQ(owner_.failed.count("flaky"), 1u);
  EXPECT_NE(owner_.failed["flaky"].find("retries exhausted (max_retries=1)"), std::string::npos)
      << owner_.failed["flaky"];
}

TEST_F(NormalTaskSubmitterTest, ARefusedLeaseFailsTheQueuedTasksWithTheNodesReason) {
  Submit("big", 0, {{"CPU", 64}});
  Submit("big2", 0, {{"CPU", 64}});
  AnswerLease(0, Status::OK(), Refused(proto::LEASE_REFUSED, "needs 64 CPUs"));
  EXPECT_EQ(owner_.failed.size(), 2u);
  EXPECT_NE(owner_.failed["big"].find("the node refused a worker for it: needs 64 CPUs"), std::string::npos);
}

TEST_F(NormalTaskSubmitterTest, ALeaseErrorFromAConnectedNodeFailsTheQueueButANodeLossWaitsForOnLost) {
  Submit("a");
  AnswerLease(0, Status::Internal("bad request"));
  EXPECT_NE(owner_.failed["a"].find("the worker lease request failed"), std::string::npos);

  transport_.node_connected = false;
  Submit("b");
  AnswerLease(1, Status::Disconnected("node gone"));
  EXPECT_EQ(owner_.failed.count("b"), 0u) << "the node's loss explains it, and says why";
  After after;
  Locked([&] { submitter_.OnLost(Status::Disconnected("the node service died"), &after); });
  EXPECT_NE(owner_.failed["b"].find("cannot run: the node service died"), std::string::npos);

  Submit("c");
  EXPECT_EQ(owner_.failed.count("c"), 1u) << "later tasks fail with the loss";
  EXPECT_EQ(transport_.leases.size(), 2u) << "and nothing more is asked for";
}

TEST_F(NormalTaskSubmitterTest, ALossFoundWhenAWorkerDiesEndsTheRetries) {
  transport_.reachable["w1"] = Named("w1");
  Submit("f", /*max_retries=*/3);
  AnswerLease(0, Status::OK(), Granted(1, "w1"));
  owner_.loss_found = Status::Disconnected("the fork server exited");
  AnswerPush(0, Status::Disconnected("worker gone"));
  ASSERT_EQ(owner_.failed.count("f"), 1u);
  EXPECT_NE(owner_.failed["f"].find("the fork server exited"), std::string::npos);
  EXPECT_EQ(transport_.leases.size(), 1u);
}

TEST_F(NormalTaskSubmitterTest, WhileOthersWantWorkersIdleLeasesGoBackAtOnce) {
  transport_.reachable["w1"] = Named("w1");
  transport_.reachable["w2"] = Named("w2");
  Submit("f");
  AnswerLease(0, Status::OK(), Granted(1, "w1"));
  AnswerPush(0, Status::OK());
  Locked([&] { submitter_.OnLeasesWanted(); });
  ASSERT_EQ(transport_.returns.size(), 1u) << "idle now: back now";

  Submit("g");
  AnswerLease(1, Status::OK(), Granted(2, "w2"));
  AnswerPush(1, Status::OK());
  EXPECT_EQ(transport_.returns.size(), 2u) << "within the window, a lease goes back as it becomes idle";

  clock_.Advance(NormalTaskSubmitter::kLeasesWantedFor);
  Submit("h");
  transport_.reachable["w3"] = Named("w3");
  AnswerLease(2, Status::OK(), Granted(3, "w3"));
  AnswerPush(2, Status::OK());
  EXPECT_EQ(transport_.returns.size(), 2u) << "after it, the idle grace period again";
}

TEST_F(NormalTaskSubmitterTest, AnUnreachableWorkerGoesBackAsFailedAndAnotherIsAskedFor) {
  Submit("f");
  AnswerLease(0, Status::OK(), Granted(1, "nowhere"));
  ASSERT_EQ(transport_.returns.size(), 1u);
  EXPECT_TRUE(transport_.returns[0].failed);
  EXPECT_EQ(transport_.leases.size(), 2u);
  EXPECT_TRUE(transport_.pushes.empty());
}

TEST_F(NormalTaskSubmitterTest, OnceStoppedRepliesAreIgnoredAndTheWorkersHandedBack) {
  transport_.reachable["w1"] = Named("w1");
  Submit("f");
  Submit("g");
  AnswerLease(0, Status::OK(), Granted(1, "w1"));
  Locked([&] { submitter_.Stop(); });
  AnswerLease(1, Status::Internal("shutting down"));
  EXPECT_TRUE(owner_.failed.empty());
  std::vector<Peer> workers;
  Locked([&] { workers = submitter_.TakeWorkers(); });
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(NameOf(workers[0]), "w1");
  AnswerPush(0, Status::Disconnected("closed"));  // the queues are gone: nothing happens
  EXPECT_TRUE(owner_.failed.empty());
}

}  // namespace
}  // namespace lumen::worker
