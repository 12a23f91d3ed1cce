// The dashboard's HTTP API from a cluster test: GETs with the cluster token,
// and waiting for what the state API shows while a driver runs. Separate from
// lumen_cli_test_util.h so that only the tests that call the API link
// cpp-httplib.
#pragma once

#include <httplib.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "lumen_cli_test_util.h"

namespace lumen::testing {

/// GET `path` from the dashboard at `dashboard` ("host:port") with `token`:
/// the body of a 200, or nothing (no reply, or another status).
inline std::optional<std::string> DashboardGet(const std::string &dashboard, const std::string &token,
                                               const std::string &path) {
  const size_t colon = dashboard.rfind(':');
  httplib::Client client(dashboard.substr(0, colon), std::stoi(dashboard.substr(colon + 1)));
  client.set_read_timeout(std::chrono::seconds(120));
  auto res = client.Get(path.c_str(), {{"Authorization", "Bearer " + token}});
  if (!res || res->status != 200) return std::nullopt;
  return res->body;
}

/// Polls `check` until it holds, the driver `*driver_pid` exited (then
/// `*driver_pid` is -1 and `check` has one last try), or `deadline` passed,
/// which only a hang reaches: the state API lags its events by about a second.
/// What `lumen start --head --temp-dir=<temp_dir>` printed (`printed`) and
/// recorded in its session: the cluster address, the token and the
/// dashboard's "host:port"; a field it could not find is empty.
struct StartedHead {
  std::string address, token, dashboard;
};
inline StartedHead ReadStartedHead(const std::string &printed, const std::filesystem::path &temp_dir) {
  StartedHead head;
  std::smatch m;
  if (std::regex_search(printed, m, std::regex("Cluster address: (\\S+)"))) head.address = m[1].str();
  std::error_code ec;
  const std::filesystem::path session = std::filesystem::canonical(temp_dir / "session_latest", ec);
  if (ec) return head;
  head.token = ReadFile(session / "token");
  nlohmann::json record = nlohmann::json::parse(ReadFile(session / "lumen.json"), nullptr, false);
  if (record.is_object()) head.dashboard = record.value("dashboard", "");
  return head;
}

inline bool EventuallyWhileDriverRuns(pid_t *driver_pid, std::chrono::steady_clock::duration deadline,
                                      const std::function<bool()> &check) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (check()) return true;
    if (*driver_pid > 0 && waitpid(*driver_pid, nullptr, WNOHANG) == *driver_pid) {
      *driver_pid = -1;
      return check();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace lumen::testing
