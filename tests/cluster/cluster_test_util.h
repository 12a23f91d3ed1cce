// Helpers for multi-process tests: each test starts a real local cluster
// (control service, node service, forked workers) in a private temp folder.
#pragma once

#include <gtest/gtest.h>
#include <ray/api.h>

#include <cstdlib>
#include <filesystem>
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
