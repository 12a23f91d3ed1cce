#include "dashboard/dashboard_process.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "base/logging.h"
#include "base/service_process.h"
#include "dashboard/client_routes.h"
#include "dashboard/control_state_source.h"
#include "dashboard/dashboard_address.h"
#include "protocol/control.pb.h"
#include "rpc/rpc.h"
#include "dashboard/dashboard_server.h"

namespace lumen::dashboard {
namespace {

// Records "host:port" in the control service's KV store (dashboard_address.h).
Status PublishAddress(const DashboardProcessOptions &options, int port) {
  rpc::EventLoop loop("lumen-dash-pub");
  auto conn = rpc::Connect(loop, options.control_address, options.token, nullptr);
  if (!conn.ok()) return conn.status();
  proto::KvPutRequest put;
  put.set_ns(kDashboardKvNamespace);
  put.set_key(kDashboardKvKey);
  put.set_value(options.host + ":" + std::to_string(port));
  put.set_overwrite(true);
  proto::KvPutReply reply;
  Status st = (*conn)->CallSync(proto::KV_PUT, put, &reply);
  (*conn)->Close();
  return st;
}

}  // namespace

int RunDashboardProcess(const DashboardProcessOptions &options) {
  sigset_t signals = BlockTerminationSignals();
  InitProcessLogging("dashboard", options.session_dir + "/logs");
  int rc = 0;
  {
    DashboardOptions opts;
    opts.host = options.host;
    opts.port = options.port;
    opts.token = options.token;
    opts.session_dir = options.session_dir;
    opts.version = options.version;
    opts.cluster_address = options.cluster_address;
    opts.client_dir = FindClientDir();
    DashboardServer server(opts,
                           std::make_unique<ControlStateSource>(options.control_address, options.token));
    auto bound = server.Start();
    if (!bound.ok()) {
      SPDLOG_ERROR("dashboard failed to start: {}", bound.status().ToString());
      std::cerr << "lumen_dashboard: " << bound.status().message() << "\n";
      rc = 1;
    } else {
      const std::string &host = options.host;
      if (host.rfind("127.", 0) != 0 && host != "localhost" && host != "::1")
        LUMEN_LOG_WARN(
            "dashboard listening on {}:{}, a non-loopback address: other machines can reach it "
            "(every request must still carry the cluster token)",
            host, *bound);
      LUMEN_LOG_INFO("dashboard serving on http://{}:{}", host, *bound);
      // Before the port file: whoever waits for that file finds it published.
      if (Status published = PublishAddress(options, *bound); !published.ok())
        LUMEN_LOG_WARN("could not publish the dashboard's address ({}): lumen list will not find it",
                       published.ToString());
      if (!options.port_file.empty()) {
        // Renamed into place: a reader never sees a half-written file.
        std::ofstream tmp(options.port_file + ".tmp");
        tmp << *bound << "\n";
        tmp.close();
        std::rename((options.port_file + ".tmp").c_str(), options.port_file.c_str());
      }
      ServeUntilStopped(signals, server);
    }
  }
  ShutdownProcessLogging();
  return rc;
}

}  // namespace lumen::dashboard
