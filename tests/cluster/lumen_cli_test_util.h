// The base of multi-process tests that build clusters of several nodes with
// the built `lumen start` (LUMEN_CLI), each node its own --temp-dir under a
// private folder per test. That folder's LUMEN_TMPDIR keeps the record of
// what the test started apart from other tests; TearDown stops all of it
// (`lumen stop --force`) and removes the folder. No Lumen library: these
// tests talk to the cluster only through programs they run.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace lumen::testing {

inline std::string ReadFile(const std::filesystem::path &path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// Polls `done` until it holds; false once `deadline` passed, which only a
/// real hang reaches (a cluster test waits for a condition, never for a time).
template <class F>
bool PollUntil(F done, std::chrono::milliseconds deadline = std::chrono::seconds(120)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

/// What a program run to its end did.
struct Result {
  int rc = -1;  // 128 + signal if killed by one
  std::string out, err;
};

class CliClusterTest : public ::testing::Test {
 protected:
  /// `prefix`: the test folder's name under /tmp, short (Unix socket paths
  /// hold 107 bytes), e.g. "lob".
  explicit CliClusterTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    std::string tmpl = "/tmp/" + prefix_ + "-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    setenv("LUMEN_TMPDIR", (root_ + "/reg").c_str(), 1);
  }
  void TearDown() override {
    Run(LUMEN_CLI, {"stop", "--force"});
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
    unsetenv("LUMEN_TMPDIR");
  }

  /// Runs a program to its end; output goes to files (daemons it starts must
  /// not hold a pipe of ours open).
  Result Run(const std::string &program, const std::vector<std::string> &args) {
    const std::string out = root_ + "/out." + std::to_string(runs_),
                      err = root_ + "/err." + std::to_string(runs_);
    ++runs_;
    pid_t pid = Spawn(program, args, out, err);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ReadFile(out), ReadFile(err)};
  }

  /// Starts `program` with its stdout and stderr in files, not waiting for it.
  static pid_t Spawn(const std::string &program, const std::vector<std::string> &args, const std::string &out,
                     const std::string &err) {
    pid_t pid = fork();
    if (pid == 0) {
      int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<char *> argv{const_cast<char *>(program.c_str())};
      for (const std::string &a : args) argv.push_back(const_cast<char *>(a.c_str()));
      argv.push_back(nullptr);
      execv(program.c_str(), argv.data());
      _exit(127);
    }
    return pid;
  }

  std::string root_;

 private:
  const std::string prefix_;
  int runs_ = 0;
};

/// Whether a line of `promtool check metrics` is a lint complaint about a
/// name Lumen keeps because it is Ray's (Ray's Grafana dashboards query
/// them): CamelCase labels (SessionName, State, ...), the units in
/// ray_component_rss_mb / _uss_mb, and the suffixes of ray_node_cpu_count,
/// ray_node_disk_io_read_count, ray_node_disk_io_write_count and
/// ray_node_mem_total. Anything else promtool says is a real problem.
inline bool IsLintOfRaysOwnNames(const std::string &line) {
  return line.find("label names should be written in 'snake_case'") != std::string::npos ||
         line.rfind("ray_component_rss_mb metric names should not contain abbreviated units", 0) == 0 ||
         line.rfind("ray_component_uss_mb metric names should not contain abbreviated units", 0) == 0 ||
         line.rfind(
             "ray_node_cpu_count non-histogram and non-summary metrics should not have \"_count\" suffix",
             0) == 0 ||
         line.rfind("ray_node_mem_total non-counter metrics should not have \"_total\" suffix", 0) == 0 ||
         line.rfind(
             "ray_node_disk_io_read_count non-histogram and non-summary metrics should not have "
             "\"_count\" suffix",
             0) == 0 ||
         line.rfind(
             "ray_node_disk_io_write_count non-histogram and non-summary metrics should not have "
             "\"_count\" suffix",
             0) == 0;
}

}  // namespace lumen::testing
