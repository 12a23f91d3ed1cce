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

/// Runs `stop` on a thread of its own once one of `set` arrives. End the
/// thread with EndSignalThread before destroying what `stop` uses.
inline std::thread StopOnTerminationSignal(sigset_t set, std::function<void()> stop) {
  return std::thread([set, stop = std::move(stop)] {
    int sig;
    sigwait(&set, &sig);
    stop();
  });
}

/// Wakes the signal thread (which then calls its `stop` once more: stops
/// must be idempotent) and joins it.
inline void EndSignalThread(std::thread &thread) {
  pthread_kill(thread.native_handle(), SIGTERM);  // a no-op if it has returned
  thread.join();
}

/// Serves until `service` shuts down or a termination signal stops it, then
/// stops it for good and ends the signal thread. `Service` has
/// WaitForShutdown() and an idempotent Stop().
template <typename Service>
void ServeUntilStopped(sigset_t signals, Service &service) {
  std::thread on_signal = StopOnTerminationSignal(signals, [&service] { service.Stop(); });
  service.WaitForShutdown();
  service.Stop();
  EndSignalThread(on_signal);
}

}  // namespace lumen
