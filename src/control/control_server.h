// The control service (Ray's GCS role): the cluster's metadata — nodes, jobs,
// actors (see actor_manager.h), placement groups and a key-value store. It is
// never on the data path: tasks and objects go directly between workers.
//
// Resource usage (what is free on each node) is asked of the nodes when a
// client wants it (GET_ALL_NODES with_usage), not kept here: see
// AnswerAllNodesWithUsage.
//
// A node is dead once its registration connection closes (its processes
// died: seen at once) or once it leaves the health check unanswered for the
// death timeout (node_health.h: cut off, or hung). Then, as in Ray: the node
// table keeps it with alive false, the reason and the time; its actors
// restart elsewhere or die naming the node's death (ActorManager); its
// placement-group bundles are placed again (PlacementGroupManager); and every
// connection that sent SUBSCRIBE_NODE_CHANGES (drivers, workers) is sent
// NODE_CHANGED with its record. A dead node is never alive again: one that
// comes back must restart and register as a new node (its old id is refused).
//
// A job ends when its driver says so (JOB_FINISHED, sent at Shutdown) or when
// the driver's connection closes without it; finished jobs stay listed, the
// oldest aging out beyond `max_finished_jobs`.
//
// Threading: all state lives on the server's single event-loop thread;
// handlers run there, so the tables need no locks.
#pragma once

#include <cstdint>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/clock.h"
#include "base/process_stats.h"
#include "control/actor_manager.h"
#include "control/node_health.h"
#include "control/program_store.h"
#include "control/worker_directory.h"
#include "control/metric_store.h"
#include "control/node_log_store.h"
#include "control/task_event_store.h"
#include "control/placement_group_manager.h"
#include "protocol/control.pb.h"
#include "rpc/rpc.h"

namespace lumen::control {

struct ControlServerOptions {
  std::string unix_path;  // always served
  std::string tcp_host = "127.0.0.1";
  int tcp_port = 0;  // 0 picks a free port
  std::string token;
  size_t max_finished_jobs = 1000;  // bounded tables: old finished jobs age out
  /// Task attempts kept from task events (the oldest dropped first).
  TaskEventLimits task_events = TaskEventLimits::FromSettings();
  /// User metrics' series kept (metric_store.h).
  MetricLimits metrics;
  /// This service's session folder: other nodes' log files are kept under
  /// its logs/nodes/ (node_log_store.h). Empty: none are kept.
  std::string session_dir;
  /// Bytes of one node's log files kept there, and of all nodes' (the
  /// first to die lose theirs first).
  int64_t node_log_bytes = int64_t{1} << 30;
  int64_t node_log_total_bytes = int64_t{8} << 30;
  /// What the service's decisions from elapsed time read (a placement
  /// group's Wait timeout). Tests pass a FakeClock, which must outlive it.
  Clock *clock = &Clock::Real();
  /// The nodes' health check (period, death timeout); read from the clock above.
  NodeHealthOptions health = NodeHealthOptions::FromSettings();
};

class ControlServer {
 public:
  explicit ControlServer(ControlServerOptions options);
  ~ControlServer();

  /// Starts listening; returns the bound TCP port.
  StatusOr<int> Start();
  void Stop();
  /// Blocks until a SHUTDOWN_CLUSTER request arrives or Stop() is called.
  void WaitForShutdown();

 private:
  void RegisterHandlers();
  void RegisterProgramHandlers();
  void RegisterWorkerDirectoryHandlers();  // control_server_workers.cc
  void OnConnectionClosed(const rpc::ConnectionPtr &conn, const Status &why);
  /// Marks the node dead (once): see the header comment.
  void OnNodeDead(const std::string &node_id, const std::string &why);
  /// ADD_TASK_EVENTS, GET_TASK_EVENTS, ADD_METRICS, GET_METRICS
  /// (control_server_events.cc).
  void RegisterTaskEventHandlers();
  /// Marks the job finished (once) and ages out the oldest finished jobs.
  void FinishJob(uint32_t job_id, const std::string &why);
  /// Answers `call_id` with every node, each alive one with its usage as the
  /// node reports it now (NODE_STATS), once every node answered, failed or
  /// ran past kNodeUsageTimeout.
  void AnswerAllNodesWithUsage(const rpc::ConnectionPtr &conn, uint64_t call_id,
                               const proto::GetAllNodesRequest &request);

  ControlServerOptions options_;
  rpc::EventLoop loop_{"lumen-control"};
  rpc::Dispatcher dispatcher_;
  std::unique_ptr<rpc::Server> server_;
  std::unique_ptr<ActorManager> actors_;
  std::unique_ptr<PlacementGroupManager> groups_;
  std::unique_ptr<NodeHealthChecker> health_;
  std::atomic<bool> stopping_{false};  // Stop() began: closing connections is no node's death

  // Loop-thread state.
  std::map<std::string, proto::NodeInfo> nodes_;                      // by binary node id
  std::map<std::string, std::weak_ptr<rpc::Connection>> node_conns_;  // each node's registration connection
  std::map<rpc::Connection *, std::weak_ptr<rpc::Connection>> node_subscribers_;  // SUBSCRIBE_NODE_CHANGES
  std::map<uint32_t, proto::JobInfo> jobs_;
  std::map<rpc::Connection *, uint32_t> job_by_driver_;  // running jobs, by their driver's connection
  std::map<uint32_t, std::weak_ptr<rpc::Connection>> driver_of_job_;  // the other way (FORWARD_LOG_LINES)
  std::deque<uint32_t> finished_jobs_;                                // in the order they finished; bounded
  uint32_t next_job_id_ = 1;
  ProgramStore programs_;                        // running jobs' programs, for the nodes that start them
  WorkerDirectory workers_;                      // where drivers and workers listen, published by their nodes
  std::unique_ptr<TaskEventStore> task_events_;  // tasks' state changes, for the state API
  MetricStore metrics_;                          // user metrics' sums, for /metrics
  std::unique_ptr<NodeLogStore> node_logs_;      // other nodes' log files, on the head
  CpuSampler cpu_;                               // this process's CPU between two GET_METRICS
  std::unordered_map<std::string, std::map<std::string, std::string>> kv_;  // ns -> key -> value

  std::mutex shutdown_mu_;
  std::condition_variable shutdown_cv_;
  bool shutdown_requested_ = false;
};

}  // namespace lumen::control
