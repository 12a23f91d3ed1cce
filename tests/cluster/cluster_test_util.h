// Helpers for multi-process tests: each test starts a real local cluster
// (control service, node service, forked workers) in a private temp folder.
#pragma once

#include <gtest/gtest.h>
#include <ray/api.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lumen::testing {

/// A fresh LUMEN_TMPDIR per test, so sessions never collide.
inline std::string FreshTmpDir() {
  static int n = 0;
  auto dir = std::filesystem::temp_directory_path() /
             ("lumen-test-" + std::to_string(getpid()) + "-" + std::to_string(n++));
  std::filesystem::create_directories(dir);
  setenv("LUMEN_TMPDIR", dir.c_str(), 1);
  return dir.string();
}

inline std::string SessionDir(const std::string &tmp) {
  return std::filesystem::canonical(std::filesystem::path(tmp) / "session_latest").string();
}

/// The pids of a session's services ("control", "node"), from the names of
/// their log files (forked services carry the driver's command line).
inline std::map<std::string, int> ServicePids(const std::string &session) {
  std::map<std::string, int> pids;
  for (auto &entry : std::filesystem::directory_iterator(session + "/logs")) {
    std::string name = entry.path().filename().string();
    for (const char *service : {"control", "node"}) {
      std::string prefix = std::string(service) + "-";
      if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size() + 4 &&
          name.compare(name.size() - 4, 4, ".log") == 0)
        pids[service] = std::stoi(name.substr(prefix.size()));
    }
  }
  return pids;
}

class ClusterTest : public ::testing::Test {
 protected:
  void StartCluster(std::vector<std::string> head_args = {"--num-cpus=2"}) {
    tmp_ = FreshTmpDir();
    ray::RayConfig config;
    config.head_args = std::move(head_args);
    ray::Init(config);
    session_ = SessionDir(tmp_);
  }
  void TearDown() override {
    ray::Shutdown();
    std::error_code ec;
    std::filesystem::remove_all(tmp_, ec);
  }
  std::string tmp_;
  std::string session_;
};

}  // namespace lumen::testing
