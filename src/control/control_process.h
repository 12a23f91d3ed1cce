// The control service as the body of a process (lumen_control, or a process
// ray::Init forks for an embedded cluster).
//
// Threading: call from a process's only thread; returns when the service has
// stopped (SIGTERM/SIGINT, or a shutdown request).
#pragma once

#include <string>

namespace lumen::control {

struct ControlProcessOptions {
  std::string session_dir;  // logs go to <session_dir>/logs
  std::string unix_path;
  std::string tcp_host = "127.0.0.1";
  int tcp_port = 0;
  std::string port_file;  // written with the bound TCP port once serving
  std::string token;
};

/// Returns the process's exit status (0 after a clean stop).
int RunControlProcess(const ControlProcessOptions &options);

}  // namespace lumen::control
