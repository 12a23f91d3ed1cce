// Running a Lumen service (control, node) as the body of a process: blocks
// SIGTERM/SIGINT before any thread starts and turns them into a clean stop.
// Used by the service programs and by ray::Init, which forks the services of
// an embedded cluster instead of executing the programs.
//
// Threading: BlockTerminationSignals must run before the process starts any
// thread; StopOnTerminationSignal starts one thread that waits for them.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <functional>
#include <thread>

namespace lumen {

/// Blocks SIGTERM and SIGINT in every thread started after this call.
inline sigset_t BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

/// Runs `stop` on a thread of its own once one of `set` arrives.
inline void StopOnTerminationSignal(sigset_t set, std::function<void()> stop) {
  std::thread([set, stop = std::move(stop)] {
    int sig;
    sigwait(&set, &sig);
    stop();
  }).detach();
}

}  // namespace lumen
