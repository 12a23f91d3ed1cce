// Test seam for the control service: a real ControlServer in the test
// process, on a Unix socket in a temporary folder, and fake peers that play
// the processes it talks to — a node (answers worker leases and bundle
// reservations, records kills and returns), actor workers (answer the
// creation task; their connections close when they "die") and clients
// (drivers that register actors and record what is published to them).
// Every fake records what it receives; tests wait for a recorded condition
// with a deadline only a real hang reaches, never for a length of time.
//
// Threading: the fakes' handlers run on the test's client event loop (or,
// for a fake worker, its own server's loop); the recorded state is guarded
// by one mutex per fake and read from the test thread through Wait*/copies.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/id.h"
#include "control/control_server.h"
#include "protocol/common.pb.h"
#include "protocol/control.pb.h"
#include "protocol/node.pb.h"
#include "protocol/worker.pb.h"
#include "rpc/rpc.h"

namespace lumen::control::testing {

inline const std::string kToken = "control-test-token";
/// Only a hang reaches this.
constexpr auto kDeadline = std::chrono::seconds(30);
/// The control service's health check in ControlServiceTest, on its FakeClock.
constexpr auto kHealthCheckPeriod = std::chrono::seconds(1);
constexpr auto kNodeDeathTimeout = std::chrono::seconds(10);

/// A mutex-guarded record with waiting on a condition of it.
template <typename T>
class Recorded {
 public:
  void Update(const std::function<void(T &)> &fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn(value_);
    }
    cv_.notify_all();
  }
  T Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return value_;
  }
  /// True once `pred` holds; false (and a test failure) if the deadline passes.
  bool WaitFor(const std::function<bool(const T &)> &pred) const {
    std::unique_lock<std::mutex> lock(mu_);
    bool ok = cv_.wait_for(lock, kDeadline, [&] { return pred(value_); });
    EXPECT_TRUE(ok) << "condition not reached before the deadline";
    return ok;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  T value_{};
};

/// A worker: serves PUSH_TASK on its own Unix socket. Dies (every
/// connection to it closes) on Die().
class FakeWorker {
 public:
  enum class Answer {
    kOk,                 // an empty reply (an actor's creation task succeeded)
    kConstructorThrows,  // the return carries the constructor's exception
    kReturnValue,        // a normal task's return value, inline ("result")
    kNever,              // no reply: the task is in flight until the worker dies
    kCreateOnly,         // an actor's creation task answered (kOk), its calls never
    kDropCallers,        // as kCreateOnly, and each call's connection closed: the caller's link
                         // breaks while the worker (and the actor manager's link to it) lives on
  };

  FakeWorker(const std::string &dir, Answer answer = Answer::kOk) : answer_(answer) {
    id_ = WorkerID::FromRandom();
    path_ = dir + "/worker-" + id_.Hex().substr(0, 8) + ".sock";
    dispatcher_.Register(
        proto::PUSH_TASK, [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view body) {
          proto::PushTaskRequest req;
          EXPECT_TRUE(rpc::ParseBody(body, &req));
          pushed_.Update([&](auto &v) { v.push_back(req.spec()); });
          if (answer_ == Answer::kNever) return;
          if (answer_ == Answer::kCreateOnly && req.spec().type() != proto::ACTOR_CREATION_TASK) return;
          if (answer_ == Answer::kDropCallers && req.spec().type() != proto::ACTOR_CREATION_TASK) {
            conn->Close();
            return;
          }
          proto::PushTaskReply rep;
          if (answer_ == Answer::kReturnValue) {
            // Index 1: a task's first return, as the core worker numbers them.
            auto *ret = rep.add_returns();
            ret->set_object_id(ObjectID::ForTaskReturn(TaskID::FromBinary(req.spec().task_id()), 1).Binary());
            ret->mutable_payload()->set_data("result");
          }
          if (answer_ == Answer::kConstructorThrows) {
            auto *ret = rep.add_returns();
            ret->mutable_payload()->set_error(proto::TASK_EXECUTION_EXCEPTION);
            ret->mutable_payload()->set_data("constructor threw: boom");
          }
          if (call_id) conn->Reply(call_id, rep);
        });
    server_ = std::make_unique<rpc::Server>(loop_, kToken, &dispatcher_);
    EXPECT_TRUE(server_->ListenUnix(path_).ok());
  }
  ~FakeWorker() {
    Die();
    loop_.Stop();  // no handler may run on the members below once they go
  }

  /// The process is gone: its connections close.
  void Die() {
    if (server_) server_->Stop();
  }
  /// Also listens on TCP (loopback), as a worker of a cluster that spans
  /// nodes does: its Address() then carries it, for peers on other nodes.
  void AlsoListenOnTcp() {
    auto port = server_->ListenTcp("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    tcp_ = "127.0.0.1:" + std::to_string(*port);
  }
  proto::Address Address() const {
    proto::Address a;
    a.set_worker_id(id_.Binary());
    a.set_unix_path(path_);
    a.set_tcp(tcp_);
    return a;
  }
  const WorkerID &id() const { return id_; }
  /// Creation tasks pushed to this worker.
  Recorded<std::vector<proto::TaskSpec>> &pushed() { return pushed_; }

 private:
  Answer answer_;
  WorkerID id_;
  std::string path_;
  std::string tcp_;  // "host:port" once AlsoListenOnTcp
  rpc::EventLoop loop_{"fake-worker"};
  rpc::Dispatcher dispatcher_;
  std::unique_ptr<rpc::Server> server_;
  Recorded<std::vector<proto::TaskSpec>> pushed_;
};

/// A node service as the control service sees it: registered on its own
/// control connection, which the control service calls back on. Lease and
/// reservation requests are held until the test answers them.
class FakeNode {
 public:
  struct Lease {
    proto::WorkerLeaseRequest request;
    uint64_t call_id = 0;
  };
  struct Reservation {
    proto::ReserveBundlesRequest request;
    uint64_t call_id = 0;
  };
  struct Log {
    std::vector<Lease> leases;
    std::vector<Reservation> reservations;
    std::vector<std::string> killed_workers;   // KILL_WORKER
    std::vector<uint64_t> returned_leases;     // RETURN_WORKER
    std::vector<std::string> returned_groups;  // RETURN_BUNDLES
    int stats_requests = 0;                    // NODE_STATS
    int health_checks = 0;                     // NODE_HEALTH_CHECK received (answered unless silent)
    std::vector<proto::PrepareBundlesRequest> prepares;  // PREPARE_BUNDLES, answered at once
    std::vector<std::string> committed_groups;           // COMMIT_BUNDLES of a group this node prepared
    /// Groups this node holds bundles of now: prepared (successfully) and not
    /// returned since, in the order the requests came.
    std::set<std::string> holding;
    const std::set<std::string> &Holding() const { return holding; }
  };

  FakeNode(rpc::EventLoop &loop, const std::string &control_address, std::map<std::string, double> total) {
    dispatcher_.Register(proto::REQUEST_WORKER_LEASE,
                         [this](const rpc::ConnectionPtr &, uint64_t call_id, std::string_view body) {
                           Lease l;
                           EXPECT_TRUE(rpc::ParseBody(body, &l.request));
                           l.call_id = call_id;
                           log_.Update([&](Log &log) { log.leases.push_back(l); });
                         });
    dispatcher_.Register(proto::RESERVE_BUNDLES,
                         [this](const rpc::ConnectionPtr &, uint64_t call_id, std::string_view body) {
                           Reservation r;
                           EXPECT_TRUE(rpc::ParseBody(body, &r.request));
                           r.call_id = call_id;
                           log_.Update([&](Log &log) { log.reservations.push_back(r); });
                         });
    dispatcher_.Register(proto::KILL_WORKER,
                         [this](const rpc::ConnectionPtr &, uint64_t, std::string_view body) {
                           proto::KillWorkerRequest req;
                           EXPECT_TRUE(rpc::ParseBody(body, &req));
                           std::function<void(const std::string &)> on_kill;
                           log_.Update([&](Log &log) { log.killed_workers.push_back(req.worker_id()); });
                           {
                             std::lock_guard<std::mutex> lock(kill_mu_);
                             on_kill = on_kill_;
                           }
                           if (on_kill) on_kill(req.worker_id());
                         });
    dispatcher_.Register(proto::RETURN_WORKER,
                         [this](const rpc::ConnectionPtr &, uint64_t, std::string_view body) {
                           proto::ReturnWorkerRequest req;
                           EXPECT_TRUE(rpc::ParseBody(body, &req));
                           log_.Update([&](Log &log) { log.returned_leases.push_back(req.lease_id()); });
                         });
    // NODE_STATS: answered at once with what SetUsage gave (an error
    // before, as from a node that cannot say).
    dispatcher_.Register(proto::NODE_STATS,
                         [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                           log_.Update([&](Log &log) { log.stats_requests++; });
                           std::optional<proto::NodeStatsReply> stats;
                           {
                             std::lock_guard<std::mutex> lock(kill_mu_);
                             stats = stats_;
                           }
                           if (!call_id) return;
                           if (stats) {
                             conn->Reply(call_id, *stats);
                           } else {
                             conn->ReplyError(call_id, Status::Internal("no usage set"));
                           }
                         });
    // NODE_HEALTH_CHECK: answered at once unless Silence (a node cut off
    // from the network: its connection stays open, nothing comes back).
    dispatcher_.Register(proto::NODE_HEALTH_CHECK,
                         [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                           bool silent;
                           {
                             std::lock_guard<std::mutex> lock(kill_mu_);
                             silent = silent_;
                           }
                           if (call_id && !silent) conn->Reply(call_id, proto::NodeEmpty());
                           log_.Update([&](Log &log) { log.health_checks++; });
                         });
    // PREPARE_BUNDLES: answered at once, prepared unless FailPrepares; only
    // a successful prepare is logged. COMMIT_BUNDLES: answered at once, an
    // error for a group not prepared here.
    dispatcher_.Register(proto::PREPARE_BUNDLES,
                         [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view body) {
                           proto::PrepareBundlesRequest req;
                           EXPECT_TRUE(rpc::ParseBody(body, &req));
                           proto::PrepareBundlesReply rep;
                           {
                             std::lock_guard<std::mutex> lock(kill_mu_);
                             rep.set_prepared(!fail_prepares_);
                           }
                           if (rep.prepared())
                             log_.Update([&](Log &log) {
                               log.prepares.push_back(req);
                               log.holding.insert(req.group_id());
                             });
                           if (call_id) conn->Reply(call_id, rep);
                         });
    dispatcher_.Register(proto::COMMIT_BUNDLES,
                         [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view body) {
                           proto::CommitBundlesRequest req;
                           EXPECT_TRUE(rpc::ParseBody(body, &req));
                           bool held = log_.Get().Holding().count(req.group_id()) > 0;
                           if (held)
                             log_.Update([&](Log &log) { log.committed_groups.push_back(req.group_id()); });
                           if (!call_id) return;
                           if (held) {
                             conn->Reply(call_id, proto::Empty());
                           } else {
                             conn->ReplyError(call_id, Status::NotFound("not prepared here"));
                           }
                         });
    dispatcher_.Register(proto::RETURN_BUNDLES,
                         [this](const rpc::ConnectionPtr &, uint64_t, std::string_view body) {
                           proto::ReturnBundlesRequest req;
                           EXPECT_TRUE(rpc::ParseBody(body, &req));
                           log_.Update([&](Log &log) {
                             log.returned_groups.push_back(req.group_id());
                             log.holding.erase(req.group_id());
                           });
                         });
    auto conn = rpc::Connect(loop, control_address, kToken, &dispatcher_);
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return;
    conn_ = conn.value();
    info_.set_node_id(NodeID::FromRandom().Binary());
    info_.set_raylet_address("unix:/nonexistent/fake-node.sock");
    for (auto &[k, v] : total) (*info_.mutable_total()->mutable_amounts())[k] = v;
    proto::RegisterNodeReply rep;
    EXPECT_TRUE(conn_->CallSync(proto::REGISTER_NODE, info_, &rep).ok());
  }

  const std::string &node_id() const { return info_.node_id(); }
  Recorded<Log> &log() { return log_; }
  /// What to do when the control service asks for a worker to be killed
  /// (the real node SIGKILLs it: a fake worker's Die()).
  void OnKill(std::function<void(const std::string &worker_id)> fn) {
    std::lock_guard<std::mutex> lock(kill_mu_);
    on_kill_ = std::move(fn);
  }
  /// What NODE_STATS reports from now on.
  void SetUsage(std::map<std::string, double> total, std::map<std::string, double> available) {
    proto::NodeStatsReply stats;
    for (auto &[k, v] : total) (*stats.mutable_total()->mutable_amounts())[k] = v;
    for (auto &[k, v] : available) (*stats.mutable_available()->mutable_amounts())[k] = v;
    std::lock_guard<std::mutex> lock(kill_mu_);
    stats_ = stats;
  }

  /// Whether health checks go unanswered from now on.
  void Silence(bool silent) {
    std::lock_guard<std::mutex> lock(kill_mu_);
    silent_ = silent;
  }
  /// Waits until the node has received (and, unless silent, answered) `n` health checks.
  void WaitHealthChecks(int n) {
    log_.WaitFor([&](const Log &l) { return l.health_checks >= n; });
  }
  /// Registers again under the same node id on a new connection; the
  /// control service's answer.
  Status RegisterAgain(rpc::EventLoop &loop, const std::string &control_address) {
    auto conn = rpc::Connect(loop, control_address, kToken, &dispatcher_);
    if (!conn.ok()) return conn.status();
    proto::RegisterNodeReply rep;
    return conn.value()->CallSync(proto::REGISTER_NODE, info_, &rep);
  }
  bool Open() const { return conn_ && conn_->IsOpen(); }
  /// GET_ALL_NODES on this node's own connection: once answered, everything
  /// this node sent before (a health check's answer) has been handled.
  proto::GetAllNodesReply Sync() {
    proto::GetAllNodesReply rep;
    EXPECT_TRUE(conn_->CallSync(proto::GET_ALL_NODES, proto::GetAllNodesRequest(), &rep).ok());
    return rep;
  }

  /// Whether PREPARE_BUNDLES answers "no room" from now on.
  void FailPrepares(bool fail) {
    std::lock_guard<std::mutex> lock(kill_mu_);
    fail_prepares_ = fail;
  }
  /// What NODE_STATS reports: `total` with all of it free.
  void SetIdle(std::map<std::string, double> total) { SetUsage(total, total); }

  /// Waits for the n-th (1-based) lease request and returns it.
  Lease WaitLease(size_t n) {
    log_.WaitFor([&](const Log &l) { return l.leases.size() >= n; });
    auto l = log_.Get();
    return l.leases.size() >= n ? l.leases[n - 1] : Lease{};
  }
  Reservation WaitReservation(size_t n) {
    log_.WaitFor([&](const Log &l) { return l.reservations.size() >= n; });
    auto l = log_.Get();
    return l.reservations.size() >= n ? l.reservations[n - 1] : Reservation{};
  }
  void Grant(const Lease &l, const FakeWorker &w, uint64_t lease_id, std::vector<int> gpu_ids = {}) {
    proto::WorkerLeaseReply rep;
    rep.set_granted(true);
    rep.set_lease_id(lease_id);
    *rep.mutable_worker() = w.Address();
    rep.set_pid(4242);
    for (int g : gpu_ids) rep.add_gpu_ids(g);
    conn_->Reply(l.call_id, rep);
  }
  /// Grants a worker nobody listens for: connecting to it fails.
  void GrantUnreachable(const Lease &l, uint64_t lease_id, const std::string &unix_path) {
    proto::WorkerLeaseReply rep;
    rep.set_granted(true);
    rep.set_lease_id(lease_id);
    rep.mutable_worker()->set_worker_id(WorkerID::FromRandom().Binary());
    rep.mutable_worker()->set_unix_path(unix_path);
    rep.set_pid(4243);
    conn_->Reply(l.call_id, rep);
  }
  void Refuse(const Lease &l, const std::string &error) {
    proto::WorkerLeaseReply rep;
    rep.set_granted(false);
    rep.set_error(error);
    conn_->Reply(l.call_id, rep);
  }
  void Reserved(const Reservation &r) { conn_->Reply(r.call_id, proto::Empty()); }
  void ReservationFailed(const Reservation &r, const Status &st) { conn_->ReplyError(r.call_id, st); }
  void Close() {
    if (conn_) conn_->Close();
  }

 private:
  rpc::Dispatcher dispatcher_;
  rpc::ConnectionPtr conn_;
  proto::NodeInfo info_;
  Recorded<Log> log_;
  std::mutex kill_mu_;  // guards on_kill_, stats_ and fail_prepares_, set by the test thread
  std::function<void(const std::string &)> on_kill_;
  std::optional<proto::NodeStatsReply> stats_;
  bool fail_prepares_ = false;
  bool silent_ = false;
};

/// A driver (or any client): its control connection, and every ACTOR_UPDATE
/// published to it.
class FakeClient {
 public:
  FakeClient(rpc::EventLoop &loop, const std::string &control_address) {
    dispatcher_.Register(proto::ACTOR_UPDATE,
                         [this](const rpc::ConnectionPtr &, uint64_t, std::string_view body) {
                           proto::ActorInfo info;
                           EXPECT_TRUE(rpc::ParseBody(body, &info));
                           updates_.Update([&](auto &v) { v.push_back(info); });
                         });
    dispatcher_.Register(proto::NODE_CHANGED,
                         [this](const rpc::ConnectionPtr &, uint64_t, std::string_view body) {
                           proto::NodeInfo info;
                           EXPECT_TRUE(rpc::ParseBody(body, &info));
                           node_changes_.Update([&](auto &v) { v.push_back(info); });
                         });
    auto conn = rpc::Connect(loop, control_address, kToken, &dispatcher_);
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (conn.ok()) conn_ = conn.value();
  }
  rpc::Connection &conn() { return *conn_; }
  Recorded<std::vector<proto::ActorInfo>> &updates() { return updates_; }
  /// SUBSCRIBE_NODE_CHANGES, as a driver sends it (answered once recorded).
  void SubscribeNodeChanges() {
    EXPECT_TRUE(conn_->CallSync(proto::SUBSCRIBE_NODE_CHANGES, proto::Empty(), nullptr).ok());
  }
  /// NODE_CHANGED notifications received, in order.
  Recorded<std::vector<proto::NodeInfo>> &node_changes() { return node_changes_; }
  /// Waits until an update for `actor_id` in `state` arrives; returns it.
  proto::ActorInfo WaitState(const std::string &actor_id, proto::ActorState state, int num_restarts = -1) {
    proto::ActorInfo found;
    updates_.WaitFor([&](const std::vector<proto::ActorInfo> &v) {
      for (auto &i : v)
        if (i.actor_id() == actor_id && i.state() == state &&
            (num_restarts < 0 || i.num_restarts() == num_restarts)) {
          found = i;
          return true;
        }
      return false;
    });
    return found;
  }
  void Close() { conn_->Close(); }

 private:
  rpc::Dispatcher dispatcher_;
  rpc::ConnectionPtr conn_;
  Recorded<std::vector<proto::ActorInfo>> updates_;
  Recorded<std::vector<proto::NodeInfo>> node_changes_;
};

/// A control service in a temporary folder, on a FakeClock (clock_: what it
/// decides from elapsed time happens when the test moves it), and the loop
/// its fake peers use.
class ControlServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lumen-control-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ControlServerOptions o;
    o.unix_path = dir_ + "/control.sock";
    o.token = kToken;
    o.clock = &clock_;
    o.health.period = kHealthCheckPeriod;
    o.health.timeout = kNodeDeathTimeout;
    server_ = std::make_unique<ControlServer>(o);
    ASSERT_TRUE(server_->Start().ok());
    address_ = "unix:" + o.unix_path;
  }
  void TearDown() override {
    // The service first (every peer's connection closes), then the peers'
    // loop, so no handler runs against a fake that is going away.
    server_.reset();
    loop_.Stop();
    nodes_.clear();
    clients_.clear();
    workers_.clear();
    std::filesystem::remove_all(dir_);
  }

  FakeNode *AddNode(std::map<std::string, double> total = {{"CPU", 4}}) {
    nodes_.push_back(std::make_unique<FakeNode>(loop_, address_, std::move(total)));
    return nodes_.back().get();
  }
  FakeClient *AddClient() {
    clients_.push_back(std::make_unique<FakeClient>(loop_, address_));
    return clients_.back().get();
  }
  FakeWorker *AddWorker(FakeWorker::Answer answer = FakeWorker::Answer::kOk) {
    workers_.push_back(std::make_unique<FakeWorker>(dir_, answer));
    return workers_.back().get();
  }

  FakeClock clock_;  // outlives everything that reads it
  std::string dir_;
  std::string address_;
  std::unique_ptr<ControlServer> server_;
  rpc::EventLoop loop_{"control-test-peers"};
  std::vector<std::unique_ptr<FakeNode>> nodes_;
  std::vector<std::unique_ptr<FakeClient>> clients_;
  std::vector<std::unique_ptr<FakeWorker>> workers_;
};

/// A request body no message parses from (an over-long varint).
inline const std::string kMalformedBody(11, '\xff');

/// Calls `method` with kMalformedBody; returns the status of the answer (or
/// kTimedOut after kDeadline if none comes).
inline Status CallMalformed(rpc::Connection &conn, uint16_t method) {
  auto answered = std::make_shared<std::promise<Status>>();
  conn.CallRaw(
      method, kMalformedBody, [answered](Status st, std::string_view) { answered->set_value(st); },
      std::chrono::duration_cast<std::chrono::milliseconds>(kDeadline));
  return answered->get_future().get();
}

/// Every method in `methods` answers a malformed request with InvalidArgument
/// naming the problem.
inline void ExpectMalformedRequestsRefused(rpc::Connection &conn, const std::vector<uint16_t> &methods) {
  for (uint16_t method : methods) {
    Status st = CallMalformed(conn, method);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << "method " << method << ": " << st.ToString();
    EXPECT_NE(st.message().find("malformed"), std::string::npos)
        << "method " << method << ": " << st.ToString();
  }
}

}  // namespace lumen::control::testing
