// The core worker's ownership-based reference counting: a driver's core
// worker in the test process, attached to an in-process node and control
// service, and a fake borrower speaking to it over its real socket. An object
// is freed (forgotten, and deleted from the node's store when it lives there)
// exactly when its last reference goes: local refs, refs nested in other owned
// objects, refs held by submitted tasks, and borrowers. And the user's Get and
// Wait timeouts, on a FakeClock: they end when the clock passes the deadline,
// never before.
#include "worker/core_worker.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <future>

#include "control/control_test_peers.h"
#include "scheduler/node_service.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {
namespace {

using control::testing::FakeWorker;
using control::testing::kDeadline;
using control::testing::kToken;
using control::testing::Recorded;

class CoreWorkerTest : public control::testing::ControlServiceTest {
 protected:
  void SetUp() override {
    ControlServiceTest::SetUp();
    scheduler::NodeServiceOptions n;
    n.session_dir = dir_ + "/session";
    n.token = kToken;
    n.control_address = address_;
    n.resources = {{"CPU", 1}};
    n.store_capacity = 8 << 20;
    n.prestart_workers = 0;
    node_ = std::make_unique<scheduler::NodeService>(n);
    ASSERT_TRUE(node_->Start().ok());

    CoreWorkerOptions o;
    o.is_driver = true;
    o.node_address = "unix:" + n.session_dir + "/sockets/node";
    o.session_dir = n.session_dir;
    o.control_address = address_;
    o.token = kToken;
    o.ray_namespace = "ns";
    if (fake_clock_) o.clock = &clock_;
    auto cw = CoreWorker::Create(o);
    ASSERT_TRUE(cw.ok()) << cw.status().ToString();
    cw_ = std::move(cw.value());
    auto stats = rpc::Connect(loop_, o.node_address, kToken, nullptr);
    ASSERT_TRUE(stats.ok());
    node_conn_ = stats.value();
  }
  void TearDown() override {
    if (cw_) cw_->Shutdown();
    cw_.reset();
    node_.reset();
    ControlServiceTest::TearDown();
  }

  ObjectID Put(size_t size, std::vector<ObjectID> nested = {}) {
    auto id = cw_->Put(
        size, [size](char *dst) { return std::memset(dst, 'x', size), true; }, nested);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? id.value() : ObjectID();
  }
  uint64_t StoreObjects() {
    proto::NodeStatsReply rep;
    EXPECT_TRUE(node_conn_->CallSync(proto::NODE_STATS, proto::NodeStatsRequest(), &rep).ok());
    return rep.store_objects();
  }
  /// DELETE_OBJECTS is one-way on the core worker's own node connection: wait
  /// for its effect.
  void WaitStoreObjects(uint64_t n) {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    while (StoreObjects() != n && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    EXPECT_EQ(StoreObjects(), n);
  }
  proto::ErrorType GetError(const ObjectID &id) {
    std::vector<RayObjectPtr> out;
    Status st = cw_->Get({id}, 10000, &out);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return st.ok() && out.size() == 1 && out[0] ? out[0]->error : proto::NO_ERROR;
  }

  /// Registers a fake fork server for the driver's job with the node.
  void AddForkServer() {
    fork_dispatcher_.Register(proto::FORK_WORKER,
                              [this](const rpc::ConnectionPtr &, uint64_t, std::string_view body) {
                                proto::ForkWorkerRequest req;
                                EXPECT_TRUE(rpc::ParseBody(body, &req));
                                forks_.Update([&](auto &v) { v.push_back(req.worker_id()); });
                              });
    fork_server_ = Register(proto::FORK_SERVER, &fork_dispatcher_, "", nullptr);
  }
  /// Waits for the node's n-th FORK_WORKER and registers that worker as
  /// `worker`, so the lease the node grants leads the core worker to it.
  void StartForkedWorker(size_t n, const FakeWorker &worker) {
    forks_.WaitFor([&](auto &v) { return v.size() >= n; });
    auto forks = forks_.Get();
    if (forks.size() < n) return;
    auto address = worker.Address();
    Register(proto::WORKER, nullptr, forks[n - 1], &address);
  }
  /// An actor with no restarts on a fresh FakeWorker answering `answer`,
  /// and a call to it (referenced here, as an ObjectRef holds it) that has
  /// reached the worker. Sets `*worker`; a nil id after a failure.
  ObjectID CallInFlight(FakeWorker::Answer answer, FakeWorker **worker) {
    AddForkServer();
    *worker = AddWorker(answer);
    ActorOptions options;
    options.max_restarts = 0;
    auto actor = cw_->CreateActor("Make", "Thing", {}, options);
    EXPECT_TRUE(actor.ok()) << actor.status().ToString();
    if (!actor.ok()) return ObjectID();
    StartForkedWorker(1, **worker);
    ObjectID call = cw_->SubmitActorTask(actor.value(), "Thing::Work", {}, TaskOptions());
    cw_->AddLocalReference(call);
    EXPECT_TRUE((*worker)->pushed().WaitFor([](auto &v) { return v.size() >= 2; }))
        << "the call is in flight";
    return call;
  }
  rpc::ConnectionPtr Register(proto::ClientKind kind, const rpc::Dispatcher *dispatcher,
                              const std::string &worker_id, const proto::Address *address) {
    auto conn = rpc::Connect(loop_, node_conn_->PeerName(), kToken, dispatcher);
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return nullptr;
    proto::RegisterClientRequest req;
    req.set_kind(kind);
    req.set_job_id(cw_->job_id());
    req.set_worker_id(worker_id);
    if (address) *req.mutable_address() = *address;
    proto::RegisterClientReply rep;
    EXPECT_TRUE(conn.value()->CallSync(proto::REGISTER_CLIENT, req, &rep).ok());
    conns_.push_back(conn.value());
    return conn.value();
  }

  bool fake_clock_ = false;  // set before SetUp: the core worker reads clock_ too
  std::unique_ptr<scheduler::NodeService> node_;
  std::unique_ptr<CoreWorker> cw_;
  rpc::ConnectionPtr node_conn_;
  rpc::Dispatcher fork_dispatcher_;
  rpc::ConnectionPtr fork_server_;
  Recorded<std::vector<std::string>> forks_;
  std::vector<rpc::ConnectionPtr> conns_;
};

TEST_F(CoreWorkerTest, AnObjectIsFreedWhenItsLastLocalReferenceGoes) {
  ObjectID id = Put(16);
  cw_->AddLocalReference(id);
  cw_->AddLocalReference(id);
  EXPECT_EQ(GetError(id), proto::NO_ERROR);
  cw_->RemoveLocalReference(id);
  EXPECT_EQ(cw_->NumTrackedObjects(), 1u);
  EXPECT_EQ(GetError(id), proto::NO_ERROR);
  cw_->RemoveLocalReference(id);
  EXPECT_EQ(cw_->NumTrackedObjects(), 0u);
  // A reference made after it was freed reads as lost, not as a hang.
  cw_->AddLocalReference(id);
  EXPECT_EQ(GetError(id), proto::OBJECT_LOST);
}

TEST_F(CoreWorkerTest, ALargeObjectLeavesTheNodesStoreWithItsLastReference) {
  ObjectID id = Put(512 * 1024);  // above the inline threshold: in the node's store
  cw_->AddLocalReference(id);
  cw_->AddLocalReference(id);
  EXPECT_EQ(StoreObjects(), 1u);
  cw_->RemoveLocalReference(id);
  EXPECT_EQ(GetError(id), proto::NO_ERROR);  // still readable
  EXPECT_EQ(cw_->NumTrackedObjects(), 1u);
  cw_->RemoveLocalReference(id);
  EXPECT_EQ(cw_->NumTrackedObjects(), 0u);
  WaitStoreObjects(0);
}

TEST_F(CoreWorkerTest, ANestedObjectLivesAsLongAsTheObjectThatContainsIt) {
  ObjectID inner = Put(16);
  cw_->AddLocalReference(inner);
  ObjectID outer = Put(16, {inner});
  cw_->AddLocalReference(outer);
  cw_->RemoveLocalReference(inner);
  EXPECT_EQ(cw_->NumTrackedObjects(), 2u);  // the outer object holds it
  EXPECT_EQ(GetError(inner), proto::NO_ERROR);
  cw_->RemoveLocalReference(outer);
  EXPECT_EQ(cw_->NumTrackedObjects(), 0u);  // both, at once
}

TEST_F(CoreWorkerTest, ABorrowerKeepsAnObjectUntilItLetsGo) {
  ObjectID id = Put(16);
  cw_->AddLocalReference(id);
  auto borrower = rpc::Connect(loop_, "unix:" + cw_->address().unix_path(), kToken, nullptr);
  ASSERT_TRUE(borrower.ok()) << borrower.status().ToString();
  proto::BorrowRequest req;
  req.add_object_ids(id.Binary());
  req.mutable_borrower()->set_unix_path(dir_ + "/borrower.sock");
  proto::BorrowReply rep;
  ASSERT_TRUE(borrower.value()->CallSync(proto::ADD_BORROWER, req, &rep).ok());

  cw_->RemoveLocalReference(id);
  EXPECT_EQ(cw_->NumTrackedObjects(), 1u);
  // The borrower can still read it from its owner.
  proto::GetObjectStatusRequest status;
  status.set_object_id(id.Binary());
  proto::GetObjectStatusReply found;
  ASSERT_TRUE(borrower.value()->CallSync(proto::GET_OBJECT_STATUS, status, &found).ok());
  EXPECT_TRUE(found.found());

  ASSERT_TRUE(borrower.value()->CallSync(proto::REMOVE_BORROWER, req, &rep).ok());
  EXPECT_EQ(cw_->NumTrackedObjects(), 0u);
  ASSERT_TRUE(borrower.value()->CallSync(proto::GET_OBJECT_STATUS, status, &found).ok());
  EXPECT_FALSE(found.found());
}

TEST_F(CoreWorkerTest, ASubmittedTaskHoldsItsArgumentsWhileItWaits) {
  ObjectID arg = Put(16);
  cw_->AddLocalReference(arg);
  SubmitArg by_ref;
  by_ref.ref = arg;
  std::vector<SubmitArg> args;
  args.push_back(by_ref);
  // The node can start no worker for this job (no fork server, no worker
  // program): the task waits for a lease for as long as the test runs.
  ObjectID ret = cw_->SubmitTask("f", std::move(args), TaskOptions());
  cw_->AddLocalReference(ret);
  cw_->RemoveLocalReference(arg);
  EXPECT_EQ(cw_->NumTrackedObjects(), 2u);  // the argument, held by the task, and its return
  std::vector<bool> ready = cw_->Wait({arg}, 1, 10000);
  EXPECT_TRUE(ready.at(0));
}

TEST_F(CoreWorkerTest, ATaskOnALeasedWorkerReleasesItsArgumentWhenItFinishes) {
  AddForkServer();
  FakeWorker *worker = AddWorker(FakeWorker::Answer::kReturnValue);
  ObjectID arg = Put(16);
  cw_->AddLocalReference(arg);
  std::vector<SubmitArg> args(1);
  args[0].ref = arg;
  ObjectID ret = cw_->SubmitTask("f", std::move(args), TaskOptions());
  cw_->AddLocalReference(ret);
  cw_->RemoveLocalReference(arg);
  StartForkedWorker(1, *worker);

  std::vector<RayObjectPtr> out;
  Status st = cw_->Get({ret}, 60000, &out);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(out.at(0)->error, proto::NO_ERROR);
  EXPECT_EQ(std::string(out[0]->data, out[0]->size), "result");
  // The task pushed to the worker named its argument by reference.
  auto pushed = worker->pushed().Get().at(0);
  ASSERT_EQ(pushed.args_size(), 1);
  EXPECT_EQ(pushed.args(0).object_id(), arg.Binary());
  EXPECT_EQ(pushed.caller().worker_id(), cw_->worker_id().Binary());
  // The task is over: only its return is left.
  EXPECT_EQ(cw_->NumTrackedObjects(), 1u);
  cw_->RemoveLocalReference(ret);
  EXPECT_EQ(cw_->NumTrackedObjects(), 0u);
}

TEST_F(CoreWorkerTest, ATaskWhoseWorkerDiesFailsOnceItsRetriesAreSpent) {
  AddForkServer();
  FakeWorker *worker = AddWorker(FakeWorker::Answer::kNever);
  ObjectID arg = Put(16);
  cw_->AddLocalReference(arg);
  std::vector<SubmitArg> args(1);
  args[0].ref = arg;
  TaskOptions options;
  options.max_retries = 0;
  ObjectID ret = cw_->SubmitTask("g", std::move(args), options);
  cw_->AddLocalReference(ret);
  cw_->RemoveLocalReference(arg);
  StartForkedWorker(1, *worker);
  worker->pushed().WaitFor([](auto &v) { return !v.empty(); });

  worker->Die();
  std::vector<RayObjectPtr> out;
  Status st = cw_->Get({ret}, 60000, &out);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(out.at(0)->error, proto::WORKER_DIED);
  EXPECT_NE(out[0]->ErrorMessage().find("'g'"), std::string::npos) << out[0]->ErrorMessage();
  EXPECT_EQ(cw_->NumTrackedObjects(), 1u);  // the argument went with the task
}

TEST_F(CoreWorkerTest, ATaskWhoseWorkerDiesIsRetriedOnAFreshWorker) {
  AddForkServer();
  FakeWorker *first = AddWorker(FakeWorker::Answer::kNever);
  FakeWorker *second = AddWorker(FakeWorker::Answer::kReturnValue);
  TaskOptions options;
  options.max_retries = 1;
  ObjectID ret = cw_->SubmitTask("h", {}, options);
  cw_->AddLocalReference(ret);
  StartForkedWorker(1, *first);
  first->pushed().WaitFor([](auto &v) { return !v.empty(); });

  first->Die();
  // The failed worker's lease goes back marked failed, so the next lease is a fresh worker.
  StartForkedWorker(2, *second);
  std::vector<RayObjectPtr> out;
  Status st = cw_->Get({ret}, 60000, &out);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(out.at(0)->error, proto::NO_ERROR);
  auto retried = second->pushed().Get().at(0);
  EXPECT_EQ(retried.attempt(), 1);
  EXPECT_EQ(retried.task_id(), first->pushed().Get().at(0).task_id());
}

// A restartable actor's constructor runs again on every restart, from the
// same arguments: its owner keeps them (a large one lives in the node's
// store) until the actor is dead for good, and lets them go then.
TEST_F(CoreWorkerTest, AnActorKeepsItsConstructorArgumentsUntilItIsDeadForGood) {
  AddForkServer();
  FakeWorker *first = AddWorker();
  FakeWorker *second = AddWorker();
  ObjectID arg = Put(512 * 1024);  // above the inline threshold: in the node's store
  cw_->AddLocalReference(arg);
  std::vector<SubmitArg> args(1);
  args[0].ref = arg;
  ActorOptions options;
  options.max_restarts = 1;
  auto actor = cw_->CreateActor("Make", "Thing", std::move(args), options);
  ASSERT_TRUE(actor.ok()) << actor.status().ToString();
  cw_->RemoveLocalReference(arg);  // the caller lets go: only the actor holds it
  StartForkedWorker(1, *first);
  ASSERT_TRUE(first->pushed().WaitFor([](auto &v) { return !v.empty(); }));

  first->Die();  // a crash: the actor restarts, its constructor runs again
  StartForkedWorker(2, *second);
  ASSERT_TRUE(second->pushed().WaitFor([](auto &v) { return !v.empty(); }));
  auto restarted = second->pushed().Get().at(0);
  ASSERT_EQ(restarted.args_size(), 1);
  EXPECT_EQ(restarted.args(0).object_id(), arg.Binary());
  EXPECT_TRUE(restarted.args(0).in_plasma());
  EXPECT_EQ(cw_->NumTrackedObjects(), 1u);
  EXPECT_EQ(StoreObjects(), 1u);
  EXPECT_EQ(GetError(arg), proto::NO_ERROR);

  second->Die();  // no restart left: dead for good, and the argument goes
  auto until = std::chrono::steady_clock::now() + kDeadline;
  while (cw_->NumTrackedObjects() != 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  EXPECT_EQ(cw_->NumTrackedObjects(), 0u);
  WaitStoreObjects(0);
}

// A call in flight when its actor's connection closes fails with what the
// control service says became of the actor (here: dead, no restarts left),
// not with the connection's error: the caller waits for that news (Ray's
// wait for death info), as a call lost with a node that was cut off must
// name the node's death, which the control service learns later than the
// caller's connection breaks.
TEST_F(CoreWorkerTest, ACallLostWithItsActorFailsWithTheControlServicesDeathCause) {
  FakeWorker *worker = nullptr;
  ObjectID call = CallInFlight(FakeWorker::Answer::kCreateOnly, &worker);
  ASSERT_FALSE(call.IsNil());

  worker->Die();
  std::vector<RayObjectPtr> out;
  Status st = cw_->Get({call}, 30000, &out);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->error, proto::ACTOR_DIED);
  const std::string message = out[0]->inline_data ? *out[0]->inline_data : "";
  EXPECT_NE(message.find("before finishing the call to Thing::Work"), std::string::npos) << message;
  EXPECT_NE(message.find("no restarts left"), std::string::npos)
      << "the control service's cause: " << message;
}

// A task's result that holds a reference owned by a third process makes the
// caller a borrower at that owner before the caller learns of it. When the
// owner, still connected, cannot be told, the result fails: a caller holding
// a ref its owner does not count could see the object freed under it.
TEST_F(CoreWorkerTest, AResultFailsWhenItsNestedObjectsOwnerCannotBeToldOfTheBorrower) {
  // The third process: owns `nested`, and refuses to count borrowers.
  const WorkerID owner_id = WorkerID::FromRandom();
  const ObjectID nested = ObjectID::ForTaskReturn(TaskID::Of(owner_id, 1), 1);
  Recorded<std::vector<proto::BorrowRequest>> asked;
  rpc::Dispatcher owner_dispatcher;
  owner_dispatcher.Register(proto::ADD_BORROWER,
                            [&](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view body) {
                              proto::BorrowRequest req;
                              EXPECT_TRUE(rpc::ParseBody(body, &req));
                              asked.Update([&](auto &v) { v.push_back(req); });
                              conn->ReplyError(call_id, Status::Internal("the owner refuses on purpose"));
                            });
  rpc::EventLoop owner_loop{"fake-owner"};
  rpc::Server owner(owner_loop, kToken, &owner_dispatcher);
  ASSERT_TRUE(owner.ListenUnix(cw_->session_dir() + "/sockets/w-" + owner_id.Hex().substr(0, 24)).ok());

  // The process that runs the task: its result nests `nested`.
  CoreWorkerOptions o;
  o.is_driver = true;
  o.node_address = "unix:" + cw_->session_dir() + "/sockets/node";
  o.session_dir = cw_->session_dir();
  o.control_address = address_;
  o.token = kToken;
  o.ray_namespace = "ns";
  o.executor = [nested](const proto::TaskSpec &, const std::vector<ArgBytes> &, ExecResult *result) {
    auto bytes = std::make_shared<msgpack::sbuffer>();
    msgpack::pack(*bytes, std::string("holds a ref"));
    result->size = bytes->size();
    result->write = [bytes](char *dst) {
      std::memcpy(dst, bytes->data(), bytes->size());
      return true;
    };
    result->nested.push_back(nested);
  };
  auto runner = CoreWorker::Create(o);
  ASSERT_TRUE(runner.ok()) << runner.status().ToString();
  std::thread exec([&] { runner.value()->RunTaskLoop(); });
  struct Stop {
    ~Stop() {
      cw.Shutdown();  // ends its task loop
      exec.join();
    }
    CoreWorker &cw;
    std::thread &exec;
  } stop{*runner.value(), exec};

  auto caller = rpc::Connect(loop_, "unix:" + runner.value()->address().unix_path(), kToken, nullptr);
  ASSERT_TRUE(caller.ok()) << caller.status().ToString();
  proto::PushTaskRequest push;
  auto &spec = *push.mutable_spec();
  spec.set_task_id(TaskID::Of(cw_->worker_id(), 1).Binary());
  spec.set_type(proto::NORMAL_TASK);
  spec.mutable_function()->set_function_name("make_holder");
  *spec.mutable_caller() = cw_->address();
  proto::PushTaskReply reply;
  Status st = caller.value()->CallSync(proto::PUSH_TASK, push, &reply);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto sent = asked.Get();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].object_ids_size(), 1);
  EXPECT_EQ(sent[0].object_ids(0), nested.Binary());
  EXPECT_EQ(sent[0].borrower().worker_id(), cw_->worker_id().Binary());
  ASSERT_EQ(reply.returns_size(), 1);
  const auto &payload = reply.returns(0).payload();
  EXPECT_EQ(payload.error(), proto::OBJECT_LOST);
  EXPECT_EQ(payload.nested_ids_size(), 0) << "the caller was handed a ref its owner does not count";
  EXPECT_NE(payload.data().find(nested.Hex()), std::string::npos) << payload.data();
  EXPECT_NE(payload.data().find("could not be told"), std::string::npos) << payload.data();
  EXPECT_NE(payload.data().find("the owner refuses on purpose"), std::string::npos) << payload.data();
}

// An actor whose creation waits for an argument when the control service is
// lost can never be created (CREATE_ACTOR has nowhere to go): it is dead,
// and its calls fail, naming the control service, instead of waiting for ever.
TEST_F(CoreWorkerTest, AnActorStillWaitingForItsArgumentsDiesWithTheControlService) {
  // The argument is the result of a task that waits for a worker the node
  // cannot start (no fork server): it is not ready when the service goes.
  ObjectID pending = cw_->SubmitTask("f", {}, TaskOptions());
  std::vector<SubmitArg> args(1);
  args[0].ref = pending;
  auto actor = cw_->CreateActor("Make", "Thing", std::move(args), ActorOptions());
  ASSERT_TRUE(actor.ok()) << actor.status().ToString();
  ObjectID call = cw_->SubmitActorTask(actor.value(), "Method", {}, TaskOptions());
  cw_->AddLocalReference(call);

  server_.reset();  // the control service is gone
  std::vector<RayObjectPtr> out;
  Status st = cw_->Get({call}, 60000, &out);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(out.at(0)->error, proto::ACTOR_DIED);
  EXPECT_NE(out[0]->ErrorMessage().find("control service"), std::string::npos) << out[0]->ErrorMessage();
  // Later calls and creations fail the same way, at once.
  ObjectID later = cw_->SubmitActorTask(actor.value(), "Method", {}, TaskOptions());
  cw_->AddLocalReference(later);
  EXPECT_EQ(GetError(later), proto::ACTOR_DIED);
  auto again = cw_->CreateActor("Make", "Thing", {}, ActorOptions());
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("control service"), std::string::npos) << again.status().ToString();
}

/// Another worker, owner of objects the driver under test borrows: it holds
/// each GET_OBJECT_STATUS until the test makes that object ready.
class FakeOwner {
 public:
  explicit FakeOwner(const std::string &session_dir) {
    dispatcher_.Register(proto::GET_OBJECT_STATUS,
                         [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view body) {
                           proto::GetObjectStatusRequest req;
                           EXPECT_TRUE(rpc::ParseBody(body, &req));
                           asked_.Update([&](auto &v) { v.push_back({conn, call_id, req.object_id()}); });
                         });
    server_ = std::make_unique<rpc::Server>(loop_, kToken, &dispatcher_);
    // Where a core worker looks for an object's owner (CoreWorker::OwnerPath).
    EXPECT_TRUE(server_->ListenUnix(session_dir + "/sockets/w-" + id_.Hex().substr(0, 24)).ok());
  }
  ~FakeOwner() {
    server_->Stop();
    loop_.Stop();
  }
  /// The `n`-th object this owner made (the return of its n-th task).
  ObjectID Object(uint64_t n) const { return ObjectID::ForTaskReturn(TaskID::Of(id_, n), 1); }
  /// Answers the borrower's request for `id` (once it has come) with a value.
  void MakeReady(const ObjectID &id) {
    asked_.WaitFor([&](auto &v) {
      for (auto &a : v)
        if (a.object_id == id.Binary()) return true;
      return false;
    });
    for (auto &a : asked_.Get()) {
      if (a.object_id != id.Binary()) continue;
      proto::GetObjectStatusReply rep;
      rep.set_found(true);
      rep.mutable_payload()->set_data("value");
      a.conn->Reply(a.call_id, rep);
    }
  }

 private:
  struct Asked {
    rpc::ConnectionPtr conn;
    uint64_t call_id;
    std::string object_id;
  };
  WorkerID id_ = WorkerID::FromRandom();
  rpc::EventLoop loop_{"fake-owner"};
  rpc::Dispatcher dispatcher_;
  std::unique_ptr<rpc::Server> server_;
  Recorded<std::vector<Asked>> asked_;
};

class CoreWorkerTimeoutTest : public CoreWorkerTest {
 protected:
  CoreWorkerTimeoutTest() { fake_clock_ = true; }
  void TearDown() override {
    CoreWorkerTest::TearDown();
    owner_.reset();
  }
  void SetUp() override {
    CoreWorkerTest::SetUp();
    owner_ = std::make_unique<FakeOwner>(cw_->session_dir());
  }
  /// Waits until Get/Wait callers have gone to sleep `n` times in all, or
  /// `call` has returned (then the caller did not sleep again: it returned).
  template <typename T>
  void WaitForSleeps(uint64_t n, const std::future<T> &call) {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    while (cw_->NumWaitSleeps() < n && call.wait_for(std::chrono::seconds(0)) != std::future_status::ready &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    ASSERT_EQ(call.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
        << "returned before its deadline";
    ASSERT_GE(cw_->NumWaitSleeps(), n) << "never went back to sleep";
  }
  std::unique_ptr<FakeOwner> owner_;
};

// A call whose connection to its actor breaks while the control service has
// no news of the actor (its worker and the actor manager's link to it live
// on) waits for news as long as a node's death takes to be seen, then fails
// with the connection's error: not at once, and never a hang.
TEST_F(CoreWorkerTimeoutTest, ACallLostWithNoNewsOfItsActorFailsWithTheConnectionsErrorOnceTheWaitEnds) {
  FakeWorker *worker = nullptr;
  ObjectID call = CallInFlight(FakeWorker::Answer::kDropCallers, &worker);
  ASSERT_FALSE(call.IsNil());

  auto until = std::chrono::steady_clock::now() + kDeadline;
  while (cw_->NumCallsAwaitingDeathInfo() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::yield();
  ASSERT_EQ(cw_->NumCallsAwaitingDeathInfo(), 1u) << "the lost call waits for news of its actor";
  std::vector<RayObjectPtr> out;
  EXPECT_FALSE(cw_->Get({call}, 0, &out).ok()) << "not failed before the wait ends";

  clock_.Advance(std::chrono::hours(1));  // past any wait for news
  Status st = cw_->Get({call}, -1, &out);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->error, proto::ACTOR_DIED);
  const std::string message = out[0]->inline_data ? *out[0]->inline_data : "";
  EXPECT_NE(message.find("before finishing the call to Thing::Work"), std::string::npos) << message;
  EXPECT_NE(message.find("process exited or was killed"), std::string::npos) << message;
  EXPECT_EQ(cw_->NumCallsAwaitingDeathInfo(), 0u);
}

// Wait(refs, 3, 1 s) on a put object (ready), one that becomes ready before
// the deadline and one that never does: neither the clock reaching the last
// instant before the deadline (which wakes it: it goes back to sleep) nor the
// second object becoming ready ends it; the clock passing the deadline does,
// with exactly the two ready ones.
TEST_F(CoreWorkerTimeoutTest, WaitReturnsTheReadySubsetOnceTheClockPassesTheDeadline) {
  ObjectID put = Put(16);
  cw_->AddLocalReference(put);
  ObjectID later = owner_->Object(1);
  ObjectID never = owner_->Object(2);
  auto call = std::async(std::launch::async, [&] { return cw_->Wait({put, later, never}, 3, 1000); });
  WaitForSleeps(1, call);
  clock_.Advance(std::chrono::milliseconds(1000) - std::chrono::nanoseconds(1));
  WaitForSleeps(2, call);
  owner_->MakeReady(later);
  // Once the core worker has it (this second caller returns), the first is
  // still waiting for a third object.
  EXPECT_EQ(cw_->Wait({later}, 1, -1), std::vector<bool>{true});
  EXPECT_EQ(call.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  clock_.Advance(std::chrono::nanoseconds(1));
  ASSERT_EQ(call.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(call.get(), (std::vector<bool>{true, true, false}));
}

// Enough objects becoming ready ends a Wait before its deadline.
TEST_F(CoreWorkerTimeoutTest, WaitReturnsAsSoonAsEnoughAreReady) {
  ObjectID put = Put(16);
  cw_->AddLocalReference(put);
  ObjectID later = owner_->Object(1);
  ObjectID never = owner_->Object(2);
  auto call = std::async(std::launch::async, [&] { return cw_->Wait({never, later, put}, 2, 1000); });
  WaitForSleeps(1, call);
  owner_->MakeReady(later);
  ASSERT_EQ(call.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(call.get(), (std::vector<bool>{false, true, true}));
}

// A Get with a timeout fails with TimedOut once the clock passes its
// deadline, and not at the last instant before it.
TEST_F(CoreWorkerTimeoutTest, GetFailsWithTimedOutOnceTheClockPassesTheDeadline) {
  ObjectID put = Put(16);
  cw_->AddLocalReference(put);
  ObjectID never = owner_->Object(1);
  std::vector<RayObjectPtr> out;
  auto call = std::async(std::launch::async, [&] { return cw_->Get({put, never}, 5000, &out); });
  WaitForSleeps(1, call);
  clock_.Advance(std::chrono::milliseconds(5000) - std::chrono::nanoseconds(1));
  WaitForSleeps(2, call);
  clock_.Advance(std::chrono::nanoseconds(1));
  ASSERT_EQ(call.wait_for(kDeadline), std::future_status::ready);
  Status st = call.get();
  EXPECT_EQ(st.code(), StatusCode::kTimedOut) << st.ToString();
  EXPECT_TRUE(out.empty());
}

// An object becoming ready before the deadline is what a Get returns.
TEST_F(CoreWorkerTimeoutTest, GetReturnsWhatBecomesReadyBeforeTheDeadline) {
  ObjectID later = owner_->Object(1);
  std::vector<RayObjectPtr> out;
  auto call = std::async(std::launch::async, [&] { return cw_->Get({later}, 5000, &out); });
  WaitForSleeps(1, call);
  clock_.Advance(std::chrono::milliseconds(4999));
  WaitForSleeps(2, call);
  owner_->MakeReady(later);
  ASSERT_EQ(call.wait_for(kDeadline), std::future_status::ready);
  Status st = call.get();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::string(out[0]->data, out[0]->size), "value");
}

// A result that could not be stored reaches its caller as what went wrong,
// not always as a full object store.
TEST(StoreFailureTypeTest, EachFailureKeepsItsOwnType) {
  EXPECT_EQ(StoreFailureType(Status::ObjectStoreFull("full")), proto::OBJECT_STORE_FULL);
  EXPECT_EQ(StoreFailureType(Status::InvalidArgument("serializing the value failed")),
            proto::TASK_EXECUTION_EXCEPTION);
  EXPECT_EQ(StoreFailureType(Status(StatusCode::kWorkerDied, "the node service died")), proto::WORKER_DIED);
  EXPECT_EQ(StoreFailureType(Status::Disconnected("connection to the node closed")), proto::OBJECT_LOST);
  EXPECT_EQ(StoreFailureType(Status::TimedOut("call timed out")), proto::OBJECT_LOST);
}

// Every request the core worker serves is parsed before its handler runs:
// a malformed one is answered with InvalidArgument (ADD_BORROWER used to
// drop it unanswered, leaving the caller to its deadline).
TEST_F(CoreWorkerTest, MalformedRequestsAreRefusedAndTheWorkerGoesOn) {
  auto conn = rpc::Connect(loop_, "unix:" + cw_->address().unix_path(), kToken, nullptr);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  control::testing::ExpectMalformedRequestsRefused(
      **conn, {proto::PUSH_TASK, proto::GET_OBJECT_STATUS, proto::ADD_BORROWER, proto::REMOVE_BORROWER,
               proto::ACTOR_UPDATE, proto::LOG_LINES});
  // Still serving: an object's status is answered.
  ObjectID id = Put(16);
  proto::GetObjectStatusRequest req;
  req.set_object_id(id.Binary());
  proto::GetObjectStatusReply rep;
  ASSERT_TRUE(conn.value()->CallSync(proto::GET_OBJECT_STATUS, req, &rep).ok());
  EXPECT_TRUE(rep.found());
}

// Normal tasks across nodes: a second node, B, has the resource "special"
// that the driver's node lacks; B has its own fake fork server for the job.
class CoreWorkerSpillbackTest : public CoreWorkerTest {
 protected:
  void SetUp() override {
    CoreWorkerTest::SetUp();
    if (HasFatalFailure()) return;
    scheduler::NodeServiceOptions n;
    n.session_dir = dir_ + "/b";
    n.token = kToken;
    n.control_address = address_;
    n.resources = {{"CPU", 1}, {"special", 1}};
    n.store_capacity = 1 << 20;
    n.prestart_workers = 0;
    node_b_ = std::make_unique<scheduler::NodeService>(n);
    ASSERT_TRUE(node_b_->Start().ok());
    b_address_ = "unix:" + n.session_dir + "/sockets/node";
    b_fork_dispatcher_.Register(proto::FORK_WORKER,
                                [this](const rpc::ConnectionPtr &, uint64_t, std::string_view body) {
                                  proto::ForkWorkerRequest req;
                                  EXPECT_TRUE(rpc::ParseBody(body, &req));
                                  b_forks_.Update([&](auto &v) { v.push_back(req.worker_id()); });
                                });
    RegisterOnB(proto::FORK_SERVER, &b_fork_dispatcher_, "", nullptr);
  }
  void TearDown() override {
    if (cw_) cw_->Shutdown();
    cw_.reset();
    node_b_.reset();
    CoreWorkerTest::TearDown();
  }
  rpc::ConnectionPtr RegisterOnB(proto::ClientKind kind, const rpc::Dispatcher *dispatcher,
                                 const std::string &worker_id, const proto::Address *address) {
    auto conn = rpc::Connect(loop_, b_address_, kToken, dispatcher);
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return nullptr;
    proto::RegisterClientRequest req;
    req.set_kind(kind);
    req.set_job_id(cw_->job_id());
    req.set_worker_id(worker_id);
    if (address) *req.mutable_address() = *address;
    proto::RegisterClientReply rep;
    EXPECT_TRUE(conn.value()->CallSync(proto::REGISTER_CLIENT, req, &rep).ok());
    conns_.push_back(conn.value());
    return conn.value();
  }
  static proto::NodeStatsReply Stats(rpc::Connection &conn) {
    proto::NodeStatsReply rep;
    EXPECT_TRUE(conn.CallSync(proto::NODE_STATS, proto::NodeStatsRequest(), &rep).ok());
    return rep;
  }

  std::unique_ptr<scheduler::NodeService> node_b_;
  std::string b_address_;
  rpc::Dispatcher b_fork_dispatcher_;
  Recorded<std::vector<std::string>> b_forks_;
};

// The driver's node answers SPILLBACK naming B (by B's TCP address); the
// core worker asks B, which starts a worker there, and the task runs on it
// with B's resources held, pushed by TCP: B is another node.
TEST_F(CoreWorkerSpillbackTest, ATaskNeedingAResourceOnlyAnotherNodeHasRunsOnAWorkerLeasedThere) {
  FakeWorker *worker = AddWorker(FakeWorker::Answer::kReturnValue);
  worker->AlsoListenOnTcp();
  TaskOptions options;
  options.resources = {{"CPU", 1}, {"special", 1}};
  ObjectID ret = cw_->SubmitTask("f", {}, options);
  cw_->AddLocalReference(ret);
  ASSERT_TRUE(b_forks_.WaitFor([](auto &v) { return !v.empty(); })) << "B starts a worker for it";
  auto address = worker->Address();
  RegisterOnB(proto::WORKER, nullptr, b_forks_.Get().at(0), &address);

  EXPECT_EQ(GetError(ret), proto::NO_ERROR);
  ASSERT_EQ(worker->pushed().Get().size(), 1u);
  auto b_conn = rpc::Connect(loop_, b_address_, kToken, nullptr);
  ASSERT_TRUE(b_conn.ok());
  proto::NodeStatsReply b = Stats(**b_conn);
  EXPECT_EQ(b.available().amounts().count("special"), 0u) << "B holds the lease (none of it is free)";
  proto::NodeStatsReply a = Stats(*node_conn_);
  EXPECT_EQ(a.available().amounts().at("CPU"), 1) << "the driver's node holds nothing";
  EXPECT_EQ(a.pending_size(), 0);
  cw_->RemoveLocalReference(ret);
}

}  // namespace
}  // namespace lumen::worker
