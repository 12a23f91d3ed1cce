// The dashboard as the body of a process (the lumen_dashboard program, which
// `lumen start --head` starts beside the head's services): serves until
// SIGTERM/SIGINT, reading the cluster's tables from the control service.
//
// Threading: call from main before any thread starts (it blocks the
// termination signals first).
#pragma once

#include <string>

namespace lumen::dashboard {

struct DashboardProcessOptions {
  std::string session_dir;      // the head's session folder (logs go to its logs/)
  std::string control_address;  // "unix:/path" or "tcp:host:port"
  std::string cluster_address;  // "host:port" for drivers (submitted jobs' RAY_ADDRESS)
  std::string host = "127.0.0.1";
  int port = 8265;        // 0: any free port
  std::string port_file;  // written with the bound port once serving
  std::string token;      // the cluster's
  std::string version;
};

/// 0 after a clean stop; 1 if it could not listen.
int RunDashboardProcess(const DashboardProcessOptions &options);

}  // namespace lumen::dashboard
