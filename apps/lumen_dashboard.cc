// lumen_dashboard: the dashboard's HTTP server (Ray's dashboard head role),
// started by `lumen start --head` beside the control and node services.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "apps/service_main.h"
#include "dashboard/dashboard_process.h"

int main(int argc, char **argv) {
  CLI::App app{"Lumen dashboard"};
  lumen::dashboard::DashboardProcessOptions opts;
  app.add_option("--session-dir", opts.session_dir)->required();
  app.add_option("--control", opts.control_address, "the control service: unix:/path or tcp:host:port")
      ->required();
  app.add_option("--cluster-address", opts.cluster_address,
                 "host:port of the control service, given to submitted jobs as RAY_ADDRESS");
  app.add_option("--host", opts.host, "address to bind (loopback unless told otherwise)");
  app.add_option("--port", opts.port, "port to bind (0: any free port)")->check(CLI::Range(0, 65535));
  app.add_option("--port-file", opts.port_file, "written with the bound port once serving");
  CLI11_PARSE(app, argc, argv);
  const char *token = lumen::apps::ClusterTokenOrComplain("lumen_dashboard");
  if (!token) return 2;
  opts.token = token;
  opts.version = LUMEN_VERSION;
  int rc = lumen::dashboard::RunDashboardProcess(opts);
  std::fflush(nullptr);
  std::_Exit(rc);  // the server's threads may still be winding down
}
