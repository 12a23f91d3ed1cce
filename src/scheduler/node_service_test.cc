// The node service's leases, pool and bundles, with the service itself in
// the test process (registered with an in-process control service) and fake
// peers over its real Unix socket: a fork server that records FORK_WORKER,
// workers that register under the ids it was told (pid 0: no process for the
// node to signal; a killed worker is one whose connection the node closes)
// and lease holders that record their replies. The node reads a FakeClock:
// time passes only when a test moves it.
#include "scheduler/node_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "base/clock.h"
#include "base/timeouts.h"
#include "base/encoding.h"
#include "base/sha256.h"
#include "control/control_test_peers.h"

namespace lumen::scheduler {
namespace {

using control::testing::kDeadline;
using control::testing::kToken;
using control::testing::Recorded;

constexpr uint32_t kJob = 1;
constexpr int kForkServerPid = 4242;  // what the fake fork server says its pid is

class NodeServiceTest : public control::testing::ControlServiceTest {
 protected:
  // None by default: workers only for leases, so each one is the test's to start.
  virtual int PrestartWorkers() const { return 0; }
  // A cluster that spans nodes: drivers and workers listen on TCP too.
  virtual bool WorkerTcp() const { return false; }

  void SetUp() override {
    ControlServiceTest::SetUp();
    NodeServiceOptions o;
    o.session_dir = dir_ + "/session";
    o.token = kToken;
    o.control_address = address_;
    o.resources = {{"CPU", 2}, {"GPU", 2}};
    o.gpu_ids = {0, 1};
    o.store_capacity = 1 << 20;
    o.prestart_workers = PrestartWorkers();
    o.clock = &clock_;
    o.worker_tcp = WorkerTcp();
    node_address_ = "unix:" + o.session_dir + "/sockets/node";
    node_ = std::make_unique<NodeService>(o);
    ASSERT_TRUE(node_->Start().ok());

    fork_dispatcher_.Register(
        proto::FORK_WORKER, [this](const rpc::ConnectionPtr &, uint64_t, std::string_view body) {
          proto::ForkWorkerRequest req;
          EXPECT_TRUE(rpc::ParseBody(body, &req));
          forks_.Update([&](auto &v) { v.push_back(req.worker_id()); });
          fork_envs_.Update([&](auto &v) { v[req.worker_id()] = {req.env().begin(), req.env().end()}; });
        });
    fork_server_ = Register(proto::FORK_SERVER, &fork_dispatcher_);
  }
  void TearDown() override {
    node_.reset();  // closes every peer's connection first
    ControlServiceTest::TearDown();
  }

  /// A client of the node of `kind`, registered for the test's job.
  rpc::ConnectionPtr Register(proto::ClientKind kind, const rpc::Dispatcher *dispatcher = nullptr,
                              const std::string &worker_id = "", const std::string &tcp = "") {
    auto conn = rpc::Connect(loop_, node_address_, kToken, dispatcher);
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return nullptr;
    proto::RegisterClientRequest req;
    req.set_kind(kind);
    req.set_job_id(kJob);
    req.set_worker_id(worker_id);
    if (kind == proto::FORK_SERVER) req.set_pid(kForkServerPid);
    if (kind == proto::WORKER) {
      req.mutable_address()->set_worker_id(worker_id);
      req.mutable_address()->set_unix_path("/nonexistent/" + ToHex(worker_id));
    }
    if (!tcp.empty()) {
      req.mutable_address()->set_worker_id(worker_id);
      req.mutable_address()->set_tcp(tcp);
    }
    proto::RegisterClientReply rep;
    Status st = conn.value()->CallSync(proto::REGISTER_CLIENT, req, &rep);
    EXPECT_TRUE(st.ok()) << st.ToString();
    conns_.push_back(conn.value());
    return conn.value();
  }

  /// Waits for the node's n-th FORK_WORKER and registers that worker, as a
  /// forked worker would. Returns its connection.
  rpc::ConnectionPtr StartForkedWorker(size_t n) {
    forks_.WaitFor([&](auto &v) { return v.size() >= n; });
    auto forks = forks_.Get();
    if (forks.size() < n) return nullptr;
    auto conn = Register(proto::WORKER, nullptr, forks[n - 1]);
    workers_by_id_[forks[n - 1]] = conn;
    return conn;
  }

  struct LeaseResult {
    bool answered = false;
    Status status;
    proto::WorkerLeaseReply reply;
  };
  /// Asks for a lease; the reply lands in the returned record.
  std::shared_ptr<Recorded<LeaseResult>> RequestLease(rpc::Connection &holder,
                                                      std::map<std::string, double> need,
                                                      bool for_actor = false) {
    auto result = std::make_shared<Recorded<LeaseResult>>();
    proto::WorkerLeaseRequest req;
    req.set_job_id(kJob);
    for (auto &[k, v] : need) (*req.mutable_resources()->mutable_amounts())[k] = v;
    req.set_for_actor(for_actor);
    if (for_actor) *req.mutable_hold() = req.resources();
    holder.Call(
        proto::REQUEST_WORKER_LEASE, req,
        [result](Status st, std::string_view body) {
          result->Update([&](LeaseResult &r) {
            r.answered = true;
            r.status = st;
            if (st.ok()) {
              EXPECT_TRUE(rpc::ParseBody(body, &r.reply));
            }
          });
        },
        kForever);
    return result;
  }
  static LeaseResult Await(Recorded<LeaseResult> &r) {
    r.WaitFor([](const LeaseResult &l) { return l.answered; });
    return r.Get();
  }
  void ReturnWorker(rpc::Connection &holder, uint64_t lease_id, bool failed = false) {
    proto::ReturnWorkerRequest req;
    req.set_lease_id(lease_id);
    req.set_worker_failed(failed);
    holder.Notify(proto::RETURN_WORKER, req);
  }
  /// What the node has free of `resource` (a round trip: everything sent
  /// before on the same connection has been handled).
  double Available(rpc::Connection &conn, const std::string &resource) {
    proto::NodeStatsReply rep;
    EXPECT_TRUE(conn.CallSync(proto::NODE_STATS, proto::NodeStatsRequest(), &rep).ok());
    auto it = rep.available().amounts().find(resource);
    return it == rep.available().amounts().end() ? 0 : it->second;
  }
  /// Waits until the node's free `resource` is `amount`.
  void WaitAvailable(rpc::Connection &conn, const std::string &resource, double amount) {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    while (Available(conn, resource) != amount && std::chrono::steady_clock::now() < until) {
    }
    EXPECT_EQ(Available(conn, resource), amount);
  }
  /// How many idle workers the node keeps (a round trip, as Available).
  int IdleWorkers(rpc::Connection &conn) {
    proto::NodeStatsReply rep;
    EXPECT_TRUE(conn.CallSync(proto::NODE_STATS, proto::NodeStatsRequest(), &rep).ok());
    return rep.num_idle_workers();
  }
  static void WaitClosed(const rpc::ConnectionPtr &conn) {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    while (conn->IsOpen() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    EXPECT_FALSE(conn->IsOpen()) << "the node did not close the worker's connection";
  }

  FakeClock clock_;
  std::string node_address_;
  std::unique_ptr<NodeService> node_;
  rpc::Dispatcher fork_dispatcher_;
  rpc::ConnectionPtr fork_server_;
  Recorded<std::vector<std::string>> forks_;  // worker ids the node asked the fork server for
  Recorded<std::map<std::string, std::map<std::string, std::string>>> fork_envs_;  // their env, by id
  std::map<std::string, rpc::ConnectionPtr> workers_by_id_;
  std::vector<rpc::ConnectionPtr> conns_;
};

TEST_F(NodeServiceTest, GrantsLeasesWhileResourcesFitAndQueuesTheRest) {
  auto driver = Register(proto::DRIVER);
  auto first = RequestLease(*driver, {{"CPU", 1}});
  StartForkedWorker(1);
  auto l1 = Await(*first);
  ASSERT_TRUE(l1.status.ok()) << l1.status.ToString();
  EXPECT_TRUE(l1.reply.granted());
  auto second = RequestLease(*driver, {{"CPU", 1}});
  StartForkedWorker(2);
  auto l2 = Await(*second);
  ASSERT_TRUE(l2.reply.granted());
  EXPECT_NE(l1.reply.worker().worker_id(), l2.reply.worker().worker_id());
  EXPECT_EQ(l2.reply.worker().node_id(), node_->node_id().Binary());
  EXPECT_EQ(Available(*driver, "CPU"), 0);

  // No CPU left: the third waits, and takes the first worker once it is returned.
  auto third = RequestLease(*driver, {{"CPU", 1}});
  EXPECT_EQ(Available(*driver, "CPU"), 0);
  EXPECT_FALSE(third->Get().answered);
  ReturnWorker(*driver, l1.reply.lease_id());
  auto l3 = Await(*third);
  ASSERT_TRUE(l3.reply.granted());
  EXPECT_EQ(l3.reply.worker().worker_id(), l1.reply.worker().worker_id());  // reused, not a new fork
  EXPECT_EQ(forks_.Get().size(), 2u);
}

// NODE_STATS with_processes: the node's own process (Ray's "raylet") and its
// clients' from /proc; a client whose pid names no process (the fake fork
// server's) is left out rather than reported as zeros.
TEST_F(NodeServiceTest, ProcessStatsNameTheNodeAndLeaveOutProcessesThatAreGone) {
  auto driver = Register(proto::DRIVER);
  proto::NodeStatsRequest request;
  request.set_with_processes(true);
  proto::NodeStatsReply rep;
  ASSERT_TRUE(driver->CallSync(proto::NODE_STATS, request, &rep).ok());
  bool node_listed = false;
  for (const proto::ProcessStats &p : rep.processes()) {
    EXPECT_GT(p.rss_bytes(), 0u) << p.component();
    EXPECT_GE(p.cpu_percent(), 0) << p.component();
    EXPECT_LE(p.uss_bytes(), p.rss_bytes()) << p.component();
    if (p.pid() == kForkServerPid) EXPECT_EQ(access("/proc/4242", F_OK), 0) << "a pid that names nothing";
    node_listed |= p.component() == "raylet" && p.pid() == getpid();
  }
  EXPECT_TRUE(node_listed) << rep.processes_size();
  proto::NodeStatsReply plain;  // not asked: none
  ASSERT_TRUE(driver->CallSync(proto::NODE_STATS, proto::NodeStatsRequest(), &plain).ok());
  EXPECT_EQ(plain.processes_size(), 0);
}

TEST_F(NodeServiceTest, CancelAnswersTheHoldersPendingRequestsOfThatShape) {
  auto driver = Register(proto::DRIVER);
  auto big = RequestLease(*driver, {{"CPU", 2}});
  StartForkedWorker(1);
  ASSERT_TRUE(Await(*big).reply.granted());
  auto waiting = RequestLease(*driver, {{"CPU", 1}});
  proto::WorkerLeaseRequest cancel;
  cancel.set_job_id(kJob);
  (*cancel.mutable_resources()->mutable_amounts())["CPU"] = 1;
  driver->Notify(proto::CANCEL_WORKER_LEASES, cancel);
  auto r = Await(*waiting);
  ASSERT_TRUE(r.status.ok());
  EXPECT_FALSE(r.reply.granted());
  EXPECT_EQ(r.reply.error(), "canceled");
}

TEST_F(NodeServiceTest, LeasesAreTakenBackWhenTheirHolderDisconnects) {
  auto holder = Register(proto::TOOL);  // a submitter other than the driver, whose leaving ends the job
  auto other = Register(proto::DRIVER);
  auto lease = RequestLease(*holder, {{"CPU", 2}});
  auto worker = StartForkedWorker(1);
  ASSERT_TRUE(Await(*lease).reply.granted());
  auto waiting = RequestLease(*other, {{"CPU", 1}});

  holder->Close();
  // The holder's work stops (its worker is killed) and the CPUs go to the waiter.
  WaitClosed(worker);
  StartForkedWorker(2);
  EXPECT_TRUE(Await(*waiting).reply.granted());
  EXPECT_EQ(Available(*other, "CPU"), 1);
}

TEST_F(NodeServiceTest, AWorkerThatDisconnectsGivesItsLeaseBack) {
  auto driver = Register(proto::DRIVER);
  auto lease = RequestLease(*driver, {{"CPU", 2}});
  auto worker = StartForkedWorker(1);
  ASSERT_TRUE(Await(*lease).reply.granted());
  EXPECT_EQ(Available(*driver, "CPU"), 0);
  worker->Close();
  WaitAvailable(*driver, "CPU", 2);
}

// KILL_WORKER (the control service ending an actor) gives the lease back at
// once: the worker's own connection is still open here, as a SIGKILLed
// process's is while the kernel tears it down.
TEST_F(NodeServiceTest, AKilledWorkerGivesItsLeaseBackBeforeItsConnectionCloses) {
  auto control = Register(proto::TOOL);
  auto driver = Register(proto::DRIVER);
  auto lease = RequestLease(*driver, {{"CPU", 2}}, /*for_actor=*/true);
  auto worker = StartForkedWorker(1);
  auto granted = Await(*lease);
  ASSERT_TRUE(granted.reply.granted());
  auto waiting = RequestLease(*driver, {{"CPU", 1}});
  proto::KillWorkerRequest kill;
  kill.set_worker_id(granted.reply.worker().worker_id());
  control->Notify(proto::KILL_WORKER, kill);
  StartForkedWorker(2);
  EXPECT_TRUE(Await(*waiting).reply.granted());
  WaitClosed(worker);  // the node drops it
}

TEST_F(NodeServiceTest, AWorkerReturnedAsFailedIsNotReused) {
  auto driver = Register(proto::DRIVER);
  auto lease = RequestLease(*driver, {{"CPU", 1}});
  auto worker = StartForkedWorker(1);
  auto l = Await(*lease);
  ASSERT_TRUE(l.reply.granted());
  ReturnWorker(*driver, l.reply.lease_id(), /*failed=*/true);
  WaitClosed(worker);
  auto again = RequestLease(*driver, {{"CPU", 1}});
  StartForkedWorker(2);  // a fresh one
  auto l2 = Await(*again);
  ASSERT_TRUE(l2.reply.granted());
  EXPECT_NE(l2.reply.worker().worker_id(), l.reply.worker().worker_id());
}

TEST_F(NodeServiceTest, GpuLeasesHoldDistinctDevicesAndGiveThemBack) {
  auto driver = Register(proto::DRIVER);
  auto a = RequestLease(*driver, {{"GPU", 1}});
  StartForkedWorker(1);
  auto la = Await(*a);
  auto b = RequestLease(*driver, {{"GPU", 1}});
  StartForkedWorker(2);
  auto lb = Await(*b);
  ASSERT_TRUE(la.reply.granted() && lb.reply.granted());
  ASSERT_EQ(la.reply.gpu_ids_size(), 1);
  ASSERT_EQ(lb.reply.gpu_ids_size(), 1);
  std::vector<int> ids = {la.reply.gpu_ids(0), lb.reply.gpu_ids(0)};
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<int>{0, 1}));

  ReturnWorker(*driver, la.reply.lease_id());
  auto c = RequestLease(*driver, {{"GPU", 1}});
  auto lc = Await(*c);
  ASSERT_TRUE(lc.reply.granted());
  ASSERT_EQ(lc.reply.gpu_ids_size(), 1);
  EXPECT_EQ(lc.reply.gpu_ids(0), la.reply.gpu_ids(0));  // the device given back
}

TEST_F(NodeServiceTest, AWorkerIsStartedWithTheDevicesOfTheLeaseItServes) {
  auto driver = Register(proto::DRIVER);
  // Two GPU leases asked for at once get workers started for distinct devices.
  auto a = RequestLease(*driver, {{"GPU", 1}});
  auto b = RequestLease(*driver, {{"GPU", 1}});
  StartForkedWorker(1);
  StartForkedWorker(2);
  auto la = Await(*a), lb = Await(*b);
  ASSERT_TRUE(la.reply.granted() && lb.reply.granted());
  auto envs = fork_envs_.Get();
  for (auto *l : {&la, &lb}) {
    ASSERT_EQ(l->reply.gpu_ids_size(), 1);
    EXPECT_EQ(envs[l->reply.worker().worker_id()]["CUDA_VISIBLE_DEVICES"],
              std::to_string(l->reply.gpu_ids(0)));
  }
  EXPECT_NE(la.reply.gpu_ids(0), lb.reply.gpu_ids(0));
  // Work without GPUs gets a worker that sees none (set, and empty, as in
  // Ray), not one of those.
  auto cpu = RequestLease(*driver, {{"CPU", 1}});
  ReturnWorker(*driver, la.reply.lease_id());
  StartForkedWorker(3);
  auto lc = Await(*cpu);
  ASSERT_TRUE(lc.reply.granted());
  EXPECT_EQ(lc.reply.worker().worker_id(), forks_.Get().at(2));
  envs = fork_envs_.Get();
  ASSERT_TRUE(envs[forks_.Get().at(2)].count("CUDA_VISIBLE_DEVICES"));
  EXPECT_EQ(envs[forks_.Get().at(2)]["CUDA_VISIBLE_DEVICES"], "");
  // The GPU worker given back serves the next lease of its device.
  auto again = RequestLease(*driver, {{"GPU", 1}});
  auto lg = Await(*again);
  ASSERT_TRUE(lg.reply.granted());
  EXPECT_EQ(lg.reply.worker().worker_id(), la.reply.worker().worker_id());
  EXPECT_EQ(forks_.Get().size(), 3u);
}

TEST_F(NodeServiceTest, BundlesAreReservedWhenAllFitAndReturnedOnRemoval) {
  auto control = Register(proto::TOOL);  // speaks for the control service
  auto driver = Register(proto::DRIVER);
  auto lease = RequestLease(*driver, {{"CPU", 1}});
  StartForkedWorker(1);
  auto held = Await(*lease);
  ASSERT_TRUE(held.reply.granted());

  // Two one-CPU bundles do not fit next to the lease: the reservation waits,
  // whole, rather than taking the one CPU that is free.
  auto reserved = std::make_shared<Recorded<std::optional<Status>>>();
  proto::ReserveBundlesRequest req;
  req.set_group_id("0123abcd");
  for (int i = 0; i < 2; ++i) (*req.add_bundles()->mutable_amounts())["CPU"] = 1;
  control->Call(
      proto::RESERVE_BUNDLES, req,
      [reserved](Status st, std::string_view) { reserved->Update([&](auto &v) { v = st; }); }, kForever);
  EXPECT_EQ(Available(*control, "CPU"), 1);
  EXPECT_FALSE(reserved->Get().has_value());

  ReturnWorker(*driver, held.reply.lease_id());
  reserved->WaitFor([](auto &v) { return v.has_value(); });
  EXPECT_TRUE(reserved->Get()->ok());
  EXPECT_EQ(Available(*control, "CPU"), 0);
  // The group's own resources are what tasks in it ask for.
  EXPECT_EQ(Available(*control, "CPU_group_0123abcd"), 2);

  auto waiting = RequestLease(*driver, {{"CPU", 1}});
  proto::ReturnBundlesRequest ret;
  ret.set_group_id("0123abcd");
  control->Notify(proto::RETURN_BUNDLES, ret);
  EXPECT_TRUE(Await(*waiting).reply.granted());  // the bundles' CPUs are free again
  EXPECT_EQ(Available(*control, "CPU_group_0123abcd"), 0);
}

TEST_F(NodeServiceTest, RemovingAGroupEndsTheWorkRunningInIt) {
  auto control = Register(proto::TOOL);
  auto driver = Register(proto::DRIVER);
  proto::ReserveBundlesRequest req;
  req.set_group_id("feedbeef");
  (*req.add_bundles()->mutable_amounts())["CPU"] = 1;
  proto::NodeEmpty empty;
  ASSERT_TRUE(control->CallSync(proto::RESERVE_BUNDLES, req, &empty).ok());
  auto lease = RequestLease(*driver, {{"CPU_group_feedbeef", 1}});
  auto worker = StartForkedWorker(1);
  ASSERT_TRUE(Await(*lease).reply.granted());

  proto::ReturnBundlesRequest ret;
  ret.set_group_id("feedbeef");
  control->Notify(proto::RETURN_BUNDLES, ret);
  WaitClosed(worker);
  EXPECT_EQ(Available(*control, "CPU"), 2);
}

TEST_F(NodeServiceTest, LeasesThatNeedAWorkerAreRefusedOnceTheForkServerDies) {
  auto driver = Register(proto::DRIVER);
  auto before = RequestLease(*driver, {{"CPU", 1}});
  forks_.WaitFor([](auto &v) { return !v.empty(); });  // asked for; never comes
  fork_server_->Close();
  auto task = RequestLease(*driver, {{"CPU", 1}});
  auto actor = RequestLease(*driver, {{"CPU", 1}}, /*for_actor=*/true);
  // The job can make no more workers: each request is refused at once,
  // naming the loss, rather than left pending until the driver exits.
  for (auto *r : {&before, &task, &actor}) {
    auto l = Await(**r);
    ASSERT_TRUE(l.answered) << "a lease request stayed pending after the fork server died";
    ASSERT_TRUE(l.status.ok()) << l.status.ToString();
    EXPECT_FALSE(l.reply.granted());
    EXPECT_EQ(l.reply.refusal(), proto::LEASE_REFUSED);
    EXPECT_NE(l.reply.error().find("fork server (pid " + std::to_string(kForkServerPid) + ") died"),
              std::string::npos)
        << l.reply.error();
  }
  // Nothing is left counted as starting: another request is refused too.
  EXPECT_FALSE(Await(*RequestLease(*driver, {{"CPU", 2}})).reply.granted());
}

TEST_F(NodeServiceTest, AnIdleWorkerBeyondThePoolIsStoppedOnlyOnceItsGracePasses) {
  auto driver = Register(proto::DRIVER);
  auto busy = RequestLease(*driver, {{"CPU", 1}});
  auto busy_worker = StartForkedWorker(1);
  ASSERT_TRUE(Await(*busy).reply.granted());
  auto lease = RequestLease(*driver, {{"CPU", 1}});
  auto worker = StartForkedWorker(2);
  auto l = Await(*lease);
  ASSERT_TRUE(l.reply.granted());
  ReturnWorker(*driver, l.reply.lease_id());
  ASSERT_EQ(IdleWorkers(*driver), 1);  // returned (the pool keeps none: prestart 0)

  clock_.Advance(kIdleWorkerGrace - std::chrono::milliseconds(1));
  ASSERT_TRUE(node_->CheckIdleWorkers());
  EXPECT_EQ(IdleWorkers(*driver), 1) << "stopped before its grace period passed";
  EXPECT_TRUE(worker->IsOpen());

  clock_.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(node_->CheckIdleWorkers());
  WaitClosed(worker);
  EXPECT_EQ(IdleWorkers(*driver), 0);
  // A leased worker is never idle, however long it runs.
  clock_.Advance(100 * kIdleWorkerGrace);
  ASSERT_TRUE(node_->CheckIdleWorkers());
  EXPECT_EQ(Available(*driver, "CPU"), 1);
  EXPECT_TRUE(busy_worker->IsOpen());
}

class NodeServicePoolTest : public NodeServiceTest {
 protected:
  int PrestartWorkers() const override { return 1; }
};

// An actor keeps its worker for good: the pool starts one in its place, so
// that the next actor does not wait for a worker to start. A task's lease
// gives its worker back, so none is started for it.
TEST_F(NodeServicePoolTest, AWorkerGivenToAnActorIsReplacedInThePool) {
  auto driver = Register(proto::DRIVER);
  ASSERT_TRUE(StartForkedWorker(1));  // the prestarted one
  ASSERT_EQ(IdleWorkers(*driver), 1);
  auto actor = RequestLease(*driver, {{"CPU", 1}}, /*for_actor=*/true);
  ASSERT_TRUE(Await(*actor).reply.granted());
  ASSERT_TRUE(StartForkedWorker(2)) << "no worker started in the actor's worker's place";
  EXPECT_EQ(IdleWorkers(*driver), 1);

  auto task = RequestLease(*driver, {{"CPU", 1}});
  auto t = Await(*task);
  ASSERT_TRUE(t.reply.granted());
  ReturnWorker(*driver, t.reply.lease_id());
  EXPECT_EQ(IdleWorkers(*driver), 1);
  EXPECT_EQ(forks_.Get().size(), 2u) << "a worker started for a task's lease";
}

TEST_F(NodeServiceTest, LeasesWantedIsSentToAHolderAtMostOncePerThrottlePeriod) {
  Recorded<int> wanted;
  rpc::Dispatcher holder_dispatcher;
  holder_dispatcher.Register(
      proto::LEASES_WANTED,
      [&](const rpc::ConnectionPtr &, uint64_t, std::string_view) { wanted.Update([](int &n) { ++n; }); });
  auto holder = Register(proto::DRIVER, &holder_dispatcher);
  auto other = Register(proto::TOOL);
  auto lease = RequestLease(*holder, {{"CPU", 2}});
  StartForkedWorker(1);
  ASSERT_TRUE(Await(*lease).reply.granted());
  // Each round trip on `holder` comes after any notice sent to it before.
  auto notices = [&] {
    Available(*other, "CPU");  // `other`'s requests have been seen
    Available(*holder, "CPU");
    return wanted.Get();
  };
  RequestLease(*other, {{"CPU", 1}});
  EXPECT_EQ(notices(), 1);
  RequestLease(*other, {{"CPU", 1}});
  EXPECT_EQ(notices(), 1) << "a second notice within the throttle period";
  clock_.Advance(std::chrono::milliseconds(20));
  RequestLease(*other, {{"CPU", 1}});
  EXPECT_EQ(notices(), 2);
}

// Jobs whose driver is elsewhere (node_service_jobs.cc): the node learns a
// job it gets a lease for from the control service, fetches the job's
// program once, starts it, and refuses the job's leases with the reason when
// any of that fails. Real programs stand in for a driver's (/bin/true exits
// at once, /bin/sleep waits): they never become fork servers, so every lease
// here ends refused, naming why.
class NodeServiceJobsTest : public NodeServiceTest {
 protected:
  /// Registers a job with the control service as a driver would, on a
  /// connection kept open (its closing would end the job). `program_file`
  /// (empty: none) is named as the job's program, and uploaded if `upload`;
  /// `code_search_path` (empty: none) is the job's one library folder.
  uint32_t RegisterJob(const std::string &program_file, std::vector<std::string> argv = {},
                       bool upload = true, const std::string &code_search_path = "") {
    auto conn = rpc::Connect(loop_, address_, kToken, nullptr);
    EXPECT_TRUE(conn.ok());
    if (!conn.ok()) return 0;
    proto::RegisterJobRequest req;
    req.set_ray_namespace("ns");
    if (!code_search_path.empty()) req.add_code_search_path(code_search_path);
    proto::JobProgram program;
    if (!program_file.empty()) {
      auto digest = DigestFile(program_file);
      EXPECT_TRUE(digest.ok());
      program.set_sha256(digest->sha256);
      program.set_size(digest->size);
      for (auto &a : argv) program.add_argv(a);
      *req.mutable_program() = program;
    }
    proto::RegisterJobReply rep;
    EXPECT_TRUE(conn.value()->CallSync(proto::REGISTER_JOB, req, &rep).ok());
    if (!program_file.empty() && upload) {
      // As a driver uploads its program (worker/program_upload.cc), in one piece.
      std::ifstream in(program_file, std::ios::binary);
      proto::ProgramChunk chunk;
      chunk.set_sha256(program.sha256());
      chunk.set_size(program.size());
      chunk.set_data(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
      proto::PutProgramChunkReply put;
      Status st = conn.value()->CallSync(proto::PUT_PROGRAM_CHUNK, chunk, &put);
      EXPECT_TRUE(st.ok() && put.complete()) << st.ToString();
    }
    drivers_[rep.job_id()] = conn.value();
    return rep.job_id();
  }
  void FinishJob(uint32_t job) {
    proto::JobFinished req;
    req.set_job_id(job);
    proto::Empty rep;
    EXPECT_TRUE(drivers_[job]->CallSync(proto::JOB_FINISHED, req, &rep).ok());
  }
  /// An actor's lease for `job`, as the control service asks for one; its
  /// refusal's reason, or "" if it was not refused.
  std::string RefusalOf(uint32_t job) {
    auto tool = Register(proto::TOOL);
    auto result = std::make_shared<Recorded<LeaseResult>>();
    proto::WorkerLeaseRequest req;
    req.set_job_id(job);
    req.set_for_actor(true);
    (*req.mutable_resources()->mutable_amounts())["CPU"] = 1;
    tool->Call(
        proto::REQUEST_WORKER_LEASE, req,
        [result](Status st, std::string_view body) {
          result->Update([&](LeaseResult &r) {
            r.answered = true;
            r.status = st;
            if (st.ok()) EXPECT_TRUE(rpc::ParseBody(body, &r.reply));
          });
        },
        kForever);
    auto r = Await(*result);
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    if (!r.status.ok() || r.reply.granted()) return "";
    EXPECT_EQ(r.reply.refusal(), proto::LEASE_REFUSED);
    return r.reply.error();
  }
  std::vector<std::string> CachedPrograms() const {
    std::vector<std::string> files;
    std::error_code ec;
    for (auto &e : std::filesystem::directory_iterator(dir_ + "/session/programs", ec))
      files.push_back(e.path().filename().string());
    return files;
  }
  /// This process's children (the node runs in it, so the programs it
  /// starts are ours).
  static std::set<int> Children() {
    std::set<int> pids;
    for (auto &t : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream in(t.path() / "children");
      for (int pid; in >> pid;) pids.insert(pid);
    }
    return pids;
  }

  std::map<uint32_t, rpc::ConnectionPtr> drivers_;
};

TEST_F(NodeServiceJobsTest, ALeaseForAJobTheControlServiceDoesNotKnowIsRefused) {
  EXPECT_NE(RefusalOf(kJob + 41).find("the control service does not know job 42"), std::string::npos);
}

TEST_F(NodeServiceJobsTest, AJobThatShippedNoProgramIsRefusedSayingSo) {
  RegisterJob("");  // job 1: the fixture's fork server serves it here
  const uint32_t job = RegisterJob("");
  ASSERT_NE(job, kJob);
  EXPECT_NE(RefusalOf(job).find("did not ship its program"), std::string::npos);
}

TEST_F(NodeServiceJobsTest, AJobWithACodeSearchPathNeedsTheWorkerProgram) {
  RegisterJob("");
  // Its workers would be the generic worker program loading that path; this
  // node has none (the fixture names no worker_program).
  const uint32_t job = RegisterJob("", {}, false, "/opt/user/lib");
  EXPECT_NE(RefusalOf(job).find("sets code_search_path, and this node has no worker program"),
            std::string::npos);
}

TEST_F(NodeServiceJobsTest, AProgramTheControlServiceLacksIsRefusedSayingSo) {
  RegisterJob("");
  const uint32_t job = RegisterJob("/bin/true", {"true"}, /*upload=*/false);
  EXPECT_NE(RefusalOf(job).find("does not hold the program"), std::string::npos);
  EXPECT_TRUE(CachedPrograms().empty()) << "nothing half-fetched is left";
}

TEST_F(NodeServiceJobsTest, AProgramIsFetchedOnceVerifiedAndStarted) {
  RegisterJob("");
  auto digest = DigestFile("/bin/true");
  ASSERT_TRUE(digest.ok());
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    const uint32_t job = RegisterJob("/bin/true", {"true"});
    // /bin/true ran (and exited before it could serve as the job's fork server).
    EXPECT_NE(RefusalOf(job).find("exited with code 0 before it became the job's fork server"),
              std::string::npos);
    EXPECT_EQ(CachedPrograms(), std::vector<std::string>{ToHex(digest->sha256)}) << "one copy, both jobs";
  }
  auto cached = DigestFile(dir_ + "/session/programs/" + ToHex(digest->sha256));
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->sha256, digest->sha256);
}

TEST_F(NodeServiceJobsTest, TheEndOfTheJobStopsItsProgram) {
  RegisterJob("");
  const auto before = Children();
  const uint32_t job = RegisterJob("/bin/sleep", {"sleep", "600"});
  auto tool = Register(proto::TOOL);
  proto::WorkerLeaseRequest req;
  req.set_job_id(job);
  req.set_for_actor(true);
  (*req.mutable_resources()->mutable_amounts())["CPU"] = 1;
  tool->Call(
      proto::REQUEST_WORKER_LEASE, req, [](Status, std::string_view) {}, kForever);
  auto started = [&] {
    for (int pid : Children())
      if (!before.count(pid)) return pid;
    return 0;
  };
  int program = 0;
  for (auto until = std::chrono::steady_clock::now() + kDeadline;
       !program && std::chrono::steady_clock::now() < until;)
    program = started();
  ASSERT_NE(program, 0) << "the node did not start the job's program";
  FinishJob(job);
  bool gone = false;
  for (auto until = std::chrono::steady_clock::now() + kDeadline;
       !gone && std::chrono::steady_clock::now() < until;)
    gone = !Children().count(program);
  EXPECT_TRUE(gone) << "the job's program outlived the job";
  EXPECT_NE(RefusalOf(job).find("has finished"), std::string::npos);
}

// A driver hears of each worker of its job as it registers, so that it can
// connect (and finish the handshake) before it has a task for it: whether
// the worker registers after the driver or before.
TEST_F(NodeServiceTest, TheDriverIsToldOfEachWorkerOfItsJob) {
  Recorded<std::vector<std::string>> ready;  // unix paths the driver was told of
  rpc::Dispatcher driver_dispatcher;
  driver_dispatcher.Register(proto::WORKER_READY,
                             [&](const rpc::ConnectionPtr &, uint64_t, std::string_view body) {
                               proto::Address a;
                               EXPECT_TRUE(rpc::ParseBody(body, &a));
                               ready.Update([&](auto &v) { v.push_back(a.unix_path()); });
                             });
  auto holder = Register(proto::TOOL);
  auto early = RequestLease(*holder, {{"CPU", 1}});
  ASSERT_NE(StartForkedWorker(1), nullptr);  // registers before the driver
  ASSERT_TRUE(Await(*early).status.ok());

  auto driver = Register(proto::DRIVER, &driver_dispatcher);
  auto later = RequestLease(*driver, {{"CPU", 1}});
  ASSERT_NE(StartForkedWorker(2), nullptr);  // registers after it
  ASSERT_TRUE(Await(*later).status.ok());

  ready.WaitFor([](auto &v) { return v.size() >= 2; });
  auto forks = forks_.Get();
  EXPECT_EQ(ready.Get(),
            (std::vector<std::string>{"/nonexistent/" + ToHex(forks[0]), "/nonexistent/" + ToHex(forks[1])}));
}

// Every request is parsed before its handler runs: a malformed one is
// answered with InvalidArgument (one-way kinds too, when sent as a request),
// and the node goes on serving.
TEST_F(NodeServiceTest, MalformedRequestsAreRefusedAndTheNodeGoesOn) {
  auto client = Register(proto::DRIVER);
  ASSERT_NE(client, nullptr);
  control::testing::ExpectMalformedRequestsRefused(
      *client, {proto::REGISTER_CLIENT, proto::REQUEST_WORKER_LEASE, proto::CANCEL_WORKER_LEASES,
                proto::RETURN_WORKER, proto::CREATE_OBJECT, proto::SEAL_OBJECT, proto::ABORT_OBJECT,
                proto::GET_OBJECTS, proto::RELEASE_OBJECTS, proto::DELETE_OBJECTS, proto::WORKER_EXITED,
                proto::WAIT_FOR_WORKERS, proto::RESERVE_BUNDLES, proto::RETURN_BUNDLES, proto::KILL_WORKER,
                proto::PREPARE_BUNDLES, proto::COMMIT_BUNDLES});
  EXPECT_EQ(Available(*client, "CPU"), 2);
}

class NodeServiceWorkerTcpTest : public NodeServiceTest {
 protected:
  bool WorkerTcp() const override { return true; }

  // The control service's answer to LOOKUP_WORKER for `worker_id`.
  proto::LookupWorkerReply Lookup(const std::string &worker_id) {
    if (!control_) {
      auto conn = rpc::Connect(loop_, address_, kToken, nullptr);
      EXPECT_TRUE(conn.ok()) << conn.status().ToString();
      if (!conn.ok()) return {};
      control_ = conn.value();
    }
    proto::LookupWorkerRequest req;
    req.set_worker_id(worker_id);
    proto::LookupWorkerReply rep;
    Status st = control_->CallSync(proto::LOOKUP_WORKER, req, &rep);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return rep;
  }
  // Asks until the directory's answer about `worker_id` is `found` (the
  // node tells the control service one way, on its own connection).
  bool LookupUntil(const std::string &worker_id, bool found) {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    while (Lookup(worker_id).found() != found && std::chrono::steady_clock::now() < until)
      std::this_thread::yield();
    return Lookup(worker_id).found() == found;
  }

  rpc::ConnectionPtr control_;
};

// Issue 15 point 4: in a cluster that spans nodes, the node registers its
// TCP address beside its Unix socket, tells its workers to listen on TCP,
// and publishes each driver's and worker's address in the control service's
// worker directory while it is connected.
TEST_F(NodeServiceWorkerTcpTest, TheNodePublishesWhereItsWorkersListen) {
  proto::GetAllNodesReply nodes;
  {
    auto conn = rpc::Connect(loop_, address_, kToken, nullptr);
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(conn.value()->CallSync(proto::GET_ALL_NODES, proto::GetAllNodesRequest(), &nodes).ok());
  }
  ASSERT_EQ(nodes.nodes_size(), 1);
  EXPECT_EQ(nodes.nodes(0).raylet_address(), node_address_);
  EXPECT_EQ(nodes.nodes(0).tcp_address().rfind("tcp:127.0.0.1:", 0), 0u) << nodes.nodes(0).tcp_address();

  const std::string driver_id = WorkerID::FromRandom().Binary();
  auto driver = Register(proto::DRIVER, nullptr, driver_id, "127.0.0.1:4001");
  ASSERT_TRUE(LookupUntil(driver_id, true));
  proto::LookupWorkerReply found = Lookup(driver_id);
  EXPECT_EQ(found.address().tcp(), "127.0.0.1:4001");
  EXPECT_EQ(found.address().node_id(), node_->node_id().Binary());

  auto lease = RequestLease(*driver, {{"CPU", 1}});
  forks_.WaitFor([](auto &v) { return v.size() >= 1; });
  const std::string worker_id = forks_.Get()[0];
  fork_envs_.WaitFor([&](auto &m) { return m.count(worker_id) > 0; });  // recorded after forks_
  EXPECT_EQ(fork_envs_.Get()[worker_id]["LUMEN_WORKER_TCP_HOST"], "127.0.0.1");
  auto worker = Register(proto::WORKER, nullptr, worker_id, "127.0.0.1:4002");
  auto granted = Await(*lease);
  ASSERT_TRUE(granted.reply.granted());
  EXPECT_EQ(granted.reply.worker().tcp(), "127.0.0.1:4002");  // lease holders on other nodes use it
  ASSERT_TRUE(LookupUntil(worker_id, true));
  EXPECT_EQ(Lookup(worker_id).address().tcp(), "127.0.0.1:4002");

  // Gone from the node: gone from the directory.
  worker->Close();
  EXPECT_TRUE(LookupUntil(worker_id, false));
  EXPECT_TRUE(Lookup(driver_id).found());
}

// ray::Init's embedded head is one node: nothing listens on TCP but the
// services, and nothing is published.
TEST_F(NodeServiceTest, AOneNodeClusterPublishesNoWorkers) {
  auto lease_holder = Register(proto::TOOL);
  auto lease = RequestLease(*lease_holder, {{"CPU", 1}});
  forks_.WaitFor([](auto &v) { return v.size() >= 1; });
  const std::string worker_id = forks_.Get()[0];
  fork_envs_.WaitFor([&](auto &m) { return m.count(worker_id) > 0; });  // recorded after forks_
  EXPECT_EQ(fork_envs_.Get()[worker_id].count("LUMEN_WORKER_TCP_HOST"), 0u);
  StartForkedWorker(1);
  ASSERT_TRUE(Await(*lease).reply.granted());
  auto conn = rpc::Connect(loop_, address_, kToken, nullptr);
  ASSERT_TRUE(conn.ok());
  proto::LookupWorkerRequest req;
  req.set_worker_id(worker_id);
  proto::LookupWorkerReply rep;
  ASSERT_TRUE(conn.value()->CallSync(proto::LOOKUP_WORKER, req, &rep).ok());
  EXPECT_FALSE(rep.found());
}

}  // namespace
}  // namespace lumen::scheduler
