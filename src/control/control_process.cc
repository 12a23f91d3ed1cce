#include "control/control_process.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include "base/open_files.h"
#include "base/logging.h"
#include "base/service_process.h"
#include "control/control_server.h"

namespace lumen::control {

int RunControlProcess(const ControlProcessOptions &options) {
  sigset_t signals = BlockTerminationSignals();
  InitProcessLogging("control", options.session_dir + "/logs");
  if (auto raised = RaiseOpenFileLimit(); !raised.ok())
    LUMEN_LOG_WARN("keeping the open-file limit: {}", raised.status().ToString());
  ControlServerOptions opts;
  opts.unix_path = options.unix_path;
  opts.tcp_host = options.tcp_host;
  opts.tcp_port = options.tcp_port;
  opts.token = options.token;
  opts.session_dir = options.session_dir;
  {
    // Destroyed before logging ends, like any object: its destructor stops
    // the loop before the tables go, and is exercised with clients still
    // connected and calling (control_server_test).
    ControlServer server(opts);
    auto bound = server.Start();
    if (!bound.ok()) {
      SPDLOG_ERROR("control service failed to start: {}", bound.status().ToString());
      std::cerr << "lumen_control: " << bound.status().ToString() << "\n";
      return 1;
    }
    // Loopback unless the operator named an address (--node-ip-address):
    // say so when this service can be reached from other machines.
    const std::string &host = options.tcp_host;
    if (!rpc::IsLoopbackHost(host))
      LUMEN_LOG_WARN(
          "listening on {}:{}, a non-loopback address: other machines can reach this service "
          "(every connection must still prove the cluster token)",
          host, *bound);
    if (!options.port_file.empty()) {
      // Renamed into place: a reader never sees a half-written file.
      std::ofstream tmp(options.port_file + ".tmp");
      tmp << *bound << "\n";
      tmp.close();
      std::rename((options.port_file + ".tmp").c_str(), options.port_file.c_str());
    }
    ServeUntilStopped(signals, server);
  }
  ShutdownProcessLogging();
  return 0;
}

}  // namespace lumen::control
