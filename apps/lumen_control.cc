// lumen_control: the control service process (Ray's GCS role).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "apps/service_main.h"
#include "base/logging.h"
#include "control/control_server.h"

int main(int argc, char **argv) {
  CLI::App app{"Lumen control service"};
  std::string session_dir, unix_path, host = "127.0.0.1", port_file;
  int port = 0;
  app.add_option("--session-dir", session_dir)->required();
  app.add_option("--unix", unix_path)->required();
  app.add_option("--host", host, "TCP address to bind (localhost unless told otherwise)");
  app.add_option("--port", port);
  app.add_option("--port-file", port_file, "written with the bound TCP port once serving");
  CLI11_PARSE(app, argc, argv);
  const char *token = lumen::apps::ClusterTokenOrComplain("lumen_control");
  if (!token) return 2;
  sigset_t signals = lumen::apps::BlockTerminationSignals();

  lumen::InitProcessLogging("control", session_dir + "/logs");
  lumen::control::ControlServerOptions opts;
  opts.unix_path = unix_path;
  opts.tcp_host = host;
  opts.tcp_port = port;
  opts.token = token;
  lumen::control::ControlServer server(opts);
  auto bound = server.Start();
  if (!bound.ok()) {
    SPDLOG_ERROR("control service failed to start: {}", bound.status().ToString());
    std::cerr << "lumen_control: " << bound.status().ToString() << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    std::ofstream tmp(port_file + ".tmp");
    tmp << *bound << "\n";
    tmp.close();
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  lumen::apps::StopOnTerminationSignal(signals, [&] { server.Stop(); });
  server.WaitForShutdown();
  server.Stop();
  lumen::ShutdownProcessLogging();
  std::_Exit(0);
}
