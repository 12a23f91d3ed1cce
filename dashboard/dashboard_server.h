// The dashboard's HTTP server (Ray's dashboard head role): the state API
// (`/api/v0/nodes|actors|jobs|placement_groups` with Ray's query parameters
// and reply shapes), the Job Submission API (job_routes.h), log files
// (log_routes.h), `/api/version`, `/api/gcs_healthz`, the login page that
// keeps the cluster token in a browser session, and the web UI
// (client_routes.h). Every request passes a
// RequestGuard first. Built on cpp-httplib.
//
// Threading: Start binds and serves on a thread of its own; each request runs
// on one of cpp-httplib's pool threads, which call the StateSource
// concurrently. Stop may be called from any thread, more than once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "base/process_stats.h"
#include "base/status.h"
#include "dashboard/package_store.h"
#include "dashboard/request_guard.h"
#include "dashboard/state_source.h"

namespace httplib {
class Server;
}

namespace lumen::dashboard {

class JobManager;

/// Ray's default dashboard port.
inline constexpr int kDefaultDashboardPort = 8265;

struct DashboardOptions {
  std::string host = "127.0.0.1";    // loopback unless told otherwise
  int port = kDefaultDashboardPort;  // 0: any free port
  std::string token;                 // the cluster's
  std::string session_dir;           // the head's (its node is the head node)
  std::string version;               // reported by /api/version

  // Submitted jobs (job_manager.h): their RAY_ADDRESS ("host:port"), and
  // how long a stopped one has between SIGTERM and SIGKILL (less than the
  // 3 s `lumen stop` gives the dashboard itself).
  std::string cluster_address;
  std::chrono::milliseconds job_stop_grace{2000};
  std::string client_dir;  // the web UI's built files (FindClientDir); "": none
};

class DashboardServer {
 public:
  DashboardServer(DashboardOptions options, std::unique_ptr<StateSource> source);
  ~DashboardServer();
  DashboardServer(const DashboardServer &) = delete;
  DashboardServer &operator=(const DashboardServer &) = delete;

  /// Binds and starts serving; the bound port, or why it could not bind.
  StatusOr<int> Start();
  /// Blocks until Stop.
  void WaitForShutdown();
  void Stop();

 private:
  void Route();
  /// /api/v0/tasks (and tasks/summarize), workers, objects (dashboard_tasks.cc).
  void RouteTasksWorkersObjects();

  const DashboardOptions options_;
  std::unique_ptr<StateSource> source_;
  CpuSampler cpu_;  // this process's CPU between two scrapes of /metrics
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<RequestGuard> guard_;     // made at Start, once the port is known
  std::unique_ptr<JobManager> jobs_;        // submitted jobs (job_routes.h); stopped when this is destroyed
  std::unique_ptr<PackageStore> packages_;  // uploaded working_dir packages (job_routes.h)
  std::atomic<bool> stopping_{false};       // ends the log streams, so that the serving thread can stop
  std::thread serving_;
  std::atomic<bool> serve_returned_{false};
  Mutex mu_;
  std::condition_variable stopped_cv_;
  bool stopped_ GUARDED_BY(mu_) = false;
};

}  // namespace lumen::dashboard
