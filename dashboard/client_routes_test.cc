// The web UI's routes on a real DashboardServer: its files served behind the
// token, the page that says they are missing, and /api/v0/node_processes.
#include "dashboard/client_routes.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dashboard/dashboard_server.h"

namespace lumen::dashboard {
namespace {

namespace fs = std::filesystem;
const std::string kToken(64, 'a');

// One alive node with three processes, one dead node; the other tables fail.
class ProcessSource : public StateSource {
 public:
  StatusOr<proto::GetAllNodesReply> Nodes() override { return Status::Disconnected("not here"); }
  StatusOr<proto::GetAllActorsReply> Actors() override { return Status::Disconnected("not here"); }
  StatusOr<proto::GetAllJobsReply> Jobs() override { return Status::Disconnected("not here"); }
  StatusOr<proto::GetAllPlacementGroupsReply> PlacementGroups() override {
    return Status::Disconnected("not here");
  }
  StatusOr<proto::GetTaskEventsReply> Tasks(const proto::GetTaskEventsRequest &) override {
    return Status::Disconnected("not here");
  }
  StatusOr<proto::GetAllNodesReply> NodeFacts(bool, bool) override {
    return Status::Disconnected("not here");
  }
  StatusOr<proto::GetMetricsReply> Metrics() override { return Status::Disconnected("not here"); }
  StatusOr<proto::GetAllNodesReply> NodeProcesses() override {
    proto::GetAllNodesReply reply;
    proto::NodeInfo *alive = reply.add_nodes();
    alive->set_node_id(std::string(28, '\1'));
    alive->set_node_ip("127.0.0.1");
    alive->set_alive(true);
    auto add = [&](int pid, const std::string &component, double cpu, uint64_t rss) {
      proto::ProcessStats *p = alive->mutable_usage()->add_processes();
      p->set_pid(pid);
      p->set_component(component);
      p->set_cpu_percent(cpu);
      p->set_rss_bytes(rss);
      p->set_uss_bytes(rss / 2);
    };
    add(10, "raylet", 2.5, 1000);
    add(11, "core_worker", 99, 2000);
    add(12, "driver", 0, 3000);
    proto::NodeInfo *dead = reply.add_nodes();
    dead->set_node_id(std::string(28, '\2'));
    dead->mutable_usage()->add_processes()->set_pid(20);
    return reply;
  }
};

class ClientRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("lumen-client-routes-" + std::to_string(getpid()));
    fs::create_directories(root_ / "ui" / "assets");
    std::ofstream(root_ / "ui" / "index.html") << "<!doctype html><title>Lumen UI</title>";
    std::ofstream(root_ / "ui" / "assets" / "app.js") << "console.log('lumen')";
    std::ofstream(root_ / "secret.txt") << "not for the web";
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(root_);
  }

  void StartServer(const std::string &client_dir) {
    DashboardOptions opts;
    opts.port = 0;
    opts.token = kToken;
    opts.client_dir = client_dir;
    server_ = std::make_unique<DashboardServer>(opts, std::make_unique<ProcessSource>());
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", *port);
  }
  httplib::Result Get(const std::string &path, bool token = true) {
    httplib::Headers headers;
    if (token) headers.emplace("Authorization", "Bearer " + kToken);
    return client_->Get(path.c_str(), headers);
  }

  fs::path root_;
  std::unique_ptr<DashboardServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ClientRoutesTest, TheUiFilesAreServedWithTheTokenOnly) {
  StartServer((root_ / "ui").string());
  auto page = Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<title>Lumen UI</title>"), std::string::npos) << page->body;
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  auto script = Get("/assets/app.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->body, "console.log('lumen')");
  EXPECT_NE(script->get_header_value("Content-Type").find("javascript"), std::string::npos);
  // Without the token: the login page, for the page and for its files alike.
  for (const char *path : {"/", "/index.html", "/assets/app.js"}) {
    auto refused = Get(path, /*token=*/false);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 303) << path;
    EXPECT_EQ(refused->get_header_value("Location"), "/login") << path;
    EXPECT_EQ(refused->body.find("lumen"), std::string::npos) << path;
  }
  // Nothing outside the folder, however the path is spelled.
  for (const char *path : {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"}) {
    auto outside = Get(path);
    ASSERT_TRUE(outside);
    EXPECT_NE(outside->status, 200) << path;
    EXPECT_EQ(outside->body.find("not for the web"), std::string::npos) << path;
  }
  // The API's routes are still the API's.
  auto version = Get("/api/version");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->status, 200);
}

TEST_F(ClientRoutesTest, AMissingUiIsSaidOnTheFrontPage) {
  const std::string missing = (root_ / "no-such-folder").string();
  StartServer(missing);
  auto page = Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("not installed"), std::string::npos) << page->body;
  EXPECT_NE(page->body.find(missing), std::string::npos) << page->body;
  EXPECT_NE(page->body.find("/api/v0/nodes"), std::string::npos) << page->body;
  auto refused = Get("/", /*token=*/false);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 303);
}

TEST_F(ClientRoutesTest, AFolderWithoutAnIndexCountsAsMissing) {
  StartServer((root_ / "ui" / "assets").string());
  auto page = Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("not installed"), std::string::npos) << page->body;
}

TEST_F(ClientRoutesTest, NodeProcessesListsEachAliveNodesProcessesWithTheirFigures) {
  StartServer("");
  auto res = Get("/api/v0/node_processes");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto result = nlohmann::json::parse(res->body)["data"]["result"];
  EXPECT_EQ(result["total"], 3);  // the dead node's are not
  ASSERT_EQ(result["result"].size(), 3u);
  const auto &worker = result["result"][1];
  std::string node_hex;
  for (int i = 0; i < 28; ++i) node_hex += "01";
  EXPECT_EQ(worker["node_id"], node_hex);
  EXPECT_EQ(worker["node_ip"], "127.0.0.1");
  EXPECT_EQ(worker["pid"], 11);
  EXPECT_EQ(worker["component"], "core_worker");
  EXPECT_EQ(worker["cpu_percent"], 99.0);
  EXPECT_EQ(worker["rss_bytes"], 2000);
  EXPECT_EQ(worker["uss_bytes"], 1000);

  res = Get("/api/v0/node_processes?filter_keys=component&filter_predicates=%3D&filter_values=driver");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  result = nlohmann::json::parse(res->body)["data"]["result"];
  ASSERT_EQ(result["result"].size(), 1u);
  EXPECT_EQ(result["result"][0]["pid"], 12);

  res = Get("/api/v0/node_processes?filter_keys=cpu_percent&filter_predicates=%3D&filter_values=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("cpu_percent"), std::string::npos) << res->body;
  res = Get("/api/v0/node_processes", /*token=*/false);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
}

TEST(FindClientDirTest, TheEnvironmentNamesTheFolderElseItIsBesideTheProgram) {
  ASSERT_EQ(unsetenv(kClientDirEnv), 0);
  const fs::path exe = fs::read_symlink("/proc/self/exe");
  EXPECT_EQ(FindClientDir(), (exe.parent_path().parent_path() / "share/lumen/dashboard").string());
  ASSERT_EQ(setenv(kClientDirEnv, "/opt/ui", 1), 0);
  EXPECT_EQ(FindClientDir(), "/opt/ui");
  ASSERT_EQ(unsetenv(kClientDirEnv), 0);
}

}  // namespace
}  // namespace lumen::dashboard
