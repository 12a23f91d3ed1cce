// The control service object on its own: its lifetime while clients are
// connected and calling (the service processes never destroy it, so this is
// the only place its destructor runs), and its job table.
#include "control/control_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "base/id.h"
#include "control/control_test_peers.h"
#include "protocol/control.pb.h"
#include "protocol/node.pb.h"
#include "rpc/rpc.h"

namespace lumen::control {
namespace {

const std::string kToken = "control-test-token";

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lumen-control-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  ControlServerOptions Options() const {
    ControlServerOptions o;
    o.unix_path = dir_ + "/control.sock";
    o.token = kToken;
    return o;
  }
  std::string dir_;
};

// Destroyed with a node, a driver and a busy client connected: their close
// handlers run against a server that is going away (run under ASan/TSan to
// see the difference), and every client sees its connection end.
TEST_F(ControlServerTest, DestroyedWhileClientsAreConnectedAndCalling) {
  auto server = std::make_unique<ControlServer>(Options());
  ASSERT_TRUE(server->Start().ok());
  rpc::EventLoop loop("control-test-client");
  const std::string addr = "unix:" + Options().unix_path;

  auto node = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  proto::NodeInfo info;
  info.set_node_id(NodeID::FromRandom().Binary());
  info.set_raylet_address("unix:" + dir_ + "/node.sock");
  proto::RegisterNodeReply node_reply;
  ASSERT_TRUE(node.value()->CallSync(proto::REGISTER_NODE, info, &node_reply).ok());

  auto driver = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(driver.ok());
  proto::RegisterJobRequest job;
  job.set_ray_namespace("ns");
  job.set_driver_pid(getpid());
  proto::RegisterJobReply job_reply;
  ASSERT_TRUE(driver.value()->CallSync(proto::REGISTER_JOB, job, &job_reply).ok());
  EXPECT_GT(job_reply.job_id(), 0u);

  auto busy = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(busy.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::thread caller([&] {
    proto::KvPutRequest put;
    put.set_ns("ns");
    put.set_value("v");
    put.set_overwrite(true);
    for (int i = 0; !stop; ++i) {
      put.set_key("k" + std::to_string(i % 100));
      proto::KvPutReply reply;
      if (!busy.value()->CallSync(proto::KV_PUT, put, &reply).ok()) break;  // the server went away
      ++answered;
    }
  });
  while (answered < 50) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  server.reset();

  stop = true;
  caller.join();
  // Every client finds its connection gone: a call now fails, it does not hang.
  proto::KvPutRequest put;
  put.set_ns("ns");
  put.set_key("after");
  proto::KvPutReply reply;
  EXPECT_FALSE(node.value()->CallSync(proto::KV_PUT, put, &reply).ok());
  EXPECT_FALSE(driver.value()->CallSync(proto::KV_PUT, put, &reply).ok());
  EXPECT_FALSE(busy.value()->CallSync(proto::KV_PUT, put, &reply).ok());
}

// Long enough that only a hang reaches it.
constexpr auto kHangDeadline = std::chrono::seconds(60);

uint32_t RegisterJob(rpc::Connection &driver) {
  proto::RegisterJobRequest job;
  job.set_ray_namespace("ns");
  job.set_driver_pid(getpid());
  proto::RegisterJobReply reply;
  Status st = driver.CallSync(proto::REGISTER_JOB, job, &reply);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return reply.job_id();
}

std::map<uint32_t, proto::JobInfo> AllJobs(rpc::Connection &client) {
  proto::GetAllJobsReply reply;
  Status st = client.CallSync(proto::GET_ALL_JOBS, proto::GetAllJobsRequest(), &reply);
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::map<uint32_t, proto::JobInfo> jobs;
  for (auto &j : reply.jobs()) jobs[j.job_id()] = j;
  return jobs;
}

TEST_F(ControlServerTest, AJobEndsWhenItsDriverSaysSo) {
  ControlServer server(Options());
  ASSERT_TRUE(server.Start().ok());
  rpc::EventLoop loop("control-test-client");
  auto driver = rpc::Connect(loop, "unix:" + Options().unix_path, kToken, nullptr);
  ASSERT_TRUE(driver.ok());
  uint32_t job = RegisterJob(*driver.value());
  ASSERT_FALSE(AllJobs(*driver.value())[job].finished());

  proto::JobFinished finished;
  finished.set_job_id(job);
  proto::Empty ack;
  ASSERT_TRUE(driver.value()->CallSync(proto::JOB_FINISHED, finished, &ack).ok());
  auto jobs = AllJobs(*driver.value());
  ASSERT_TRUE(jobs.count(job));
  EXPECT_TRUE(jobs[job].finished());
  EXPECT_GE(jobs[job].end_time_ms(), jobs[job].start_time_ms());
}

// User metrics: a driver's and a worker's changes (two connections) add up;
// GET_METRICS says the control service's own use; an ended job's series go
// once its retention (here none) has passed.
TEST_F(ControlServerTest, MetricsFromTwoProcessesAddUpUntilTheirJobEnds) {
  ControlServerOptions options = Options();
  options.metrics.finished_job_retention_ms = 0;
  ControlServer server(options);
  ASSERT_TRUE(server.Start().ok());
  rpc::EventLoop loop("control-test-client");
  const std::string addr = "unix:" + options.unix_path;
  auto driver = rpc::Connect(loop, addr, kToken, nullptr);
  auto worker = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(driver.ok() && worker.ok());
  const uint32_t job = RegisterJob(*driver.value());
  auto send = [&](rpc::Connection &from, double value) {
    proto::MetricBatch batch;
    batch.set_job_id(job);
    batch.set_node_id("node");
    proto::MetricFamily *f = batch.add_families();
    f->set_name("hits");
    f->set_kind(proto::METRIC_COUNTER);
    f->add_series()->set_value(value);
    proto::Empty ack;
    ASSERT_TRUE(from.CallSync(proto::ADD_METRICS, batch, &ack).ok());
  };
  send(*driver.value(), 2);
  send(*worker.value(), 3);
  worker.value()->Close();  // the worker is gone: what it sent stays
  proto::GetMetricsReply reply;
  ASSERT_TRUE(driver.value()->CallSync(proto::GET_METRICS, proto::GetMetricsRequest(), &reply).ok());
  ASSERT_EQ(reply.families_size(), 1);
  ASSERT_EQ(reply.families(0).series_size(), 1);
  EXPECT_EQ(reply.families(0).series(0).value(), 5);
  EXPECT_EQ(reply.families(0).series(0).job_id(), job);
  EXPECT_EQ(reply.control().component(), "gcs");
  EXPECT_EQ(reply.control().pid(), getpid());
  EXPECT_GT(reply.control().rss_bytes(), 0u);

  proto::JobFinished finished;
  finished.set_job_id(job);
  proto::Empty ack;
  ASSERT_TRUE(driver.value()->CallSync(proto::JOB_FINISHED, finished, &ack).ok());
  ASSERT_TRUE(driver.value()->CallSync(proto::GET_METRICS, proto::GetMetricsRequest(), &reply).ok());
  EXPECT_EQ(reply.families_size(), 0);
}

TEST_F(ControlServerTest, AJobEndsWhenItsDriverGoesWithoutSaying) {
  ControlServer server(Options());
  ASSERT_TRUE(server.Start().ok());
  rpc::EventLoop loop("control-test-client");
  const std::string addr = "unix:" + Options().unix_path;
  auto observer = rpc::Connect(loop, addr, kToken, nullptr);
  auto driver = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(observer.ok() && driver.ok());
  uint32_t job = RegisterJob(*driver.value());
  uint32_t other = RegisterJob(*observer.value());

  driver.value()->Close();  // as when a driver is killed
  auto deadline = std::chrono::steady_clock::now() + kHangDeadline;
  while (!AllJobs(*observer.value())[job].finished() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto jobs = AllJobs(*observer.value());
  EXPECT_TRUE(jobs[job].finished());
  EXPECT_FALSE(jobs[other].finished()) << "another driver's job ended with it";
}

TEST_F(ControlServerTest, FinishedJobsAgeOutOldestFirstAndRunningOnesStay) {
  ControlServerOptions options = Options();
  options.max_finished_jobs = 3;
  ControlServer server(options);
  ASSERT_TRUE(server.Start().ok());
  rpc::EventLoop loop("control-test-client");
  auto driver = rpc::Connect(loop, "unix:" + options.unix_path, kToken, nullptr);
  ASSERT_TRUE(driver.ok());
  uint32_t running = RegisterJob(*driver.value());
  std::vector<uint32_t> ended;
  for (int i = 0; i < 5; ++i) ended.push_back(RegisterJob(*driver.value()));
  // Finished out of id order: age is when a job finished, not its id.
  for (int i : {4, 0, 3, 1, 2}) {
    proto::JobFinished finished;
    finished.set_job_id(ended[i]);
    proto::Empty ack;
    ASSERT_TRUE(driver.value()->CallSync(proto::JOB_FINISHED, finished, &ack).ok());
  }
  auto jobs = AllJobs(*driver.value());
  EXPECT_EQ(jobs.size(), 4u);
  EXPECT_TRUE(jobs.count(running) && !jobs[running].finished());
  EXPECT_FALSE(jobs.count(ended[4]));
  EXPECT_FALSE(jobs.count(ended[0]));
  for (int i : {3, 1, 2}) EXPECT_TRUE(jobs.count(ended[i]) && jobs[ended[i]].finished()) << i;
}

}  // namespace
// A node that dies before answering a reservation does not leave the group
// pending for ever: it is placed on the other live node.
TEST_F(ControlServerTest, AReservationLostWithItsNodeIsPlacedOnAnotherNode) {
  ControlServer server(Options());
  ASSERT_TRUE(server.Start().ok());
  rpc::EventLoop loop("control-test-client");
  const std::string addr = "unix:" + Options().unix_path;

  // Two fake nodes, both with room: whichever is asked to reserve first
  // dies without answering. (With two nodes the group is prepared and
  // committed; with the one left, it is reserved in one request.)
  std::atomic<int> asked{0};
  rpc::Dispatcher node_dispatcher;
  auto reserve = [&asked](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
    if (asked.fetch_add(1) == 0) {
      conn->Close();
      return;
    }
    proto::PrepareBundlesReply prepared;  // a RESERVE_BUNDLES answer's body is ignored
    prepared.set_prepared(true);
    conn->Reply(call_id, prepared);
  };
  node_dispatcher.Register(proto::RESERVE_BUNDLES, reserve);
  node_dispatcher.Register(proto::PREPARE_BUNDLES, reserve);
  node_dispatcher.Register(proto::COMMIT_BUNDLES,
                           [](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                             conn->Reply(call_id, proto::Empty());
                           });
  node_dispatcher.Register(proto::NODE_STATS,
                           [](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                             proto::NodeStatsReply stats;
                             (*stats.mutable_total()->mutable_amounts())["CPU"] = 4;
                             (*stats.mutable_available()->mutable_amounts())["CPU"] = 4;
                             conn->Reply(call_id, stats);
                           });
  std::vector<rpc::ConnectionPtr> nodes;
  for (int i = 0; i < 2; ++i) {
    auto node = rpc::Connect(loop, addr, kToken, &node_dispatcher);
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    proto::NodeInfo info;
    info.set_node_id(NodeID::FromRandom().Binary());
    info.set_raylet_address("unix:" + dir_ + "/node" + std::to_string(i) + ".sock");
    (*info.mutable_total()->mutable_amounts())["CPU"] = 4;
    proto::RegisterNodeReply reply;
    ASSERT_TRUE(node.value()->CallSync(proto::REGISTER_NODE, info, &reply).ok());
    nodes.push_back(node.value());
  }

  auto driver = rpc::Connect(loop, addr, kToken, nullptr);
  ASSERT_TRUE(driver.ok());
  proto::CreatePlacementGroupRequest create;
  create.mutable_info()->set_group_id("group-1");
  (*create.mutable_info()->add_bundles()->mutable_amounts())["CPU"] = 1;
  proto::Empty created;
  ASSERT_TRUE(driver.value()->CallSync(proto::CREATE_PLACEMENT_GROUP, create, &created).ok());
  proto::WaitPlacementGroupRequest wait;
  wait.set_group_id("group-1");
  wait.set_timeout_ms(60000);  // only a group left pending reaches it
  proto::WaitPlacementGroupReply ready;
  ASSERT_TRUE(
      driver.value()->CallSync(proto::WAIT_PLACEMENT_GROUP, wait, &ready, std::chrono::seconds(90)).ok());
  EXPECT_TRUE(ready.ready());
  EXPECT_EQ(asked.load(), 2);
  for (auto &n : nodes) n->Close();
  driver.value()->Close();
}

namespace {

// Every request is parsed before its handler runs: a malformed one is
// answered with InvalidArgument, and the service goes on serving.
TEST_F(ControlServerTest, MalformedRequestsAreRefusedAndTheServiceGoesOn) {
  auto server = std::make_unique<ControlServer>(Options());
  ASSERT_TRUE(server->Start().ok());
  rpc::EventLoop loop("control-test-client");
  auto conn = rpc::Connect(loop, "unix:" + Options().unix_path, kToken, nullptr);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  control::testing::ExpectMalformedRequestsRefused(**conn, {proto::REGISTER_NODE,
                                                            proto::GET_ALL_NODES,
                                                            proto::REGISTER_JOB,
                                                            proto::JOB_FINISHED,
                                                            proto::GET_ALL_JOBS,
                                                            proto::KV_PUT,
                                                            proto::KV_GET,
                                                            proto::KV_DEL,
                                                            proto::KV_KEYS,
                                                            proto::REGISTER_ACTOR,
                                                            proto::CREATE_ACTOR,
                                                            proto::SUBSCRIBE_ACTOR,
                                                            proto::GET_NAMED_ACTOR,
                                                            proto::ACTOR_EXITING,
                                                            proto::GET_ALL_ACTORS,
                                                            proto::KILL_ACTOR,
                                                            proto::CREATE_PLACEMENT_GROUP,
                                                            proto::REMOVE_PLACEMENT_GROUP,
                                                            proto::GET_PLACEMENT_GROUP,
                                                            proto::GET_ALL_PLACEMENT_GROUPS,
                                                            proto::WAIT_PLACEMENT_GROUP,
                                                            proto::SHUTDOWN_CLUSTER});
  proto::GetAllNodesReply nodes;
  EXPECT_TRUE(conn.value()->CallSync(proto::GET_ALL_NODES, proto::GetAllNodesRequest(), &nodes).ok());
  conn.value()->Close();
}

// ---- the nodes' resource usage (GET_ALL_NODES with_usage)

class NodeUsageTest : public control::testing::ControlServiceTest {
 protected:
  proto::GetAllNodesReply AllNodes(rpc::Connection &client, bool with_usage) {
    proto::GetAllNodesRequest req;
    req.set_with_usage(with_usage);
    proto::GetAllNodesReply reply;
    Status st = client.CallSync(proto::GET_ALL_NODES, req, &reply, kHangDeadline);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return reply;
  }
  static const proto::NodeInfo *Find(const proto::GetAllNodesReply &reply, const std::string &node_id) {
    for (auto &n : reply.nodes())
      if (n.node_id() == node_id) return &n;
    return nullptr;
  }
  static double Amount(const proto::ResourceSet &set, const std::string &name) {
    auto it = set.amounts().find(name);
    return it == set.amounts().end() ? -1 : it->second;
  }
};

// Asked for usage, the service asks each alive node now and reports what it
// said; dead nodes stay listed without usage, and are not asked.
TEST_F(NodeUsageTest, AliveNodesReportTheirUsageWhenAskedAndDeadOnesAreListedWithout) {
  auto *busy = AddNode({{"CPU", 4}});
  auto *gone = AddNode({{"CPU", 2}});
  auto *client = AddClient();
  busy->SetUsage({{"CPU", 4}, {"CPU_group_g", 1}}, {{"CPU", 1.5}});
  gone->SetUsage({{"CPU", 2}}, {{"CPU", 2}});
  gone->Close();
  auto seen_dead = [&] {
    const proto::GetAllNodesReply reply = AllNodes(client->conn(), false);
    const proto::NodeInfo *n = Find(reply, gone->node_id());
    return n && !n->alive();
  };
  auto deadline = std::chrono::steady_clock::now() + kHangDeadline;
  while (!seen_dead() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(seen_dead()) << "the closed node was not marked dead";

  const proto::GetAllNodesReply plain = AllNodes(client->conn(), false);
  EXPECT_EQ(plain.nodes_size(), 2);
  for (auto &n : plain.nodes()) EXPECT_FALSE(n.has_usage()) << "usage only when asked for";
  EXPECT_EQ(busy->log().Get().stats_requests, 0);

  const proto::GetAllNodesReply with = AllNodes(client->conn(), true);
  ASSERT_EQ(with.nodes_size(), 2);
  const proto::NodeInfo *b = Find(with, busy->node_id());
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->alive());
  ASSERT_TRUE(b->has_usage());
  EXPECT_EQ(Amount(b->usage().available(), "CPU"), 1.5);
  EXPECT_EQ(Amount(b->usage().total(), "CPU_group_g"), 1);
  EXPECT_EQ(Amount(b->total(), "CPU"), 4) << "the registered totals stay as they were";
  const proto::NodeInfo *g = Find(with, gone->node_id());
  ASSERT_NE(g, nullptr);
  EXPECT_FALSE(g->alive());
  EXPECT_FALSE(g->has_usage());
  EXPECT_EQ(gone->log().Get().stats_requests, 0) << "a dead node is not asked";
  EXPECT_EQ(busy->log().Get().stats_requests, 1);
}

// A node that cannot say is left without usage; the answer still comes, with
// the nodes that could.
TEST_F(NodeUsageTest, ANodeThatFailsToAnswerIsLeftOutAndTheOthersStillCount) {
  auto *mute = AddNode({{"CPU", 4}});  // no usage set: NODE_STATS fails
  auto *fine = AddNode({{"CPU", 2}});
  auto *client = AddClient();
  fine->SetUsage({{"CPU", 2}}, {{"CPU", 2}});
  const proto::GetAllNodesReply with = AllNodes(client->conn(), true);
  ASSERT_EQ(with.nodes_size(), 2);
  EXPECT_FALSE(Find(with, mute->node_id())->has_usage());
  EXPECT_TRUE(Find(with, mute->node_id())->alive());
  ASSERT_TRUE(Find(with, fine->node_id())->has_usage());
  EXPECT_EQ(Amount(Find(with, fine->node_id())->usage().available(), "CPU"), 2);
  EXPECT_EQ(mute->log().Get().stats_requests, 1);
}

}  // namespace
}  // namespace lumen::control
