// Start-up shared by the service programs (lumen_control, lumen_node): the
// cluster token from the environment, and a clean stop on SIGTERM/SIGINT.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <thread>

namespace lumen::apps {

/// The cluster token the parent put in LUMEN_CLUSTER_TOKEN, or null (after
/// saying so on stderr) when there is none.
inline const char *ClusterTokenOrComplain(const char *program) {
  const char *token = std::getenv("LUMEN_CLUSTER_TOKEN");
  if (token && *token) return token;
  std::cerr << program << ": LUMEN_CLUSTER_TOKEN is not set\n";
  return nullptr;
}

/// Blocks SIGTERM and SIGINT in every thread started after this call; call it
/// before starting any. StopOnTerminationSignal then turns them into `stop`.
inline sigset_t BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

inline void StopOnTerminationSignal(sigset_t set, std::function<void()> stop) {
  std::thread([set, stop = std::move(stop)] {
    int sig;
    sigwait(&set, &sig);
    stop();
  }).detach();
}

}  // namespace lumen::apps
