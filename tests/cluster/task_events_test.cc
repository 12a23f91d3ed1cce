// Task events and the state API's tasks, workers and objects, with real
// processes: a head started with the built `lumen start` (its dashboard on a
// free port), a driver (events_driver) that runs tasks, one that throws, an
// actor with two calls, and keeps a 2 MiB object. Then, while the driver
// still runs: /api/v0/tasks shows each task FINISHED or FAILED with the
// exception's text, `lumen list tasks --filter state=FAILED` the failed one,
// `lumen summary tasks` the counts, /api/v0/workers the driver and the
// workers with their pids, /api/v0/objects the object. Events arrive about
// a second after the fact: each check polls until it holds, with a deadline
// only a hang reaches.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "dashboard_api_util.h"
#include "lumen_cli_test_util.h"

namespace {
namespace fs = std::filesystem;
using lumen::testing::ReadFile;
using lumen::testing::Result;
using Json = nlohmann::json;

// Only a real hang reaches it.
constexpr auto kDeadline = std::chrono::seconds(90);

class TaskEventsTest : public lumen::testing::CliClusterTest {
 protected:
  TaskEventsTest() : CliClusterTest("lte") {}

  void TearDown() override {
    if (driver_pid_ > 0) {
      kill(driver_pid_, SIGKILL);
      waitpid(driver_pid_, nullptr, 0);
    }
    CliClusterTest::TearDown();
  }

  // Starts the driver without waiting for it; its output goes to files.
  void StartDriver(const std::vector<std::string> &args) {
    driver_out_ = root_ + "/driver.out";
    driver_err_ = root_ + "/driver.err";
    driver_pid_ = fork();
    if (driver_pid_ == 0) {
      int o = open(driver_out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int e = open(driver_err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<char *> argv{const_cast<char *>(LUMEN_EVENTS_DRIVER)};
      for (const std::string &a : args) argv.push_back(const_cast<char *>(a.c_str()));
      argv.push_back(nullptr);
      execv(LUMEN_EVENTS_DRIVER, argv.data());
      _exit(127);
    }
  }

  // Polls `check` until it holds or the driver exited or the deadline passed.
  bool Eventually(const std::function<bool()> &check) {
    return lumen::testing::EventuallyWhileDriverRuns(&driver_pid_, kDeadline, check);
  }

  Json Api(const std::string &path) {
    auto body = lumen::testing::DashboardGet(dashboard_, token_, path);
    if (!body) return Json();
    return Json::parse(*body, nullptr, false)["data"]["result"];
  }

  std::string dashboard_, token_;
  pid_t driver_pid_ = -1;
  std::string driver_out_, driver_err_;
};

std::vector<Json> Rows(const Json &result, const std::string &key, const std::string &value) {
  std::vector<Json> out;
  if (!result.is_object() || !result.contains("result")) return out;
  for (const Json &row : result["result"])
    if (row.contains(key) && row[key].is_string() && row[key] == value) out.push_back(row);
  return out;
}

TEST_F(TaskEventsTest, TasksWorkersAndObjectsOfARunningDriverAreListed) {
  Result started = Run(LUMEN_CLI, {"start", "--head", "--port=0", "--num-cpus=2", "--dashboard-port=0",
                                   "--object-store-memory=100000000", "--temp-dir=" + root_ + "/head"});
  ASSERT_EQ(started.rc, 0) << started.err;
  const lumen::testing::StartedHead head =
      lumen::testing::ReadStartedHead(started.out, fs::path(root_) / "head");
  ASSERT_FALSE(head.address.empty()) << started.out;
  ASSERT_FALSE(head.dashboard.empty());
  const std::string address = head.address;
  token_ = head.token;
  dashboard_ = head.dashboard;

  const std::string release = root_ + "/release";
  StartDriver({address, release});
  ASSERT_TRUE(Eventually([&] { return ReadFile(driver_out_).find("READY 3") != std::string::npos; }))
      << ReadFile(driver_out_) << ReadFile(driver_err_);

  // Every task has ended, as its events say (they lag by about a second),
  // and both sides of each have reported: the executor's batch (where it
  // ran, its end) and the submitter's (when it was created) arrive in
  // either order.
  Json tasks;
  auto all_ended = [&] {
    tasks = Api("/api/v0/tasks?detail=1");
    auto failed = Rows(tasks, "state", "FAILED");
    auto creation = Rows(tasks, "type", "ACTOR_CREATION_TASK");
    auto squares = Rows(tasks, "func_or_class_name", "Square");
    const bool submitted = std::all_of(squares.begin(), squares.end(),
                                       [](const Json &t) { return !t["creation_time_ms"].is_null(); });
    // The actor's worker says where it ran (its pid) in its own batch.
    return squares.size() == 5 && submitted && Rows(tasks, "state", "FINISHED").size() == 8 &&
           failed.size() == 1 && creation.size() == 1 && !creation[0]["worker_pid"].is_null();
  };
  ASSERT_TRUE(Eventually(all_ended)) << tasks.dump(1);
  const Json boom = Rows(tasks, "state", "FAILED")[0];
  EXPECT_EQ(boom["func_or_class_name"], "Boom");
  EXPECT_EQ(boom["type"], "NORMAL_TASK");
  EXPECT_EQ(boom["error_type"], "TASK_EXECUTION_EXCEPTION");
  EXPECT_NE(boom["error_message"].get<std::string>().find("boom: 7 is not allowed"), std::string::npos)
      << boom.dump(1);
  for (const Json &t : Rows(tasks, "func_or_class_name", "Square")) {
    EXPECT_EQ(t["state"], "FINISHED");
    EXPECT_FALSE(t["node_id"].is_null()) << t.dump(1);
    EXPECT_FALSE(t["worker_id"].is_null()) << t.dump(1);
    EXPECT_FALSE(t["creation_time_ms"].is_null()) << t.dump(1);
  }
  EXPECT_EQ(Rows(tasks, "type", "ACTOR_CREATION_TASK").size(), 1u) << tasks.dump(1);
  EXPECT_EQ(Rows(tasks, "type", "ACTOR_TASK").size(), 2u) << tasks.dump(1);

  // The CLI on the same API: the failed one, one task, the counts.
  Result failed = Run(LUMEN_CLI, {"list", "tasks", "--address=" + address, "--filter", "state=FAILED"});
  EXPECT_EQ(failed.rc, 0) << failed.err;
  EXPECT_NE(failed.out.find("Boom"), std::string::npos) << failed.out;
  EXPECT_EQ(failed.out.find("Square"), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find("Total: 1"), std::string::npos) << failed.out;
  Result got = Run(LUMEN_CLI, {"get", "tasks", boom["task_id"].get<std::string>(), "--address=" + address,
                               "--format", "json"});
  EXPECT_EQ(got.rc, 0) << got.err;
  EXPECT_NE(got.out.find("boom: 7 is not allowed"), std::string::npos) << got.out;
  Result summary = Run(LUMEN_CLI, {"summary", "tasks", "--address=" + address});
  EXPECT_EQ(summary.rc, 0) << summary.err;
  EXPECT_NE(summary.out.find("total_tasks: 9"), std::string::npos) << summary.out;
  EXPECT_TRUE(std::regex_search(summary.out, std::regex("Square\\s+FINISHED: 5\\s+NORMAL_TASK")))
      << summary.out;
  EXPECT_TRUE(std::regex_search(summary.out, std::regex("Boom\\s+FAILED: 1\\s+NORMAL_TASK"))) << summary.out;
  Json counts = Api("/api/v0/tasks/summarize")["result"]["node_id_to_summary"]["cluster"];
  EXPECT_EQ(counts["summary"]["Square"]["state_counts"]["FINISHED"], 5) << counts.dump(1);
  EXPECT_EQ(counts["total_actor_tasks"], 2) << counts.dump(1);
  EXPECT_EQ(counts["total_actor_scheduled"], 1) << counts.dump(1);

  // The driver and the workers that ran the tasks, with their pids.
  Json workers = Api("/api/v0/workers");
  auto drivers = Rows(workers, "worker_type", "DRIVER");
  ASSERT_EQ(drivers.size(), 1u) << workers.dump(1);
  EXPECT_EQ(drivers[0]["pid"], driver_pid_);
  EXPECT_EQ(drivers[0]["is_alive"], true);
  auto task_workers = Rows(workers, "worker_type", "WORKER");
  ASSERT_FALSE(task_workers.empty()) << workers.dump(1);
  for (const Json &w : task_workers)
    if (w["is_alive"] == true) {
      EXPECT_GT(w["pid"].get<int>(), 0) << w.dump(1);
    }
  // The actor's worker (alive while its driver is) is listed with the pid
  // and worker id its creation task reported.
  const Json creation = Rows(tasks, "type", "ACTOR_CREATION_TASK")[0];
  bool listed = false;
  for (const Json &w : task_workers)
    listed |= w["worker_id"] == creation["worker_id"] && w["pid"] == creation["worker_pid"] &&
              w["is_alive"] == true;
  EXPECT_TRUE(listed) << creation.dump(1) << workers.dump(1);
  Result cli_workers = Run(LUMEN_CLI, {"list", "workers", "--address=" + address, "--format", "json"});
  EXPECT_EQ(cli_workers.rc, 0) << cli_workers.err;
  EXPECT_NE(cli_workers.out.find("\"pid\": " + std::to_string(driver_pid_)), std::string::npos)
      << cli_workers.out;

  // The 2 MiB object, in the node's store.
  Json objects = Api("/api/v0/objects?detail=1");
  bool big = false;
  if (objects.is_object())
    for (const Json &o : objects["result"]) big |= o["object_size"].get<uint64_t>() >= (2u << 20);
  EXPECT_TRUE(big) << objects.dump(1);

  // The metric: tasks by state and name.
  const size_t colon = dashboard_.rfind(':');
  httplib::Client client(dashboard_.substr(0, colon), std::stoi(dashboard_.substr(colon + 1)));
  auto metrics = client.Get("/metrics", {{"Authorization", "Bearer " + token_}});
  ASSERT_TRUE(metrics);
  EXPECT_TRUE(std::regex_search(metrics->body,
                                std::regex("ray_tasks\\{[^}]*Name=\"Square\",State=\"FINISHED\"\\} 5")))
      << metrics->body;

  std::ofstream(release).close();
  int status = 0;
  ASSERT_EQ(waitpid(driver_pid_, &status, 0), driver_pid_);
  driver_pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(driver_err_);
}

TEST_F(TaskEventsTest, BadFiltersAreAOneLineErrorOfTheCli) {
  Result started = Run(LUMEN_CLI, {"start", "--head", "--port=0", "--num-cpus=1", "--dashboard-port=0",
                                   "--object-store-memory=100000000", "--temp-dir=" + root_ + "/head"});
  ASSERT_EQ(started.rc, 0) << started.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(started.out, m, std::regex("Cluster address: (\\S+)"))) << started.out;
  const std::string address = m[1].str();
  Result bad = Run(LUMEN_CLI, {"list", "tasks", "--address=" + address, "--filter", "colour=red"});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("colour"), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  Result summary = Run(LUMEN_CLI, {"summary", "actors", "--address=" + address});
  EXPECT_EQ(summary.rc, 2) << summary.err;
  Result empty = Run(LUMEN_CLI, {"summary", "tasks", "--address=" + address});
  EXPECT_EQ(empty.rc, 0) << empty.err;
  EXPECT_NE(empty.out.find("total_tasks: 0"), std::string::npos) << empty.out;
}

}  // namespace
