// NodeService's records of one job and of one client connection on this
// node (private to the node service's files: node_service*.cc).
//
// Threading: the node service's loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include "base/id.h"
#include "protocol/node.pb.h"
#include "rpc/rpc.h"
#include "scheduler/node_service.h"
#include "scheduler/worker_pool.h"

namespace lumen::scheduler {

// A connection's client: who registered on it (REGISTER_CLIENT).
struct NodeService::Client {
  uint64_t id = 0;
  proto::ClientKind kind = proto::TOOL;
  WorkerID worker_id;
  int pid = 0;
  uint32_t job_id = 0;
  std::weak_ptr<rpc::Connection> conn;
};

struct NodeService::Job {
  uint32_t id = 0;
  std::weak_ptr<rpc::Connection> driver;
  bool default_detached = false;  // the job's default actor lifetime
  JobWorkers workers;             // the pool's record of the job
  // Its driver is on another node: known from the control service (asked
  // once), ended by its JOB_ENDED.
  bool learned = false;
  // Its program is held by the control service (the driver said so, or this
  // node learned the job with it): every node can start its workers, so load
  // may spread to nodes that have not seen the job yet.
  bool portable = false;
  int program_pid = 0;  // the job's program started here as its fork server
  // WAIT_FOR_WORKERS calls not answered yet, by a sequence number (their timers' key).
  std::map<uint64_t, std::pair<rpc::ConnectionPtr, uint64_t>> worker_waiters;
};

}  // namespace lumen::scheduler
