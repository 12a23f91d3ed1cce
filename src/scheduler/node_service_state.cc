// What the state API asks of each node (NODE_STATS with_workers /
// with_objects / with_processes): its processes, the objects in its store,
// its processes' CPU and memory, and its machine's. Read on the loop thread
// from the tables the node keeps anyway (and /proc); nothing is tracked for
// it but the previous CPU readings.
#include <unistd.h>

#include <set>
#include <utility>
#include <vector>

#include "scheduler/node_service.h"

#include "base/logging.h"
#include "scheduler/node_service_job.h"

namespace lumen::scheduler {

// The most objects one node lists: the state API shows at most 10,000 rows.
constexpr size_t kMaxListedObjects = 10000;

void NodeService::AddWorkersTo(proto::NodeStatsReply *reply) const {
  for (const auto &[id, job] : jobs_) {
    auto driver = job->driver.lock();
    if (!driver || !driver->user_data) continue;  // the driver is on another node, or gone
    auto client = ClientOf(driver);
    proto::NodeWorkerInfo *w = reply->add_workers();
    w->set_worker_id(client->worker_id.Binary());
    w->set_pid(client->pid);
    w->set_job_id(id);
    w->set_is_driver(true);
    w->set_alive(driver->IsOpen());
  }
  for (const auto &[id, worker] : pool_.workers()) {
    proto::NodeWorkerInfo *w = reply->add_workers();
    w->set_worker_id(id.Binary());
    w->set_pid(worker->pid);
    w->set_job_id(worker->job_id);
    w->set_alive(worker->registered && worker->conn && worker->conn->IsOpen());
    w->set_actor(worker->actor);
    w->set_leased(worker->lease_id != 0);
  }
}

void NodeService::AddObjectsTo(proto::NodeStatsReply *reply) const {
  for (const object_store::ObjectListing &o : store_->List(kMaxListedObjects)) {
    proto::NodeObjectInfo *out = reply->add_objects();
    out->set_object_id(o.id.Binary());
    out->set_size(o.size);
    out->set_sealed(o.sealed);
    out->set_pins(o.pins);
    out->set_deleted(o.deleted);
    auto conn = client_conns_.find(o.creator);
    if (conn != client_conns_.end())
      if (auto c = conn->second.lock(); c && c->user_data) out->set_creator_pid(ClientOf(c)->pid);
  }
}

void NodeService::AddProcessesTo(proto::NodeStatsReply *reply) {
  std::vector<std::pair<pid_t, const char *>> processes{{getpid(), "raylet"}};
  for (const auto &[id, weak] : client_conns_) {
    auto conn = weak.lock();
    if (!conn || !conn->user_data) continue;
    auto client = ClientOf(conn);
    if (client->pid <= 0) continue;
    if (client->kind == proto::FORK_SERVER) processes.emplace_back(client->pid, "fork_server");
    if (client->kind == proto::DRIVER) processes.emplace_back(client->pid, "driver");
  }
  for (const auto &[id, worker] : pool_.workers())
    if (worker->pid > 0) processes.emplace_back(worker->pid, "core_worker");
  std::set<pid_t> seen;
  for (const auto &[pid, component] : processes) {
    if (!seen.insert(pid).second) continue;
    auto memory = ReadProcessMemory(pid);
    auto cpu = cpu_.Percent(pid);
    if (!memory.ok() || !cpu.ok()) continue;  // it ended meanwhile
    proto::ProcessStats *p = reply->add_processes();
    p->set_pid(pid);
    p->set_component(component);
    p->set_cpu_percent(*cpu);
    p->set_rss_bytes(memory->rss_bytes);
    p->set_uss_bytes(memory->uss_bytes);
    p->set_shared_bytes(memory->shared_bytes);
  }
  cpu_.Retain(seen);
  // The machine's, for ray_node_*: the disk is the one the session's logs
  // and sockets are on.
  auto machine = machine_.Read(options_.session_dir.empty() ? "/" : options_.session_dir);
  if (!machine.ok()) {
    LUMEN_LOG_DEBUG("machine stats: {}", machine.status().ToString());
    return;
  }
  proto::MachineStats *m = reply->mutable_machine();
  m->set_cpu_percent(machine->cpu_percent);
  m->set_cpu_count(machine->cpu_count);
  m->set_mem_total_bytes(machine->mem_total_bytes);
  m->set_mem_available_bytes(machine->mem_available_bytes);
  m->set_mem_shared_bytes(machine->mem_shared_bytes);
  m->set_disk_total_bytes(machine->disk_total_bytes);
  m->set_disk_free_bytes(machine->disk_free_bytes);
  m->set_net_received_bytes(machine->net_received_bytes);
  m->set_net_sent_bytes(machine->net_sent_bytes);
  m->set_disk_read_bytes(machine->disk_read_bytes);
  m->set_disk_written_bytes(machine->disk_written_bytes);
  m->set_disk_reads(machine->disk_reads);
  m->set_disk_writes(machine->disk_writes);
  m->set_net_receive_speed(machine->net_receive_speed);
  m->set_net_send_speed(machine->net_send_speed);
  m->set_disk_read_speed(machine->disk_read_speed);
  m->set_disk_write_speed(machine->disk_write_speed);
  m->set_disk_read_iops(machine->disk_read_iops);
  m->set_disk_write_iops(machine->disk_write_iops);
}

}  // namespace lumen::scheduler
