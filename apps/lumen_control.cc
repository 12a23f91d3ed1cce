// lumen_control: the control service process (Ray's GCS role).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "apps/service_main.h"
#include "control/control_process.h"

int main(int argc, char **argv) {
  CLI::App app{"Lumen control service"};
  lumen::control::ControlProcessOptions opts;
  app.add_option("--session-dir", opts.session_dir)->required();
  app.add_option("--unix", opts.unix_path)->required();
  app.add_option("--host", opts.tcp_host, "TCP address to bind (localhost unless told otherwise)");
  app.add_option("--port", opts.tcp_port);
  app.add_option("--port-file", opts.port_file, "written with the bound TCP port once serving");
  CLI11_PARSE(app, argc, argv);
  const char *token = lumen::apps::ClusterTokenOrComplain("lumen_control");
  if (!token) return 2;
  opts.token = token;
  int rc = lumen::control::RunControlProcess(opts);
  std::fflush(nullptr);
  std::_Exit(rc);  // the service's threads may still be winding down
}
