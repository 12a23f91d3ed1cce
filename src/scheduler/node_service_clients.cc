// NodeService: REGISTER_CLIENT, the first call of every client on this
// node (a driver, a job's fork server, a worker, a tool): what each kind
// tells the node, and the reply every kind gets.
#include <unistd.h>

#include "base/logging.h"
#include "scheduler/node_service.h"
#include "scheduler/node_service_job.h"

namespace lumen::scheduler {

void NodeService::HandleRegisterClient(const rpc::ConnectionPtr &conn, uint64_t call_id,
                                       proto::RegisterClientRequest &req) {
  auto client = ClientOf(conn);
  client->kind = req.kind();
  client->pid = req.pid();
  client->job_id = req.job_id();
  client->worker_id = WorkerID::FromBinary(req.worker_id());
  if (req.kind() == proto::DRIVER) {
    RegisterDriver(conn, req);
  } else if (req.kind() == proto::FORK_SERVER) {
    RegisterForkServer(conn, req);
  } else if (req.kind() == proto::WORKER && !RegisterWorker(conn, *client, req)) {
    conn->ReplyError(call_id, Status::NotFound("unknown worker id"));
    return;
  }
  if (req.kind() == proto::DRIVER || req.kind() == proto::WORKER) {
    proto::Address address = req.address();
    address.set_node_id(node_id_.Binary());
    PublishClient(address);
  }
  proto::RegisterClientReply reply;
  reply.set_node_id(node_id_.Binary());
  reply.set_arena_socket(arena_socket_);
  reply.set_arena_capacity(arena_->capacity());
  reply.set_session_dir(options_.session_dir);
  reply.set_control_address(options_.control_address);
  resources_.total().ToProto(reply.mutable_total());
  reply.set_inline_threshold(options_.inline_threshold);
  reply.set_pid(getpid());
  if (options_.worker_tcp) reply.set_worker_tcp_host(options_.node_ip);
  if (auto job = jobs_.find(req.job_id()); job != jobs_.end())
    reply.set_job_default_detached(job->second->default_detached);
  conn->Reply(call_id, reply);

  if (req.kind() == proto::FORK_SERVER || (req.kind() == proto::DRIVER && !req.has_fork_server())) {
    // Prestart a pool sized to the CPUs once the job can make workers.
    auto &job = *jobs_[req.job_id()];
    pool_.Prestart(job.workers);
    if (!WorkersOnTheWay(job)) AnswerWorkerWaiters(job);  // none to wait for (no CPUs)
  }
  TryDispatch();
}

void NodeService::PublishClient(const proto::Address &address) {
  // Only what others can reach by TCP: without it, a process on another
  // node could not reach this one anyway.
  if (!options_.worker_tcp || address.tcp().empty() || address.worker_id().size() != WorkerID::kSize) return;
  if (!control_) {
    LUMEN_LOG_WARN(
        "worker {} registered before this node reached the control service; other nodes cannot find it",
        ToHex(address.worker_id()));
    return;
  }
  control_->Notify(proto::PUBLISH_WORKER_ADDRESS, address);
}

void NodeService::UnpublishClient(const Client &client) {
  if (!options_.worker_tcp || !control_ || client.worker_id.IsNil()) return;
  if (client.kind != proto::DRIVER && client.kind != proto::WORKER) return;
  proto::Address gone;
  gone.set_worker_id(client.worker_id.Binary());
  control_->Notify(proto::REMOVE_WORKER_ADDRESS, gone);
}

NodeService::Job &NodeService::JobFor(uint32_t job_id) {
  auto &job = jobs_[job_id];
  if (!job) job = std::make_shared<Job>();
  job->id = job_id;
  job->workers.id = job_id;
  return *job;
}

void NodeService::RegisterDriver(const rpc::ConnectionPtr &conn, const proto::RegisterClientRequest &req) {
  Job &job = JobFor(req.job_id());
  job.driver = conn;
  job.workers.code_search_path.assign(req.code_search_path().begin(), req.code_search_path().end());
  job.workers.ray_namespace = req.ray_namespace();
  job.workers.runtime_env = req.job_runtime_env();
  job.workers.expects_fork_server = req.has_fork_server();
  job.portable = req.ships_program();
  job.default_detached = req.default_detached();
  LUMEN_LOG_INFO("driver pid {} registered job {}", req.pid(), req.job_id());
  for (auto &[id, w] : pool_.workers()) {
    if (!w->registered || w->job_id != req.job_id()) continue;
    conn->Notify(proto::WORKER_READY, w->address);
    FollowWorkerLogs(*w);
  }
}

void NodeService::RegisterForkServer(const rpc::ConnectionPtr &conn,
                                     const proto::RegisterClientRequest &req) {
  Job &job = JobFor(req.job_id());
  job.workers.fork_server = conn;
  job.workers.fork_server_pid = req.pid();
  job.workers.cannot_start.clear();
  job.default_detached = req.default_detached();  // it may come before the driver
  LUMEN_LOG_INFO("fork server pid {} for job {}", req.pid(), req.job_id());
}

bool NodeService::RegisterWorker(const rpc::ConnectionPtr &conn, const Client &client,
                                 const proto::RegisterClientRequest &req) {
  auto found = pool_.Find(client.worker_id);
  auto job = found ? jobs_.find(found->job_id) : jobs_.end();
  proto::Address address = req.address();
  address.set_node_id(node_id_.Binary());  // a worker that skipped the probe does not know it
  Worker *registered = pool_.OnRegistered(client.worker_id, req.pid(), conn, address,
                                          job != jobs_.end() ? &job->second->workers : nullptr);
  if (!registered) return false;
  auto &w = *registered;
  FollowWorkerLogs(w);
  if (job != jobs_.end()) {
    AnswerWorkerWaiters(*job->second);
    // The job's driver connects to it now, off the path of the task it
    // will be leased for: the connection's handshake is then done by the
    // time the first task is pushed.
    if (auto driver = job->second->driver.lock()) driver->Notify(proto::WORKER_READY, w.address);
  }
  LUMEN_LOG_INFO("worker {} pid {} registered for job {}", w.id.Hex(), w.pid, w.job_id);
  return true;
}

}  // namespace lumen::scheduler
