// The node service as the body of a process (lumen_node, or a process
// ray::Init forks for an embedded cluster).
//
// Threading: call from a process's only thread; returns when the service has
// stopped (SIGTERM/SIGINT, the control service gone, a shutdown request). The
// caller ends the process right after.
#pragma once

#include <map>
#include <string>

namespace lumen::scheduler {

struct NodeProcessOptions {
  std::string session_dir;
  std::string control_address;
  int control_wait_ms = 0;  // keep trying the control service this long
  std::string unix_path;
  std::map<std::string, double> resources;  // "GPU" here: that many virtual devices
  long long store_bytes = 1ll << 30;
  long long prefault_bytes = -1;  // -1: min(store, 256 MiB)
  int num_gpus = -1;              // -1: detect
  std::string worker_program;
  std::string ready_file;  // written with the pid once serving
  int ready_fd = -1;       // if set, also gets a byte then, and is closed
  std::string token;
  /// The node's address: its TCP listener is bound there, and with
  /// `worker_tcp` its drivers' and workers' too (NodeServiceOptions).
  std::string node_ip = "127.0.0.1";
  bool worker_tcp = false;
  bool for_driver = false;  // NodeServiceOptions::for_driver
};

/// Returns the process's exit status (0 after a clean stop).
int RunNodeProcess(NodeProcessOptions options);

}  // namespace lumen::scheduler
