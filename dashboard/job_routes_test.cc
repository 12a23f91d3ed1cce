// The Job Submission API and the log files API over real HTTP (a
// DashboardServer on a free port, a real client), with real child
// processes; the body parser and the log tail reader on their own.
#include "dashboard/job_routes.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "dashboard/dashboard_server.h"
#include "dashboard/log_routes.h"
#include "dashboard/working_dir_package.h"

namespace lumen::dashboard {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::string kToken(64, 'e');
constexpr auto kDeadline = std::chrono::seconds(60);  // only a real hang reaches it

// The cluster's tables are not what these routes read: a source that has none.
class NoCluster : public StateSource {
 public:
  StatusOr<proto::GetAllNodesReply> Nodes() override {
    proto::GetAllNodesReply reply;
    proto::NodeInfo *n = reply.add_nodes();
    n->set_node_id(std::string(28, '\x2a'));
    n->set_session_dir(session_dir);
    return reply;
  }
  StatusOr<proto::GetAllActorsReply> Actors() override { return Status::Disconnected("none"); }
  // One cluster job, number 5, whose driver is process `driver_pid` (none: no job).
  StatusOr<proto::GetAllJobsReply> Jobs() override {
    proto::GetAllJobsReply reply;
    if (driver_pid > 0) {
      proto::JobInfo *j = reply.add_jobs();
      j->set_job_id(5);
      j->set_driver_pid(driver_pid);
    }
    return reply;
  }
  StatusOr<proto::GetAllPlacementGroupsReply> PlacementGroups() override {
    return Status::Disconnected("none");
  }
  StatusOr<proto::GetTaskEventsReply> Tasks(const proto::GetTaskEventsRequest &) override {
    return Status::Disconnected("none");
  }
  StatusOr<proto::GetAllNodesReply> NodeFacts(bool, bool) override { return Status::Disconnected("none"); }
  StatusOr<proto::GetAllNodesReply> NodeProcesses() override { return Status::Disconnected("none"); }
  StatusOr<proto::GetMetricsReply> Metrics() override { return Status::Disconnected("none"); }
  std::string session_dir;
  std::atomic<int> driver_pid{0};
};

class JobRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ljr-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/logs");
    auto source = std::make_unique<NoCluster>();
    source->session_dir = dir_;
    source_ = source.get();
    DashboardOptions opts;
    opts.port = 0;
    opts.token = kToken;
    opts.session_dir = dir_;
    opts.cluster_address = "127.0.0.1:1";
    opts.job_stop_grace = std::chrono::milliseconds(200);
    server_ = std::make_unique<DashboardServer>(opts, std::move(source));
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    fs::remove_all(dir_);
  }

  httplib::Headers Auth() { return {{"Authorization", "Bearer " + kToken}}; }
  httplib::Result Post(const std::string &path, const std::string &body) {
    return client_->Post(path.c_str(), Auth(), body, "application/json");
  }
  httplib::Result Get(const std::string &path) { return client_->Get(path.c_str(), Auth()); }

  // The job's details once it has ended.
  Json Ended(const std::string &id) {
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    Json job;
    while (std::chrono::steady_clock::now() < until) {
      auto res = Get("/api/jobs/" + id);
      if (res && res->status == 200) {
        job = Json::parse(res->body);
        const std::string status = job["status"];
        if (status != "PENDING" && status != "RUNNING") return job;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "job " << id << " never ended: " << job.dump();
    return job;
  }

  std::string dir_;
  NoCluster *source_ = nullptr;
  std::unique_ptr<DashboardServer> server_;
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
};

TEST_F(JobRoutesTest, ASubmittedJobRunsAndItsDetailsAndLogsAreServed) {
  auto res = Post("/api/jobs/", R"({"entrypoint": ["sh", "-c", "echo out-$GREETING; exit 3"],
                                    "submission_id": "http-1",
                                    "runtime_env": {"env_vars": {"GREETING": "hi"}},
                                    "metadata": {"team": "x"}})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Json::parse(res->body)["submission_id"], "http-1");
  Json job = Ended("http-1");
  EXPECT_EQ(job["status"], "FAILED");
  EXPECT_EQ(job["driver_exit_code"], 3);
  EXPECT_EQ(job["type"], "SUBMISSION");
  EXPECT_EQ(job["error_type"], "JOB_ENTRYPOINT_COMMAND_ERROR");
  EXPECT_EQ(job["metadata"]["team"], "x");
  EXPECT_EQ(job["runtime_env"]["env_vars"]["GREETING"], "hi");
  EXPECT_EQ(job["entrypoint"], "sh -c 'echo out-$GREETING; exit 3'");
  EXPECT_EQ(job["submitter_address"].get<std::string>().rfind("127.0.0.1:", 0), 0u) << job.dump();
  EXPECT_TRUE(job["end_time"].is_number());

  auto logs = Get("/api/jobs/http-1/logs");
  ASSERT_TRUE(logs);
  EXPECT_EQ(Json::parse(logs->body)["logs"], "out-hi\n");
  auto tail = Get("/api/jobs/http-1/logs/tail");  // ended: the stream is the whole log
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->body, "out-hi\n");
  auto list = Get("/api/jobs/");
  ASSERT_TRUE(list);
  Json all = Json::parse(list->body);
  ASSERT_TRUE(all.is_array());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["submission_id"], "http-1");

  // A string entrypoint is split, never given to a shell: `;` is an argument.
  res = Post("/api/jobs/", R"({"entrypoint": "echo 'a  b' ; echo c", "submission_id": "http-2"})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Ended("http-2")["status"], "SUCCEEDED");
  EXPECT_EQ(Json::parse(Get("/api/jobs/http-2/logs")->body)["logs"], "a  b ; echo c\n");

  auto deleted = client_->Delete("/api/jobs/http-2", Auth());
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 200);
  EXPECT_EQ(Json::parse(deleted->body)["deleted"], true);
  EXPECT_EQ(Get("/api/jobs/http-2")->status, 404);
}

TEST_F(JobRoutesTest, ALongJobIsTailedWhileItRunsAndStopped) {
  auto res = Post("/api/jobs/",
                  R"({"entrypoint": ["sh", "-c", "echo first; sleep 1000"], "submission_id": "long"})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  // The tail stream gives the output while the job runs, and ends with it.
  std::string streamed;
  std::thread stopper;
  auto tail = client_->Get("/api/jobs/long/logs/tail", Auth(), [&](const char *data, size_t n) {
    streamed.append(data, n);
    if (streamed.find("first\n") != std::string::npos && !stopper.joinable())
      stopper = std::thread([this] {
        httplib::Client other("127.0.0.1", port_);
        auto stop = other.Post("/api/jobs/long/stop", Auth(), "", "application/json");
        EXPECT_TRUE(stop && stop->status == 200 && Json::parse(stop->body)["stopped"] == true);
      });
    return true;
  });
  if (stopper.joinable()) stopper.join();
  ASSERT_TRUE(tail);
  EXPECT_EQ(streamed, "first\n");
  Json job = Ended("long");
  EXPECT_EQ(job["status"], "STOPPED");
  auto again = Post("/api/jobs/long/stop", "");
  ASSERT_TRUE(again);
  EXPECT_EQ(Json::parse(again->body)["stopped"], false);
}

TEST_F(JobRoutesTest, TheClusterJobOfAJobsDriverIsItsJobId) {
  auto res = Post("/api/jobs/", R"({"entrypoint": ["sleep", "1000"], "submission_id": "linked"})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  Json job = Json::parse(Get("/api/jobs/linked")->body);
  EXPECT_TRUE(job["job_id"].is_null()) << job.dump();  // no driver has registered
  EXPECT_TRUE(job["driver_info"].is_null()) << job.dump();
  Json rows = Json::parse(Get("/api/v0/jobs")->body)["data"]["result"]["result"];
  ASSERT_EQ(rows.size(), 1u) << rows.dump(1);
  EXPECT_TRUE(rows[0]["job_id"].is_null()) << rows.dump(1);
  EXPECT_EQ(rows[0]["type"], "SUBMISSION");
  const int pid = job["driver_pid"];
  source_->driver_pid = pid;  // now its process has: it is cluster job 5
  job = Json::parse(Get("/api/jobs/linked")->body);
  EXPECT_EQ(job["job_id"], "05000000") << job.dump();
  EXPECT_EQ(job["driver_info"]["pid"], std::to_string(pid)) << job.dump();
  // The state API lists it once: the driver's row is the submission's.
  rows = Json::parse(Get("/api/v0/jobs?detail=true")->body)["data"]["result"]["result"];
  ASSERT_EQ(rows.size(), 1u) << rows.dump(1);
  EXPECT_EQ(rows[0]["job_id"], "05000000");
  EXPECT_EQ(rows[0]["submission_id"], "linked");
  EXPECT_EQ(rows[0]["type"], "SUBMISSION");
  EXPECT_EQ(rows[0]["status"], "RUNNING");
  source_->driver_pid = 0;  // the link stays
  EXPECT_EQ(Json::parse(Get("/api/jobs/")->body)[0]["job_id"], "05000000");
  // Without its driver's row (the control service had none), a submitted job
  // still has a row of its own.
  rows = Json::parse(Get("/api/v0/jobs?filter_keys=type&filter_predicates=%3D&filter_values=SUBMISSION")
                         ->body)["data"]["result"]["result"];
  ASSERT_EQ(rows.size(), 1u) << rows.dump(1);
  EXPECT_EQ(rows[0]["job_id"], "05000000") << rows.dump(1);
  EXPECT_EQ(rows[0]["submission_id"], "linked");
  ASSERT_EQ(Post("/api/jobs/linked/stop", "")->status, 200);
  EXPECT_EQ(Ended("linked")["status"], "STOPPED");
}

TEST_F(JobRoutesTest, BadRequestsAreClear400sAndUnknownJobs404s) {
  struct Case {
    const char *body;
    const char *says;
  };
  for (const Case &c :
       {Case{"{not json", "not valid JSON"}, Case{"[1]", "JSON object"},
        Case{R"({"runtime_env": {}})", "no entrypoint"}, Case{R"({"entrypoint": ""})", "empty"},
        Case{R"({"entrypoint": 5})", "string or an array"},
        Case{R"({"entrypoint": ["a", 1]})", "must be a string"},
        Case{R"({"entrypoint": "x", "submission_id": "../up"})", "submission_id"},
        Case{R"({"entrypoint": "x", "runtime_env": {"pip": ["a"]}})", "runtime_env.pip"},
        Case{R"({"entrypoint": "x", "runtime_env": {"working_dir": "rel"}})", "absolute"},
        Case{R"({"entrypoint": "x", "metadata": {"a": 1}})", "metadata['a']"},
        Case{R"({"entrypoint": "x", "entrypoint_num_cpus": 2})", "not supported"},
        Case{R"({"entrypoint": "x", "colour": "red"})", "unknown field 'colour'"},
        Case{R"({"entrypoint": "echo 'open"})", "unterminated"}}) {
    auto res = Post("/api/jobs/", c.body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << c.body;
    EXPECT_NE(res->body.find(c.says), std::string::npos) << c.body << " -> " << res->body;
  }
  ASSERT_EQ(Post("/api/jobs/", R"({"entrypoint": "true", "submission_id": "dup"})")->status, 200);
  auto dup = Post("/api/jobs/", R"({"entrypoint": "true", "submission_id": "dup"})");
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->status, 400);
  EXPECT_NE(dup->body.find("already exists"), std::string::npos) << dup->body;

  for (const char *path : {"/api/jobs/nope", "/api/jobs/nope/logs", "/api/jobs/nope/logs/tail"}) {
    auto res = Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_NE(res->body.find("Job nope does not exist"), std::string::npos) << res->body;
  }
  EXPECT_EQ(Post("/api/jobs/nope/stop", "")->status, 404);
  EXPECT_EQ(client_->Delete("/api/jobs/nope", Auth())->status, 404);
  // Without the token nothing runs.
  auto anonymous = client_->Post("/api/jobs/", R"({"entrypoint": "touch /tmp/x"})", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(Json::parse(Get("/api/jobs/")->body).size(), 1u);  // "dup" only
}

// The package routes' failures: a bad protocol or name is a 400, a body
// announced over the limit a 413 before any of it is read, and a job whose
// package is no zip (or was never uploaded) a 400 that says so.
TEST_F(JobRoutesTest, PackageUploadsAndTheirJobsRefuseWhatCannotBeRun) {
  const std::string name = "_ray_pkg_00ab.zip";
  EXPECT_EQ(client_->Get("/api/packages/s3/" + name, Auth())->status, 400);
  EXPECT_EQ(client_->Put("/api/packages/gcs/x.zip", Auth(), "PK", "application/zip")->status, 400);
  EXPECT_EQ(Get("/api/packages/gcs/" + name)->status, 404);

  // A raw request: only a Content-Length over the limit, no body behind it.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
  const std::string request =
      "PUT /api/packages/gcs/" + name + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
      "\r\nAuthorization: Bearer " + kToken +
      "\r\nContent-Type: application/zip\r\nContent-Length: " + std::to_string(kMaxPackageBytes + 1) +
      "\r\n\r\n";
  ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string reply(4096, '\0');
  const ssize_t n = read(fd, reply.data(), reply.size());
  close(fd);
  ASSERT_GT(n, 0);
  reply.resize(static_cast<size_t>(n));
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
  EXPECT_EQ(Get("/api/packages/gcs/" + name)->status, 404);  // nothing kept

  ASSERT_EQ(client_->Put("/api/packages/gcs/" + name, Auth(), "not a zip", "application/zip")->status, 200);
  EXPECT_EQ(Get("/api/packages/gcs/" + name)->status, 200);
  auto bad = Post("/api/jobs/",
                  R"({"entrypoint": "true", "runtime_env": {"working_dir": "gcs://)" + name + R"("}})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("not a readable zip"), std::string::npos) << bad->body;
  auto missing = Post("/api/jobs/",
                      R"({"entrypoint": "true", "runtime_env": {"working_dir": "gcs://_ray_pkg_ff.zip"}})");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  EXPECT_NE(missing->body.find("was not uploaded"), std::string::npos) << missing->body;
  auto other =
      Post("/api/jobs/", R"({"entrypoint": "true", "runtime_env": {"working_dir": "https://x/y.zip"}})");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 400);
  EXPECT_NE(other->body.find("neither a folder on the head nor a package"), std::string::npos) << other->body;
}

TEST_F(JobRoutesTest, LogFilesAreListedTailedAndFollowedButNothingOutsideTheFolder) {
  std::ofstream(dir_ + "/logs/worker-abc-01000000-77.out") << "w1\nw2\nw3\n";
  std::ofstream(dir_ + "/logs/control.out") << "c1\nc2";
  std::ofstream(dir_ + "/secret") << "no\n";
  fs::create_symlink(dir_ + "/secret", dir_ + "/logs/link.out");
  auto res = Get("/api/v0/logs");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  // Under the node's id: the hex of its 28 bytes of 0x2a.
  std::string node;
  for (int i = 0; i < 28; ++i) node += "2a";
  Json listing = Json::parse(res->body)["data"]["result"][node];
  EXPECT_EQ(listing["worker_out"], Json::array({"worker-abc-01000000-77.out"})) << res->body;
  EXPECT_EQ(listing["control"], Json::array({"control.out"})) << res->body;
  EXPECT_EQ(res->body.find("link.out"), std::string::npos) << res->body;

  EXPECT_EQ(Get("/api/v0/logs/file?filename=worker-abc-01000000-77.out&lines=2")->body, "w2\nw3\n");
  EXPECT_EQ(Get("/api/v0/logs/file?filename=control.out&lines=1")->body, "c2");
  EXPECT_EQ(Get("/api/v0/logs/file?filename=control.out&lines=-1")->body, "c1\nc2");
  for (const char *bad : {"../secret", "%2E%2E%2Fsecret", "link.out", "", ".."}) {
    auto r = Get(std::string("/api/v0/logs/file?filename=") + bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad << ": " << r->body;
  }
  EXPECT_EQ(Get("/api/v0/logs/file?filename=nothing.out")->status, 404);
  // A pattern, or a part of a name.
  Json matched = Json::parse(Get("/api/v0/logs?glob=worker-*.out")->body)["data"]["result"][node];
  EXPECT_EQ(matched, Json({{"worker_out", {"worker-abc-01000000-77.out"}}})) << matched.dump();
  matched = Json::parse(Get("/api/v0/logs?glob=ontro")->body)["data"]["result"][node];
  EXPECT_EQ(matched, Json({{"control", {"control.out"}}})) << matched.dump();
  // Another node's files, from the copy the head keeps of them
  // (control/node_log_store.h), listed under its id and served by it.
  fs::create_directories(dir_ + "/logs/nodes/0b0b");
  std::ofstream(dir_ + "/logs/nodes/0b0b/worker-far.out") << "far\n";
  Json all = Json::parse(Get("/api/v0/logs")->body)["data"]["result"];
  EXPECT_EQ(all["0b0b"]["worker_out"], Json::array({"worker-far.out"})) << all.dump();
  EXPECT_TRUE(all.contains(node));
  EXPECT_EQ(Get("/api/v0/logs/file?filename=worker-far.out&node_id=0B0B")->body, "far\n");
  Json one = Json::parse(Get("/api/v0/logs?node_id=0b0b")->body)["data"]["result"];
  EXPECT_EQ(one.size(), 1u);
  EXPECT_EQ(Get("/api/v0/logs?node_id=" + node)->status, 200);
  EXPECT_EQ(Get("/api/v0/logs?node_id=abcd")->status, 404);
  auto elsewhere = Get("/api/v0/logs/file?filename=control.out&node_id=abcd");
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->status, 404);
  EXPECT_NE(elsewhere->body.find("no log files of node abcd"), std::string::npos) << elsewhere->body;
  EXPECT_EQ(Get("/api/v0/logs/file?filename=worker-far.out&node_id=..%2F..")->status, 400);
  EXPECT_EQ(Get("/api/v0/logs/file?filename=..%2Fcontrol.out&node_id=0b0b")->status, 400);
  EXPECT_EQ(Get("/api/v0/logs/file?filename=control.out&lines=many")->status, 400);

  // Following: the tail, then what is appended.
  std::string streamed;
  bool appended = false;
  auto follow = client_->Get("/api/v0/logs/stream?filename=control.out&lines=1", Auth(),
                             [&](const char *data, size_t n) {
                               streamed.append(data, n);
                               if (!appended && streamed == "c2") {
                                 std::ofstream(dir_ + "/logs/control.out", std::ios::app) << "\nc3\n";
                                 appended = true;
                               }
                               return streamed.find("c3\n") == std::string::npos;  // then hang up
                             });
  EXPECT_EQ(streamed, "c2\nc3\n");
}

TEST_F(JobRoutesTest, OnlyAFewStreamsAreOpenAtOnce) {
  const std::string file = dir_ + "/logs/busy.out";
  std::ofstream(file) << "x\n";
  // One request first, on this thread: cpp-httplib's client parses each
  // response line with a function-local static regex, made by its first
  // use. The library is not built for TSan, which then cannot see that the
  // threads below only read it once made, and reports their reads as a race.
  ASSERT_EQ(Get("/api/v0/logs/file?filename=busy.out")->status, 200);
  std::atomic<int> open{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> followers;
  for (int i = 0; i < kMaxLogStreams; ++i)
    followers.emplace_back([&] {
      httplib::Client client("127.0.0.1", port_);
      bool counted = false;
      client.Get("/api/v0/logs/stream?filename=busy.out", Auth(), [&](const char *, size_t) {
        if (!counted) ++open;
        counted = true;
        return !release.load();  // hang up at the next data once released
      });
    });
  const auto until = std::chrono::steady_clock::now() + kDeadline;
  while (open < kMaxLogStreams && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(open.load(), kMaxLogStreams);
  auto refused = Get("/api/v0/logs/stream?filename=busy.out");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->body.find("log streams are open already"), std::string::npos) << refused->body;
  EXPECT_EQ(Get("/api/v0/logs/file?filename=busy.out")->status, 200);  // the API still answers
  release = true;
  std::ofstream(file, std::ios::app) << "y\n";
  for (std::thread &t : followers) t.join();
  // Their slots come back once the server sees them gone.
  int status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < until) {
    httplib::Client client("127.0.0.1", port_);
    auto res = client.Get(
        "/api/v0/logs/stream?filename=busy.out", Auth(),
        [&](const httplib::Response &r) {
          status = r.status;
          return r.status == 200;
        },
        [](const char *, size_t) { return false; });
  }
  EXPECT_EQ(status, 200);
}

TEST(LogTailTest, LastLinesWithAndWithoutAFinalNewline) {
  char tmpl[] = "/tmp/llt-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/f.log";
  std::string big;
  for (int i = 0; i < 30000; ++i) big += "line " + std::to_string(i) + "\n";  // over one 64 KiB block
  std::ofstream(path) << big;
  auto tail = ReadLogTail(path, 2);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->text, "line 29998\nline 29999\n");
  EXPECT_EQ(tail->end, static_cast<off_t>(big.size()));
  EXPECT_EQ(ReadLogTail(path, -1)->text, big);
  EXPECT_EQ(ReadLogTail(path, 0)->text, "");
  EXPECT_EQ(ReadLogTail(path, 20000)->text, big.substr(big.find("line 10000\n")));
  std::ofstream(path) << "a\nb";
  EXPECT_EQ(ReadLogTail(path, 1)->text, "b");
  EXPECT_EQ(ReadLogTail(path, 5)->text, "a\nb");
  EXPECT_FALSE(ReadLogTail(std::string(tmpl) + "/none", 1).ok());
  fs::remove_all(tmpl);
}

TEST(LogCategoryTest, RaysGroups) {
  EXPECT_EQ(LogCategory("worker-ab-01-7.out"), "worker_out");
  EXPECT_EQ(LogCategory("worker-ab-01-7.err"), "worker_err");
  EXPECT_EQ(LogCategory("worker-7.log"), "core_worker");
  EXPECT_EQ(LogCategory("job-driver-raysubmit_x.log"), "job_driver");
  EXPECT_EQ(LogCategory("node-123.log"), "node");
  EXPECT_EQ(LogCategory("dashboard.out"), "dashboard");
}

}  // namespace
}  // namespace lumen::dashboard
