// Waiting for a child process to end, with a deadline.
//
// Threading: any thread; reaps only the pid it is given.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
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

}  // namespace lumen
