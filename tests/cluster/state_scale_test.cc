// The state API with 100,000 tasks recorded (issue 18), against real
// processes: a head started with the built `lumen start` (12 logical CPUs, so
// that 10 tasks can hold at once), and a driver (many_tasks_driver) that runs
// 100,000 tasks to the end and then leaves 10 running. The control service
// keeps 100,000 attempts per job by default, so the 10 oldest of the 100,010
// are dropped and counted. Then: the 10 running ones are found by a filter
// (before the limit: Ray's truncation loses them), pages of 10,000 walk every
// kept attempt exactly once, the summary counts them, `lumen list tasks`
// agrees, and the control service's table and memory stay within the bound.
// Response times are bench/state_api_latency's business, not this test's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
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

constexpr int kTasks = 100000;
constexpr int kRunning = 10;
// Only a real hang reaches it (100,000 tasks on 2 busy cores, sanitizers).
constexpr auto kDeadline = std::chrono::minutes(15);

class StateScaleTest : public lumen::testing::CliClusterTest {
 protected:
  StateScaleTest() : CliClusterTest("lss") {}

  void SetUp() override {
    CliClusterTest::SetUp();
    // Big enough buffers that no process drops an event: the counts below
    // are then exact (the bound's drops only).
    setenv("LUMEN_TASK_EVENTS_BUFFER", "1000000", 1);
  }
  void TearDown() override {
    if (driver_pid_ > 0) {
      kill(driver_pid_, SIGKILL);
      waitpid(driver_pid_, nullptr, 0);
    }
    unsetenv("LUMEN_TASK_EVENTS_BUFFER");
    CliClusterTest::TearDown();
  }

  bool Eventually(const std::function<bool()> &check) {
    return lumen::testing::EventuallyWhileDriverRuns(&driver_pid_, kDeadline, check);
  }

  // The reply's data.result (null on any failure).
  Json Api(const std::string &path) {
    auto body = lumen::testing::DashboardGet(dashboard_, token_, path);
    if (!body) return Json();
    return Json::parse(*body, nullptr, false)["data"]["result"];
  }

  std::string Metrics() { return lumen::testing::DashboardGet(dashboard_, token_, "/metrics").value_or(""); }

  std::string dashboard_, token_;
  pid_t driver_pid_ = -1;
};

TEST_F(StateScaleTest, AHundredThousandTasksPageFilterAndStayWithinTheBound) {
  Result started = Run(LUMEN_CLI, {"start", "--head", "--port=0", "--num-cpus=12", "--dashboard-port=0",
                                   "--object-store-memory=100000000", "--temp-dir=" + root_ + "/head"});
  ASSERT_EQ(started.rc, 0) << started.err;
  const lumen::testing::StartedHead head =
      lumen::testing::ReadStartedHead(started.out, fs::path(root_) / "head");
  ASSERT_FALSE(head.address.empty()) << started.out;
  ASSERT_FALSE(head.dashboard.empty());
  const std::string address = head.address;
  token_ = head.token;
  dashboard_ = head.dashboard;

  const std::string out = root_ + "/driver.out", err = root_ + "/driver.err", release = root_ + "/release";
  driver_pid_ = Spawn(LUMEN_MANY_TASKS_DRIVER,
                      {address, std::to_string(kTasks), std::to_string(kRunning), release}, out, err);
  ASSERT_TRUE(Eventually([&] { return ReadFile(out).find("READY") != std::string::npos; }))
      << ReadFile(out) << ReadFile(err);

  // Every attempt's events have arrived: the bound's count is reached, and
  // the 10 Hold tasks are RUNNING.
  Json summary;
  ASSERT_TRUE(Eventually([&] {
    summary = Api("/api/v0/tasks/summarize");
    if (!summary.is_object()) return false;
    const Json &cluster = summary["result"]["node_id_to_summary"]["cluster"];
    return summary.value("total", 0) == kTasks && cluster["summary"].contains("Hold") &&
           cluster["summary"]["Hold"]["state_counts"].value("RUNNING", 0) == kRunning &&
           cluster["summary"]["Noop"]["state_counts"].value("FINISHED", 0) == kTasks - kRunning;
  })) << summary.dump(1);
  // 100,010 attempts in one job, 100,000 kept: the 10 oldest went, counted.
  EXPECT_EQ(summary["num_dropped"], kRunning);
  EXPECT_TRUE(summary["warnings"].is_array()) << summary.dump(1);

  // The running ones, found among 100,000 by a filter before the limit.
  Json running = Api("/api/v0/tasks?filter_keys=state&filter_predicates=%3D&filter_values=RUNNING&limit=100");
  ASSERT_TRUE(running.is_object());
  EXPECT_EQ(running["total"], kTasks);
  EXPECT_EQ(running["num_filtered"], kRunning);
  ASSERT_EQ(running["result"].size(), static_cast<size_t>(kRunning));
  for (const Json &t : running["result"]) EXPECT_EQ(t["func_or_class_name"], "Hold");
  // With a limit smaller than the match, the rest are still counted.
  Json two = Api("/api/v0/tasks?filter_keys=state&filter_predicates=%3D&filter_values=RUNNING&limit=2");
  ASSERT_TRUE(two.is_object());
  EXPECT_EQ(two["num_filtered"], kRunning);
  EXPECT_EQ(two["result"].size(), 2u);

  // Pages of 10,000 walk every kept attempt once, in order.
  std::vector<std::string> walked;
  for (int offset = 0; offset < kTasks; offset += 10000) {
    Json page = Api("/api/v0/tasks?limit=10000&offset=" + std::to_string(offset));
    ASSERT_TRUE(page.is_object()) << offset;
    EXPECT_EQ(page["num_filtered"], kTasks);
    ASSERT_EQ(page["result"].size(), 10000u) << offset;
    for (const Json &t : page["result"]) walked.push_back(t["task_id"].get<std::string>());
  }
  EXPECT_EQ(std::set<std::string>(walked.begin(), walked.end()).size(), static_cast<size_t>(kTasks));
  Json past = Api("/api/v0/tasks?limit=100&offset=" + std::to_string(kTasks));
  ASSERT_TRUE(past.is_object());
  EXPECT_EQ(past["result"].size(), 0u);
  // A page of 100 at the end is the walk's last 100, in the same order (the
  // order of arrival at the control service: the newest last).
  Json last = Api("/api/v0/tasks?limit=100&offset=" + std::to_string(kTasks - 100));
  ASSERT_TRUE(last.is_object());
  ASSERT_EQ(last["result"].size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(last["result"][i]["task_id"], walked[kTasks - 100 + i]) << i;

  // The CLI on the same API.
  Result cli = Run(LUMEN_CLI, {"list", "tasks", "--address=" + address, "--filter", "state=RUNNING",
                               "--format", "json", "--limit", "100"});
  ASSERT_EQ(cli.rc, 0) << cli.err;
  Json listed = Json::parse(cli.out, nullptr, false);
  ASSERT_TRUE(listed.is_array()) << cli.out;
  EXPECT_EQ(listed.size(), static_cast<size_t>(kRunning));
  EXPECT_NE(cli.err.find("task attempts are not shown"), std::string::npos) << cli.err;

  // The control service's memory stays within its bound: its table holds
  // the bound's 100,000 attempts (above), and its process stays small.
  const std::string metrics = Metrics();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(metrics, m,
                                std::regex("ray_component_rss_mb\\{[^}]*Component=\"gcs\"[^}]*\\} (\\S+)")))
      << metrics.substr(0, 2000);
  const double rss_mb = std::stod(m[1].str());
  std::cout << "  control service RSS with 100,000 attempts: " << rss_mb << " MB\n";
  EXPECT_LT(rss_mb, 512);

  std::ofstream(release).put('x');
  int status = 0;
  ASSERT_EQ(waitpid(driver_pid_, &status, 0), driver_pid_);
  driver_pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(err);
  EXPECT_NE(ReadFile(out).find("RELEASED 10"), std::string::npos) << ReadFile(out);
}

}  // namespace
