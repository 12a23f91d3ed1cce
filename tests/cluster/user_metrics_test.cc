// User metrics and per-process metrics on the head's /metrics, with real
// processes: a head started with the built `lumen start` (its dashboard on a
// free port), a driver (metrics_driver) that records a Counter, a Gauge and a
// Histogram itself and in a task. /metrics, with the cluster token, shows the
// driver's and the worker's values added up under Ray's names and labels, the
// node's processes under ray_component_*, and parses with promtool. After the driver's Shutdown (its
// processes gone) the counter keeps its total. Values arrive about a second after they are recorded: each
// check polls until it holds, with a deadline only a hang reaches.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lumen_cli_test_util.h"

namespace {
namespace fs = std::filesystem;
using lumen::testing::PollUntil;
using lumen::testing::ReadFile;
using lumen::testing::Result;

class UserMetricsTest : public lumen::testing::CliClusterTest {
 protected:
  UserMetricsTest() : CliClusterTest("lum") {}

  void TearDown() override {
    if (driver_pid_ > 0) {
      kill(driver_pid_, SIGKILL);
      waitpid(driver_pid_, nullptr, 0);
    }
    CliClusterTest::TearDown();
  }

  // /metrics with `token` (none: without credentials); the status and body.
  std::pair<int, std::string> Scrape(const std::string &token) {
    const size_t colon = dashboard_.rfind(':');
    httplib::Client client(dashboard_.substr(0, colon), std::stoi(dashboard_.substr(colon + 1)));
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    auto res = client.Get("/metrics", headers);
    if (!res) return {0, ""};
    return {res->status, res->body};
  }

  std::string dashboard_, token_;
  pid_t driver_pid_ = -1;
};

bool Matches(const std::string &text, const std::string &pattern) {
  return std::regex_search(text, std::regex(pattern));
}

TEST_F(UserMetricsTest, DriverAndTaskValuesAddUpOnTheHeadsMetrics) {
  Result started = Run(LUMEN_CLI, {"start", "--head", "--port=0", "--num-cpus=1", "--dashboard-port=0",
                                   "--object-store-memory=100000000", "--temp-dir=" + root_ + "/head"});
  ASSERT_EQ(started.rc, 0) << started.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(started.out, m, std::regex("Cluster address: (\\S+)"))) << started.out;
  const std::string address = m[1].str();
  const fs::path session = fs::canonical(fs::path(root_) / "head" / "session_latest");
  token_ = ReadFile(session / "token");
  auto record = nlohmann::json::parse(ReadFile(session / "lumen.json"), nullptr, false);
  ASSERT_TRUE(record.is_object());
  dashboard_ = record.value("dashboard", "");
  ASSERT_FALSE(dashboard_.empty());

  // Without the token: refused, user metrics or not.
  EXPECT_EQ(Scrape("").first, 401);

  const std::string release = root_ + "/release";
  const std::string out = root_ + "/driver.out", err = root_ + "/driver.err";
  driver_pid_ = Spawn(LUMEN_METRICS_DRIVER, {address, release}, out, err);
  ASSERT_TRUE(PollUntil([&] {
    if (ReadFile(out).find("READY 2") != std::string::npos) return true;
    if (waitpid(driver_pid_, nullptr, WNOHANG) != driver_pid_) return false;
    driver_pid_ = -1;  // it ended early: the assertion below says how
    return true;
  }));
  ASSERT_NE(ReadFile(out).find("READY 2"), std::string::npos) << ReadFile(out) << ReadFile(err);

  const std::string counter =
      "\nray_lumen_test_requests_total\\{SessionName=\"[^\"]+\",Component=\"core_worker\","
      "JobId=\"[0-9a-f]{8}\",NodeId=\"[0-9a-f]+\",route=\"/a\"\\} 5\n";
  const std::string labels =
      "\\{SessionName=\"[^\"]+\",Component=\"core_worker\",JobId=\"[0-9a-f]{8}\","
      "NodeId=\"[0-9a-f]+\"";
  std::string text;
  auto all_there = [&] {
    auto [status, body] = Scrape(token_);
    text = body;
    return status == 200 && Matches(text, counter) &&
           Matches(text, "\nray_lumen_test_latency_count" + labels + "\\} 3\n") &&
           Matches(text, "\nray_lumen_test_depth" + labels + ",queue=\"q1\"\\} 7\n");
  };
  ASSERT_TRUE(PollUntil(all_there)) << text << ReadFile(err);
  EXPECT_TRUE(Matches(text,
                      "# HELP ray_lumen_test_requests_total Requests served in the test\n"
                      "# TYPE ray_lumen_test_requests_total counter\n"))
      << text;
  EXPECT_TRUE(Matches(text, "# TYPE ray_lumen_test_depth gauge\n")) << text;
  EXPECT_TRUE(Matches(text, "# TYPE ray_lumen_test_latency histogram\n")) << text;
  // 0.5, 5 (the driver), 50 (the task): cumulative buckets.
  EXPECT_TRUE(Matches(text, "\nray_lumen_test_latency_bucket" + labels + ",le=\"1\"\\} 1\n")) << text;
  EXPECT_TRUE(Matches(text, "\nray_lumen_test_latency_bucket" + labels + ",le=\"10\"\\} 2\n")) << text;
  EXPECT_TRUE(Matches(text, "\nray_lumen_test_latency_bucket" + labels + ",le=\"100\"\\} 3\n")) << text;
  EXPECT_TRUE(Matches(text, "\nray_lumen_test_latency_bucket" + labels + ",le=\"\\+Inf\"\\} 3\n")) << text;
  EXPECT_TRUE(Matches(text, "\nray_lumen_test_latency_sum" + labels + "\\} 55.5\n")) << text;

  // The processes: the node service, the driver and the worker on the node,
  // the control service and the dashboard on the head.
  for (const char *component : {"raylet", "driver", "core_worker"})
    EXPECT_TRUE(Matches(text, std::string("\nray_component_rss_mb\\{[^}]*Component=\"") + component +
                                  "\",NodeId=\"[0-9a-f]+\"[^}]*\\} [0-9.e+]+\n"))
        << component << "\n"
        << text;
  for (const char *component : {"gcs", "dashboard"})
    EXPECT_TRUE(Matches(text, std::string("\nray_component_cpu_percentage\\{[^}]*Component=\"") + component +
                                  "\"\\} [0-9.e+-]+\n"))
        << component << "\n"
        << text;
  EXPECT_TRUE(Matches(text, "\nray_component_uss_mb\\{[^}]*Component=\"raylet\"")) << text;
  EXPECT_TRUE(Matches(text, "\nray_component_mem_shared_bytes\\{[^}]*Component=\"raylet\"")) << text;

  // Prometheus' own parser and linter: it must parse (exit 1 is a parse
  // error); its only complaints may be Ray's CamelCase label names and the
  // units in Ray's names ray_component_rss_mb and _uss_mb (exit 3).
  ASSERT_EQ(access("/usr/bin/promtool", X_OK), 0)
      << "promtool is missing: scripts/install-deps.sh installs it (Debian's prometheus)";
  const std::string file = root_ + "/metrics.txt";
  std::ofstream(file) << text;
  Result check = Run("/bin/sh", {"-c", "/usr/bin/promtool check metrics < " + file + " 2>&1"});
  EXPECT_TRUE(check.rc == 0 || check.rc == 3) << check.out;
  std::istringstream lines(check.out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(lumen::testing::IsLintOfRaysOwnNames(line)) << line;

  // The driver shuts down (its job ends, its worker goes): its counters keep
  // their totals rather than vanish or drop.
  std::ofstream(release).close();
  int status = 0;
  ASSERT_EQ(waitpid(driver_pid_, &status, 0), driver_pid_);
  driver_pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(err);
  auto [after_status, after] = Scrape(token_);
  ASSERT_EQ(after_status, 200);
  EXPECT_TRUE(Matches(after, counter)) << after;
}

}  // namespace
