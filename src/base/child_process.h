// Child processes: waiting for one to end, with a deadline, and where a
// worker process's output goes.
//
// Threading: any thread; ReapWithin reaps only the pid it is given.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

namespace lumen {

/// Waits up to `limit` for the child `pid` to exit, and reaps it. True once
/// it is gone (also when it was reaped already). Polls from 50 us, doubling up
/// to 5 ms: services and fork servers end within about a millisecond of being
/// asked, and polling every 10 ms made each ray::Shutdown take ~25 ms.
inline bool ReapWithin(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  std::chrono::microseconds pause(50);
  for (;;) {
    pid_t r = waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, until - now));
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
}

/// Where worker `pid` of the session writes its output, without the
/// ".out" / ".err" ending: the node tails these files to the driver.
inline std::string WorkerLogPrefix(const std::string &session_dir, pid_t pid) {
  return session_dir + "/logs/worker-" + std::to_string(pid);
}

/// In a freshly forked worker: its stdout and stderr go to its log files
/// (WorkerLogPrefix). A file that cannot be opened leaves that stream as it was.
inline void RedirectOutputToWorkerLogs(const std::string &session_dir) {
  const std::string logs = WorkerLogPrefix(session_dir, getpid());
  int out = open((logs + ".out").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err = open((logs + ".err").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out >= 0) dup2(out, STDOUT_FILENO);
  if (err >= 0) dup2(err, STDERR_FILENO);
}

}  // namespace lumen
