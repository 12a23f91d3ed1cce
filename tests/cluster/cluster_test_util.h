// Helpers for multi-process tests: each test starts a real local cluster
// (control service, node service, forked workers) in a private temp folder.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <ray/api.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace lumen::testing {

/// Polls `done` every 10 ms until it holds or `deadline` passes (only a hang
/// reaches it): for conditions in other processes that have nothing to block
/// on (a file appearing, a pid going away).
template <class F>
bool PollUntil(F done, std::chrono::milliseconds deadline = std::chrono::milliseconds(60000)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

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
  // A failed test keeps its folder: the services' logs (a sanitizer's report
  // lands in the service's .out file) are what says why. Shutdown removes
  // the session folder, so its logs are copied out first.
  void TearDown() override {
    const bool keep = HasFailure();
    std::error_code ec;
    if (keep && !session_.empty())
      std::filesystem::copy(session_ + "/logs", tmp_ + "/kept-logs", std::filesystem::copy_options::recursive,
                            ec);
    ray::Shutdown();
    if (keep) {
      std::cerr << "[ kept the failed test's folder: " << tmp_ << " ]\n";
      return;
    }
    std::filesystem::remove_all(tmp_, ec);
  }
  std::string tmp_;
  std::string session_;
};

/// What a program run by RunProgram did.
struct ProgramResult {
  int exit_code = -1;  // 128 + signal if killed by one; -1: it did not start, or ran past its deadline
  std::string output;
  /// The number after `key ` on the first output line that starts so; -1 if none.
  int Field(const std::string &key) const {
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);)
      if (line.rfind(key + " ", 0) == 0) return std::atoi(line.c_str() + key.size() + 1);
    return -1;
  }
};

/// Runs `path` with `args` (it inherits the environment, LUMEN_TMPDIR and
/// so the cluster's session included), its stdout, and its stderr too when
/// `with_stderr`, in `out_path`. A program still running at `deadline`
/// (only a hang reaches it) is killed.
inline ProgramResult RunProgram(const std::string &path, std::vector<std::string> args,
                                const std::string &out_path, bool with_stderr,
                                std::chrono::milliseconds deadline) {
  args.insert(args.begin(), path);
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  if (with_stderr) posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ProgramResult result;
  if (rc != 0) {
    result.output = "posix_spawn failed: " + std::string(std::strerror(rc));
    return result;
  }
  int status = 0;
  const auto until = std::chrono::steady_clock::now() + deadline;
  bool exited = false;
  while (!(exited = waitpid(pid, &status, WNOHANG) == pid) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else {
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::ifstream in(out_path);
  result.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return result;
}

}  // namespace lumen::testing
