// The dashboard's HTTP server in process: real sockets and a real HTTP
// client, the cluster's tables from a fake source.
#include "dashboard/dashboard_server.h"

#include "control/task_event_store.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

namespace lumen::dashboard {
namespace {

const std::string kToken(64, 'f');

class FakeSource : public StateSource {
 public:
  std::atomic<bool> fail{false};

  StatusOr<proto::GetAllNodesReply> Nodes() override {
    if (fail) return Status::Disconnected("control service gone");
    proto::GetAllNodesReply reply;
    for (int i = 0; i < 2; ++i) {
      proto::NodeInfo *n = reply.add_nodes();
      n->set_node_id(std::string(28, static_cast<char>(i + 1)));
      n->set_node_ip("127.0.0.1");
      n->set_alive(true);
      n->set_session_dir(i == 0 ? "/tmp/head-session" : "/tmp/other-session");
      (*n->mutable_total()->mutable_amounts())["CPU"] = 2;
    }
    return reply;
  }
  StatusOr<proto::GetAllActorsReply> Actors() override {
    if (fail) return Status::Disconnected("control service gone");
    proto::GetAllActorsReply reply;
    for (int i = 0; i < 30; ++i) {
      proto::ActorInfo *a = reply.add_actors();
      a->set_actor_id(std::string(16, static_cast<char>(i)));
      a->set_state(i < 3 ? proto::ALIVE : proto::DEAD);
      a->set_class_name("Counter");
      a->set_job_id(1);
      a->set_pid(100 + i);
      if (i >= 3) a->set_death_cause("killed by ray::Kill");
    }
    return reply;
  }
  StatusOr<proto::GetAllJobsReply> Jobs() override {
    if (fail) return Status::Disconnected("control service gone");
    proto::GetAllJobsReply reply;
    proto::JobInfo *j = reply.add_jobs();
    j->set_job_id(1);
    j->set_driver_pid(42);
    return reply;
  }
  StatusOr<proto::GetAllPlacementGroupsReply> PlacementGroups() override {
    if (fail) return Status::Disconnected("control service gone");
    proto::GetAllPlacementGroupsReply reply;
    proto::PlacementGroupInfo *g = reply.add_groups();
    g->set_group_id("abcd");
    g->set_strategy(3);
    g->set_state(proto::PG_CREATED);
    (*g->add_bundles()->mutable_amounts())["CPU"] = 1;
    g->add_bundle_node_ids(std::string(28, '\1'));
    return reply;
  }
  // 25 tasks of "Plus" (FINISHED but the last 3, FAILED, the first of those
  // retried and RUNNING now), and one actor creation and one call of
  // "Counter": task events in the control service's own table, which
  // answers the query as the control service does.
  StatusOr<proto::GetTaskEventsReply> Tasks(const proto::GetTaskEventsRequest &request) override {
    if (fail) return Status::Disconnected("control service gone");
    control::TaskEventStore store;
    proto::TaskEventBatch batch;
    auto add = [&](int id, int attempt, proto::TaskState state, const std::string &fn, proto::TaskType type) {
      proto::TaskEvent *e = batch.add_events();
      e->set_task_id(std::string(24, static_cast<char>(id)));
      e->set_attempt(attempt);
      e->set_job_id(1);
      e->add_states(proto::PENDING_ARGS_AVAIL);
      e->add_times_ns(1000000000LL * id);
      e->add_states(state);
      e->add_times_ns(1000000000LL * id + 1);
      e->set_name(fn);
      e->set_function_name(fn);
      e->set_type(type);
      e->set_worker_pid(200 + id);
      if (state == proto::FAILED) {
        e->set_error_type(proto::TASK_EXECUTION_EXCEPTION);
        e->set_error_message("std::runtime_error: boom " + std::to_string(id));
      }
    };
    for (int i = 1; i <= 25; ++i)
      add(i, 0, i <= 22 ? proto::FINISHED : proto::FAILED, "Plus", proto::NORMAL_TASK);
    add(23, 1, proto::RUNNING, "Plus", proto::NORMAL_TASK);
    add(30, 0, proto::FINISHED, "Counter", proto::ACTOR_CREATION_TASK);
    add(31, 0, proto::FINISHED, "Counter::Add", proto::ACTOR_TASK);
    (*batch.mutable_dropped_per_job())[1] = 4;
    store.Add(batch);
    return store.Get(request);
  }
  // Two nodes: the first with a driver and two workers (one gone) and an
  // object pinned by a reader; the second with one worker and no objects.
  StatusOr<proto::GetAllNodesReply> NodeFacts(bool workers, bool objects) override {
    auto reply = Nodes();
    if (!reply.ok()) return reply;
    for (int i = 0; i < reply->nodes_size(); ++i) {
      proto::NodeUsage *usage = reply->mutable_nodes(i)->mutable_usage();
      auto add = [&](int pid, bool driver, bool alive) {
        proto::NodeWorkerInfo *w = usage->add_workers();
        w->set_worker_id(std::string(16, static_cast<char>(pid % 256)));
        w->set_pid(pid);
        w->set_job_id(1);
        w->set_is_driver(driver);
        w->set_alive(alive);
      };
      if (workers && i == 0) {
        add(42, true, true);
        add(43, false, true);
        add(44, false, false);
      }
      if (workers && i == 1) add(50, false, true);
      if (objects && i == 0) {
        proto::NodeObjectInfo *o = usage->add_objects();
        o->set_object_id(std::string(28, '\7'));
        o->set_size(1 << 20);
        o->set_sealed(true);
        o->set_pins(1);
        o->set_creator_pid(43);
      }
    }
    return reply;
  }
  // Each node with a node service and two workers (pids 100+, 200+), its store and machine.
  StatusOr<proto::GetAllNodesReply> NodeProcesses() override {
    auto reply = Nodes();
    if (!reply.ok()) return reply;
    for (int i = 0; i < reply->nodes_size(); ++i) {
      proto::NodeUsage *usage = reply->mutable_nodes(i)->mutable_usage();
      *usage->mutable_total() = reply->nodes(i).total();  // all free, as the node reports it
      *usage->mutable_available() = reply->nodes(i).total();
      auto add = [&](int pid, const std::string &component, double cpu, uint64_t rss) {
        proto::ProcessStats *p = usage->add_processes();
        p->set_pid(pid);
        p->set_component(component);
        p->set_cpu_percent(cpu);
        p->set_rss_bytes(rss);
        p->set_uss_bytes(rss / 2);
        p->set_shared_bytes(rss / 4);
      };
      add(100 * (i + 1), "raylet", 1.5, 20000000);
      add(100 * (i + 1) + 1, "core_worker", 50, 10000000);
      add(100 * (i + 1) + 2, "core_worker", 25, 30000000);
      usage->set_store_capacity(1 << 30);
      usage->set_store_used(1 << 20);
      usage->set_store_objects(1);
      proto::MachineStats *machine = usage->mutable_machine();
      machine->set_cpu_percent(40);
      machine->set_cpu_count(2);
      machine->set_mem_total_bytes(uint64_t{24} << 30);
      machine->set_mem_available_bytes(uint64_t{20} << 30);
      machine->set_disk_total_bytes(uint64_t{250} << 30);
      machine->set_disk_free_bytes(uint64_t{60} << 30);
    }
    return reply;
  }
  // A counter recorded by job 1 on the first node, and the control service.
  StatusOr<proto::GetMetricsReply> Metrics() override {
    if (fail) return Status::Disconnected("control service gone");
    proto::GetMetricsReply reply;
    proto::MetricFamily *f = reply.add_families();
    f->set_name("requests");
    f->set_description("Requests served");
    f->set_kind(proto::METRIC_COUNTER);
    proto::MetricSeries *s = f->add_series();
    proto::MetricTag *tag = s->add_tags();
    tag->set_key("route");
    tag->set_value("/a");
    s->set_value(7);
    s->set_job_id(1);
    s->set_node_id(std::string(28, '\1'));
    reply.mutable_control()->set_component("gcs");
    reply.mutable_control()->set_rss_bytes(5000000);
    reply.set_dropped_series(4);
    return reply;
  }
};

class DashboardServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto source = std::make_unique<FakeSource>();
    source_ = source.get();
    DashboardOptions opts;
    opts.port = 0;
    opts.token = kToken;
    opts.session_dir = "/tmp/head-session";
    opts.version = "0.1.0";
    server_ = std::make_unique<DashboardServer>(opts, std::move(source));
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }

  httplib::Result Get(const std::string &path, httplib::Headers headers = {}) {
    return client_->Get(path.c_str(), headers);
  }
  httplib::Result GetWithToken(const std::string &path) {
    return Get(path, {{"Authorization", "Bearer " + kToken}});
  }
  static nlohmann::json Body(const httplib::Result &res) { return nlohmann::json::parse(res->body); }

  FakeSource *source_ = nullptr;
  std::unique_ptr<DashboardServer> server_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(DashboardServerTest, TheApiWantsTheToken) {
  auto res = Get("/api/v0/nodes");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(Body(res)["result"], false);
  res = Get("/api/v0/nodes", {{"Authorization", "Bearer " + std::string(64, 'e')}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  for (const char *path :
       {"/api/v0/actors", "/api/v0/jobs", "/api/v0/placement_groups", "/api/version", "/metrics"}) {
    res = Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << path;
  }
}

TEST_F(DashboardServerTest, APageWithoutTheTokenGoesToTheLoginPage) {
  auto res = Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 303);
  EXPECT_EQ(res->get_header_value("Location"), "/login");
  res = Get("/login");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("<form method=\"post\" action=\"/login\">"), std::string::npos);
}

TEST_F(DashboardServerTest, TheLoginPageKeepsTheTokenInASessionCookie) {
  auto wrong = client_->Post("/login", "token=" + std::string(64, 'e'), "application/x-www-form-urlencoded");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_FALSE(wrong->has_header("Set-Cookie"));
  auto right = client_->Post("/login", "token=" + kToken, "application/x-www-form-urlencoded");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 303);
  const std::string cookie = right->get_header_value("Set-Cookie");
  ASSERT_FALSE(cookie.empty());
  auto res = Get("/api/v0/jobs", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(DashboardServerTest, AnotherSitesRequestIsRefusedEvenWithTheToken) {
  auto res =
      Get("/api/v0/actors", {{"Authorization", "Bearer " + kToken}, {"Origin", "http://evil.example"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  auto login = client_->Post("/login", {{"Origin", "http://evil.example"}}, "token=" + kToken,
                             "application/x-www-form-urlencoded");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 403);
  EXPECT_FALSE(login->has_header("Set-Cookie"));
  res = Get("/api/v0/actors",
            {{"Authorization", "Bearer " + kToken}, {"Origin", "http://127.0.0.1:" + std::to_string(port_)}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(DashboardServerTest, ListsHaveRaysEnvelopeAndFilterBeforeTheLimit) {
  auto res =
      GetWithToken("/api/v0/actors?filter_keys=state&filter_predicates=%3D&filter_values=ALIVE&limit=2");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  nlohmann::json body = Body(res);
  EXPECT_EQ(body["result"], true);
  const nlohmann::json &result = body["data"]["result"];
  EXPECT_EQ(result["total"], 30);
  EXPECT_EQ(result["num_filtered"], 3);
  EXPECT_EQ(result["num_after_truncation"], 2);
  ASSERT_EQ(result["result"].size(), 2u);
  EXPECT_EQ(result["result"][0]["state"], "ALIVE");
  EXPECT_EQ(result["result"][0]["class_name"], "Counter");
  EXPECT_EQ(result["result"][0]["job_id"], "01000000");
  EXPECT_FALSE(result["result"][0].contains("death_cause"));  // a detail field
  // Fields in Ray's schema order (the CLI's columns follow it), not sorted.
  EXPECT_LT(res->body.find("\"state\""), res->body.find("\"job_id\""));
}

TEST_F(DashboardServerTest, DetailAddsTheDetailFields) {
  auto res =
      GetWithToken("/api/v0/actors?detail=1&filter_keys=state&filter_predicates=%3D&filter_values=dead");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const nlohmann::json rows = Body(res)["data"]["result"]["result"];
  ASSERT_EQ(rows.size(), 27u);
  EXPECT_EQ(rows[0]["death_cause"], "killed by ray::Kill");
}

TEST_F(DashboardServerTest, EveryResourceAnswersInRaysShape) {
  auto nodes = GetWithToken("/api/v0/nodes?detail=true");
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->status, 200);
  const nlohmann::json node_rows = Body(nodes)["data"]["result"]["result"];
  ASSERT_EQ(node_rows.size(), 2u);
  EXPECT_EQ(node_rows[0]["is_head_node"], true);  // its session is the head's
  EXPECT_EQ(node_rows[1]["is_head_node"], false);
  EXPECT_EQ(node_rows[0]["state"], "ALIVE");
  EXPECT_EQ(node_rows[0]["resources_total"]["CPU"], 2);
  std::string hex_ones;
  for (int i = 0; i < 28; ++i) hex_ones += "01";
  EXPECT_EQ(node_rows[0]["node_id"], hex_ones);

  auto jobs = GetWithToken("/api/v0/jobs");
  ASSERT_TRUE(jobs);
  const nlohmann::json job = Body(jobs)["data"]["result"]["result"][0];
  EXPECT_EQ(job["job_id"], "01000000");
  EXPECT_EQ(job["type"], "DRIVER");
  EXPECT_EQ(job["status"], "RUNNING");

  auto groups = GetWithToken("/api/v0/placement_groups?detail=1");
  ASSERT_TRUE(groups);
  const nlohmann::json group = Body(groups)["data"]["result"]["result"][0];
  EXPECT_EQ(group["placement_group_id"], "abcd");
  EXPECT_EQ(group["state"], "CREATED");
  EXPECT_EQ(group["strategy"], "STRICT_SPREAD");
  EXPECT_EQ(group["bundles"][0]["unit_resources"]["CPU"], 1);

  auto version = GetWithToken("/api/version");
  ASSERT_TRUE(version);
  EXPECT_EQ(Body(version)["ray_version"], "0.1.0");
  EXPECT_EQ(Body(version)["session_name"], "head-session");
}

TEST_F(DashboardServerTest, BadParametersAreAClear400) {
  for (const char *path : {"/api/v0/actors?limit=0", "/api/v0/actors?limit=abc",
                           "/api/v0/nodes?filter_keys=colour&filter_predicates=%3D"
                           "&filter_values=red",
                           "/api/v0/jobs?filter_keys=status&filter_predicates=%3E&filter_values=RUNNING",
                           "/api/v0/actors?detail=perhaps"}) {
    auto res = GetWithToken(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 400) << path;
    nlohmann::json body = Body(res);
    EXPECT_EQ(body["result"], false);
    EXPECT_FALSE(body["msg"].get<std::string>().empty()) << path;
  }
}

TEST_F(DashboardServerTest, ALostControlServiceIsAnErrorNotAHang) {
  source_->fail = true;
  auto res = GetWithToken("/api/v0/actors");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_NE(Body(res)["msg"].get<std::string>().find("control service gone"), std::string::npos);
  auto health = GetWithToken("/api/gcs_healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  source_->fail = false;
  health = GetWithToken("/api/gcs_healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(DashboardServerLifeTest, StopRightAfterStartEndsTheServer) {
  for (int i = 0; i < 20; ++i) {
    DashboardOptions opts;
    opts.port = 0;
    opts.token = kToken;
    DashboardServer server(opts, std::make_unique<FakeSource>());
    ASSERT_TRUE(server.Start().ok());
    server.Stop();
    server.WaitForShutdown();
  }  // the destructor joins the serving thread: a lost Stop would hang here
}

TEST(DashboardServerLifeTest, APortInUseIsAClearError) {
  DashboardOptions opts;
  opts.port = 0;
  opts.token = kToken;
  DashboardServer first(opts, std::make_unique<FakeSource>());
  auto port = first.Start();
  ASSERT_TRUE(port.ok());
  opts.port = *port;
  DashboardServer second(opts, std::make_unique<FakeSource>());
  auto again = second.Start();
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find(std::to_string(*port)), std::string::npos);
}

TEST_F(DashboardServerTest, TasksListEachAttemptFilteredBeforeTheLimit) {
  auto res =
      GetWithToken("/api/v0/tasks?filter_keys=state&filter_predicates=%3D&filter_values=failed&limit=2");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const nlohmann::json result = Body(res)["data"]["result"];
  EXPECT_EQ(result["total"], 28);
  EXPECT_EQ(result["num_filtered"], 3);
  ASSERT_EQ(result["result"].size(), 2u);
  const nlohmann::json &t = result["result"][0];
  EXPECT_EQ(t["state"], "FAILED");
  EXPECT_EQ(t["func_or_class_name"], "Plus");
  EXPECT_EQ(t["type"], "NORMAL_TASK");
  EXPECT_EQ(t["error_type"], "TASK_EXECUTION_EXCEPTION");
  EXPECT_EQ(t["job_id"], "01000000");
  EXPECT_EQ(t["worker_pid"], 223);
  EXPECT_FALSE(t.contains("error_message"));  // a detail field

  res = GetWithToken("/api/v0/tasks?detail=1&filter_keys=worker_pid&filter_predicates=%3D&filter_values=225");
  ASSERT_TRUE(res);
  const nlohmann::json rows = Body(res)["data"]["result"]["result"];
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["error_message"], "std::runtime_error: boom 25");
  EXPECT_EQ(rows[0]["creation_time_ms"], 25000);
  EXPECT_EQ(rows[0]["events"][0]["state"], "PENDING_ARGS_AVAIL");

  // A retry is a row of its own, with its attempt number.
  res = GetWithToken("/api/v0/tasks?filter_keys=attempt_number&filter_predicates=%3D&filter_values=1");
  ASSERT_TRUE(res);
  const nlohmann::json retry = Body(res)["data"]["result"]["result"];
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0]["state"], "RUNNING");
}

// Pages of the whole match, in order, and what the bounds dropped.
TEST_F(DashboardServerTest, TasksPageWithAnOffsetAndSayWhatWasDropped) {
  auto res = GetWithToken("/api/v0/tasks?limit=10&offset=20");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const nlohmann::json result = Body(res)["data"]["result"];
  EXPECT_EQ(result["total"], 28);
  EXPECT_EQ(result["num_filtered"], 28);
  ASSERT_EQ(result["result"].size(), 8u);  // the 21st to the 28th
  std::string task21;
  for (int i = 0; i < 24; ++i) task21 += "15";
  EXPECT_EQ(result["result"][0]["task_id"], task21);
  EXPECT_EQ(result["result"][7]["func_or_class_name"], "Counter::Add");
  EXPECT_EQ(result["num_dropped"], 4);
  ASSERT_TRUE(result["warnings"].is_array());
  EXPECT_NE(result["warnings"][0].get<std::string>().find("4 task attempts"), std::string::npos);

  res = GetWithToken("/api/v0/tasks?offset=28");
  ASSERT_TRUE(res);
  EXPECT_EQ(Body(res)["data"]["result"]["result"].size(), 0u);
  for (const char *path :
       {"/api/v0/tasks?offset=-1", "/api/v0/tasks?offset=x", "/api/v0/actors?offset=1.5"}) {
    res = GetWithToken(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 400) << path;
    EXPECT_NE(res->body.find("offset"), std::string::npos) << res->body;
  }
}

TEST_F(DashboardServerTest, TheTaskSummaryCountsEachTasksLatestAttemptByFunctionAndState) {
  auto res = GetWithToken("/api/v0/tasks/summarize");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const nlohmann::json cluster = Body(res)["data"]["result"]["result"]["node_id_to_summary"]["cluster"];
  EXPECT_EQ(cluster["summary_by"], "func_name");
  EXPECT_EQ(cluster["total_tasks"], 27);  // 28 attempts of 27 tasks
  EXPECT_EQ(cluster["total_actor_tasks"], 1);
  EXPECT_EQ(cluster["total_actor_scheduled"], 1);
  const nlohmann::json plus = cluster["summary"]["Plus"]["state_counts"];
  EXPECT_EQ(plus["FINISHED"], 22);
  EXPECT_EQ(plus["FAILED"], 2);
  EXPECT_EQ(plus["RUNNING"], 1);
  EXPECT_EQ(cluster["summary"]["Counter"]["type"], "ACTOR_CREATION_TASK");

  // Filters apply before counting.
  res = GetWithToken("/api/v0/tasks/summarize?filter_keys=state&filter_predicates=%3D&filter_values=FAILED");
  ASSERT_TRUE(res);
  const nlohmann::json failed = Body(res)["data"]["result"]["result"]["node_id_to_summary"]["cluster"];
  EXPECT_EQ(failed["total_tasks"], 3);
  EXPECT_EQ(failed["summary"]["Plus"]["state_counts"]["FAILED"], 3);
  res = GetWithToken("/api/v0/tasks/summarize?filter_keys=colour&filter_predicates=%3D&filter_values=red");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
}

TEST_F(DashboardServerTest, WorkersAndObjectsComeFromEveryNode) {
  auto res = GetWithToken("/api/v0/workers");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const nlohmann::json workers = Body(res)["data"]["result"]["result"];
  ASSERT_EQ(workers.size(), 4u);
  EXPECT_EQ(workers[0]["worker_type"], "DRIVER");
  EXPECT_EQ(workers[0]["pid"], 42);
  EXPECT_EQ(workers[1]["worker_type"], "WORKER");
  EXPECT_EQ(workers[2]["is_alive"], false);
  EXPECT_NE(workers[0]["node_id"], workers[3]["node_id"]);
  res = GetWithToken("/api/v0/workers?filter_keys=worker_type&filter_predicates=%3D&filter_values=DRIVER");
  ASSERT_TRUE(res);
  EXPECT_EQ(Body(res)["data"]["result"]["num_filtered"], 1);

  res = GetWithToken("/api/v0/objects?detail=1");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const nlohmann::json objects = Body(res)["data"]["result"]["result"];
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0]["object_size"], 1 << 20);
  EXPECT_EQ(objects[0]["reference_type"], "PINNED_IN_MEMORY");
  EXPECT_EQ(objects[0]["pid"], 43);
  std::string sevens;
  for (int i = 0; i < 28; ++i) sevens += "07";
  EXPECT_EQ(objects[0]["object_id"], sevens);
}

TEST_F(DashboardServerTest, TheNewResourcesRefuseBadParametersAndWantTheToken) {
  for (const char *path : {"/api/v0/tasks?limit=0",
                           "/api/v0/workers?filter_keys=colour&filter_predicates=%3D"
                           "&filter_values=red",
                           "/api/v0/objects?limit=x"}) {
    auto res = GetWithToken(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 400) << path;
  }
  for (const char *path :
       {"/api/v0/tasks", "/api/v0/tasks/summarize", "/api/v0/workers", "/api/v0/objects"}) {
    auto res = Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 401) << path;
  }
}

TEST_F(DashboardServerTest, MetricsCountTasksByStateAndName) {
  auto res = GetWithToken("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("ray_tasks{SessionName=\"head-session\",Name=\"Plus\",State=\"FINISHED\"} 22"),
            std::string::npos)
      << res->body;
}

// The processes' use per node and component, and the user metrics, beside
// the tables' metrics.
TEST_F(DashboardServerTest, MetricsShowProcessesAndUserMetrics) {
  auto res = GetWithToken("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  std::string node1;  // the first node's id in hex
  for (int i = 0; i < 28; ++i) node1 += "01";
  auto has = [&](const std::string &text) { return res->body.find(text) != std::string::npos; };
  EXPECT_TRUE(has("# TYPE ray_component_cpu_percentage gauge\n")) << res->body;
  // Node 1's two workers add up.
  EXPECT_TRUE(
      has("ray_component_cpu_percentage{SessionName=\"head-session\",Component=\"core_worker\",NodeId=\"" +
          node1 + "\",instance=\"127.0.0.1\"} 75\n"))
      << res->body;
  EXPECT_TRUE(has("ray_component_rss_mb{SessionName=\"head-session\",Component=\"gcs\"} 5\n")) << res->body;
  EXPECT_TRUE(has("ray_component_cpu_percentage{SessionName=\"head-session\",Component=\"dashboard\"}"))
      << res->body;
  EXPECT_TRUE(has("# HELP ray_requests_total Requests served\n# TYPE ray_requests_total counter\n"))
      << res->body;
  EXPECT_TRUE(
      has("ray_requests_total{SessionName=\"head-session\",Component=\"core_worker\",JobId=\"01000000\","
          "NodeId=\"" +
          node1 + "\",route=\"/a\"} 7\n"))
      << res->body;
  EXPECT_TRUE(has("# TYPE lumen_metrics_dropped_series_total counter\n")) << res->body;
  EXPECT_TRUE(has("lumen_metrics_dropped_series_total{SessionName=\"head-session\"} 4\n")) << res->body;
}

// The Grafana dashboard in the repository charts only families /metrics serves.
TEST_F(DashboardServerTest, TheGrafanaDashboardQueriesServedFamilies) {
  std::ifstream file(std::string(LUMEN_SOURCE_DIR) + "/dashboard/grafana/lumen_default_dashboard.json");
  ASSERT_TRUE(file) << "dashboard/grafana/lumen_default_dashboard.json";
  nlohmann::json dashboard = nlohmann::json::parse(file, nullptr, false);
  ASSERT_TRUE(dashboard.is_object());
  auto res = GetWithToken("/metrics");
  ASSERT_TRUE(res);
  const std::regex metric("ray_[a-z_]+");
  int queries = 0;
  for (const nlohmann::json &panel : dashboard["panels"])
    for (const nlohmann::json &target : panel["targets"]) {
      const std::string expr = target["expr"];
      ++queries;
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it)
        EXPECT_NE(res->body.find("# TYPE " + it->str() + " "), std::string::npos)
            << panel["title"] << ": " << it->str() << " is not served";
    }
  EXPECT_GE(queries, 10);
}

}  // namespace
}  // namespace lumen::dashboard
