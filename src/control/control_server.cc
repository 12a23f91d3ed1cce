#include "control/control_server.h"

#include <unistd.h>

#include <chrono>

#include "base/id.h"
#include "base/logging.h"
#include "base/timeouts.h"
#include "protocol/node.pb.h"
#include "protocol/control.pb.h"
#include "protocol/worker.pb.h"

namespace lumen::control {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using rpc::Unary;

}  // namespace

ControlServer::ControlServer(ControlServerOptions options)
    : options_(std::move(options)), metrics_(options_.metrics) {
  actors_ = std::make_unique<ActorManager>(loop_, options_.token, &dispatcher_);
  groups_ = std::make_unique<PlacementGroupManager>(loop_, actors_.get(), *options_.clock);
  health_ = std::make_unique<NodeHealthChecker>(
      loop_, *options_.clock, options_.health,
      [this](const std::string &node_id, const std::string &why) { OnNodeDead(node_id, why); });
  task_events_ = std::make_unique<TaskEventStore>(options_.task_events);
  node_logs_ = std::make_unique<NodeLogStore>(
      options_.session_dir.empty() ? "" : options_.session_dir + "/logs", options_.session_dir,
      options_.node_log_bytes, options_.node_log_total_bytes);
  RegisterHandlers();
  RegisterTaskEventHandlers();
}

ControlServer::~ControlServer() {
  Stop();
  // No handler may run while the members below are destroyed: the tables
  // (declared after the loop, so destroyed before it) and the managers are
  // what handlers and close handlers touch.
  loop_.Stop();
}

StatusOr<int> ControlServer::Start() {
  server_ = std::make_unique<rpc::Server>(loop_, options_.token, &dispatcher_);
  server_->SetConnectHandler([this](const rpc::ConnectionPtr &conn) {
    std::weak_ptr<rpc::Connection> weak = conn;
    conn->SetCloseHandler([this, weak](const Status &why) {
      if (auto c = weak.lock()) OnConnectionClosed(c, why);
    });
  });
  LUMEN_RETURN_IF_ERROR(server_->ListenUnix(options_.unix_path));
  auto port = server_->ListenTcp(options_.tcp_host, options_.tcp_port);
  if (!port.ok()) return port.status();
  LUMEN_LOG_INFO("control service listening on {} and {}:{}", options_.unix_path, options_.tcp_host, *port);
  return *port;
}

void ControlServer::Stop() {
  stopping_ = true;
  if (actors_) actors_->Stop();
  if (server_) server_->Stop();
  {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    shutdown_requested_ = true;
  }
  shutdown_cv_.notify_all();
}

void ControlServer::WaitForShutdown() {
  std::unique_lock<std::mutex> lock(shutdown_mu_);
  shutdown_cv_.wait(lock, [this] { return shutdown_requested_; });
}

void ControlServer::OnConnectionClosed(const rpc::ConnectionPtr &conn, const Status &why) {
  actors_->OnConnectionClosed(conn);
  // A driver that goes without saying its job finished (killed, crashed):
  // its job is over all the same.
  if (auto it = job_by_driver_.find(conn.get()); it != job_by_driver_.end()) {
    uint32_t job_id = it->second;
    job_by_driver_.erase(it);
    FinishJob(job_id, "its driver's connection closed");
  }
  node_subscribers_.erase(conn.get());
  // A node service whose connection drops is dead: its processes died, or
  // it was stopped.
  if (!conn->user_data) return;
  auto node_id = std::static_pointer_cast<std::string>(conn->user_data);
  auto it = nodes_.find(*node_id);
  if (it == nodes_.end() || node_conns_[*node_id].lock() != conn) return;  // an older registration's
  // The rpc layer says why: the peer closed it (its processes died, or it
  // was stopped), or it stayed silent past rpc::PeerTimeout (cut off).
  // A driver's own node ends with its driver: the reason says whose node it
  // was (its connection's error still tells an orderly end from a cut-off).
  OnNodeDead(
      *node_id,
      std::string(it->second.for_driver() ? "it was the node of a driver on a machine with no other node; "
                                          : "") +
          "its connection to the control service closed (" +
          (why.ok() || why.message().empty() ? std::string("its processes died or it was stopped")
                                             : why.message()) +
          ")");
}

void ControlServer::OnNodeDead(const std::string &node_id, const std::string &why) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || !it->second.alive()) return;
  proto::NodeInfo &info = it->second;
  info.set_alive(false);
  info.set_death_reason(why);
  info.set_death_time_ms(NowMs());
  health_->Remove(node_id);
  workers_.RemoveNode(node_id);  // its drivers and workers went with it
  node_logs_->OnNodeDead(node_id);
  if (stopping_) return;  // the whole cluster stops: nothing to restart or tell
  LUMEN_LOG_WARN("node {} ({}) died: {}", ToHex(node_id), info.node_ip(), why);
  const std::string cause = "its node " + ToHex(node_id) + " (" + info.node_ip() + ") died: " + why;
  actors_->OnNodeDead(node_id, cause);
  groups_->OnNodeDead(node_id);
  proto::NodeInfo changed = info;
  for (auto sub = node_subscribers_.begin(); sub != node_subscribers_.end();) {
    auto conn = sub->second.lock();
    if (!conn || !conn->IsOpen()) {
      sub = node_subscribers_.erase(sub);
      continue;
    }
    conn->Notify(proto::NODE_CHANGED, changed);
    ++sub;
  }
  // Cut off rather than gone: it must not go on as this node if it comes
  // back (its registration is over; it is refused under this id).
  if (auto conn = node_conns_[node_id].lock()) conn->Close();
}

void ControlServer::FinishJob(uint32_t job_id, const std::string &why) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.finished()) return;
  it->second.set_finished(true);
  it->second.set_end_time_ms(NowMs());
  driver_of_job_.erase(job_id);
  LUMEN_LOG_INFO("job {} finished: {}", job_id, why);
  if (it->second.has_program()) programs_.Release(it->second.program().sha256());
  metrics_.JobEnded(job_id, NowMs());
  // Nodes other than the driver's run the job's fork server and workers too
  // (started from its program): they stop them now.
  proto::JobEnded ended;
  ended.set_job_id(job_id);
  for (auto &[id, conn] : node_conns_)
    if (auto node = conn.lock()) node->Notify(proto::JOB_ENDED, ended);
  // Bounded table: the jobs that finished first age out first.
  finished_jobs_.push_back(job_id);
  while (finished_jobs_.size() > options_.max_finished_jobs) {
    jobs_.erase(finished_jobs_.front());
    finished_jobs_.pop_front();
  }
}

// Usage is asked of the nodes on demand rather than pushed by them and kept
// here: the answer is exact when it is given (a pushed view lags by its
// coalescing interval), nothing is sent while nobody asks, and the node's
// lease path stays free of reporting work. Callers (ray::AvailableResources,
// status queries) are rare. Cross-node scheduling, which needs a standing
// view, would keep one pushed by the nodes and could answer from it.
void ControlServer::AnswerAllNodesWithUsage(const rpc::ConnectionPtr &conn, uint64_t call_id,
                                            const proto::GetAllNodesRequest &request) {
  proto::NodeStatsRequest stats_request;
  stats_request.set_with_workers(request.with_workers());
  stats_request.set_with_objects(request.with_objects());
  stats_request.set_with_processes(request.with_processes());
  struct Gather {
    rpc::ConnectionPtr conn;
    uint64_t call_id = 0;
    proto::GetAllNodesReply reply;
    int pending = 1;  // one for the loop below, so the reply waits until every node was asked
    void Done() {
      if (--pending == 0 && call_id) conn->Reply(call_id, reply);
    }
  };
  auto gather = std::make_shared<Gather>();
  gather->conn = conn;
  gather->call_id = call_id;
  for (auto &[id, info] : nodes_) {
    const int index = gather->reply.nodes_size();
    *gather->reply.add_nodes() = info;
    if (!info.alive()) continue;
    auto it = node_conns_.find(id);
    auto node = it == node_conns_.end() ? nullptr : it->second.lock();
    if (!node) continue;
    ++gather->pending;
    node->Call(
        proto::NODE_STATS, stats_request,
        [gather, index, id = id](Status st, std::string_view body) {
          proto::NodeStatsReply stats;
          if (st.ok() && rpc::ParseBody(body, &stats)) {
            auto *usage = gather->reply.mutable_nodes(index)->mutable_usage();
            *usage->mutable_total() = stats.total();
            *usage->mutable_available() = stats.available();
            *usage->mutable_startable_jobs() = stats.startable_jobs();
            *usage->mutable_workers() = stats.workers();
            *usage->mutable_objects() = stats.objects();
            *usage->mutable_processes() = stats.processes();
            if (stats.has_machine()) *usage->mutable_machine() = stats.machine();
            usage->set_store_used(stats.store_used());
            usage->set_store_capacity(stats.store_capacity());
            usage->set_store_objects(stats.store_objects());
          } else {
            LUMEN_LOG_WARN("node {} did not report its resources: {}", ToHex(id),
                           st.ok() ? "malformed reply" : st.ToString());
          }
          gather->Done();
        },
        kNodeUsageTimeout);
  }
  gather->Done();
}

void ControlServer::RegisterHandlers() {
  using namespace proto;
  Unary<NodeInfo, RegisterNodeReply>(
      dispatcher_, REGISTER_NODE,
      [this](const rpc::ConnectionPtr &conn, const NodeInfo &req, RegisterNodeReply *) {
        if (req.node_id().size() != NodeID::kSize) return Status::InvalidArgument("bad node id");
        if (auto old = nodes_.find(req.node_id()); old != nodes_.end() && !old->second.alive())
          return Status::AlreadyExists("node " + ToHex(req.node_id()) + " was marked dead (" +
                                       old->second.death_reason() +
                                       "); a node that comes back must restart as a new node");
        NodeInfo info = req;
        info.set_alive(true);
        info.set_start_time_ms(NowMs());
        nodes_[req.node_id()] = info;
        node_conns_[req.node_id()] = conn;
        conn->user_data = std::make_shared<std::string>(req.node_id());
        LUMEN_LOG_INFO("node {} registered at {}", ToHex(req.node_id()), req.raylet_address());
        actors_->OnNodeRegistered(info, conn);
        groups_->OnNodeRegistered(info, conn);
        health_->Add(req.node_id(), conn);
        return Status::OK();
      });
  dispatcher_.Register(SUBSCRIBE_NODE_CHANGES,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                         node_subscribers_[conn.get()] = conn;
                         if (call_id) conn->Reply(call_id, Empty());
                       });
  dispatcher_.Register(
      GET_ALL_NODES, [this](const rpc::ConnectionPtr &conn, uint64_t call_id, const GetAllNodesRequest &req) {
        if (req.with_usage()) {
          AnswerAllNodesWithUsage(conn, call_id, req);
          return;
        }
        GetAllNodesReply rep;
        for (auto &[id, info] : nodes_) *rep.add_nodes() = info;
        if (call_id) conn->Reply(call_id, rep);
      });
  Unary<RegisterJobRequest, RegisterJobReply>(
      dispatcher_, REGISTER_JOB,
      [this](const rpc::ConnectionPtr &conn, const RegisterJobRequest &req, RegisterJobReply *rep) {
        JobInfo job;
        job.set_job_id(next_job_id_++);
        job.set_ray_namespace(req.ray_namespace());
        job.set_driver_pid(req.driver_pid());
        job.set_driver_address(req.driver_address());
        job.set_start_time_ms(NowMs());
        *job.mutable_code_search_path() = req.code_search_path();
        job.set_runtime_env(req.runtime_env());
        job.set_default_detached(req.default_detached());
        if (req.has_program() && req.program().sha256().size() == Sha256::kSize) {
          *job.mutable_program() = req.program();
          programs_.Retain(req.program().sha256(), req.program().size());
        }
        jobs_[job.job_id()] = job;
        job_by_driver_[conn.get()] = job.job_id();
        driver_of_job_[job.job_id()] = conn;
        rep->set_job_id(job.job_id());
        rep->set_control_pid(getpid());
        return Status::OK();
      });
  Unary<JobFinished, Empty>(dispatcher_, JOB_FINISHED,
                            [this](const rpc::ConnectionPtr &conn, const JobFinished &req, Empty *) {
                              auto it = job_by_driver_.find(conn.get());
                              if (it != job_by_driver_.end() && it->second == req.job_id())
                                job_by_driver_.erase(it);
                              FinishJob(req.job_id(), "its driver shut down");
                              return Status::OK();
                            });
  dispatcher_.Register(FORWARD_LOG_LINES, [this](const rpc::ConnectionPtr &, uint64_t, const LogLines &msg) {
    auto it = driver_of_job_.find(msg.job_id());
    if (it == driver_of_job_.end()) return;  // a finished job's (a detached actor's), or unknown
    if (auto driver = it->second.lock()) driver->Notify(LOG_LINES, msg);
  });
  // No caller yet: the state API (issue 18) lists jobs and actors with these.
  Unary<GetAllJobsRequest, GetAllJobsReply>(
      dispatcher_, GET_ALL_JOBS,
      [this](const rpc::ConnectionPtr &, const GetAllJobsRequest &, GetAllJobsReply *rep) {
        for (auto &[id, j] : jobs_) *rep->add_jobs() = j;
        return Status::OK();
      });
  RegisterProgramHandlers();
  RegisterWorkerDirectoryHandlers();
  // The key-value store: where the dashboard publishes its address and where
  // ray::experimental::InternalKv* (collectives' rendezvous) keep their keys.
  Unary<KvPutRequest, KvPutReply>(
      dispatcher_, KV_PUT, [this](const rpc::ConnectionPtr &, const KvPutRequest &req, KvPutReply *rep) {
        auto &table = kv_[req.ns()];
        auto [it, added] = table.try_emplace(req.key(), req.value());
        if (!added && req.overwrite()) it->second = req.value();
        rep->set_added(added);
        return Status::OK();
      });
  Unary<KvGetRequest, KvGetReply>(
      dispatcher_, KV_GET, [this](const rpc::ConnectionPtr &, const KvGetRequest &req, KvGetReply *rep) {
        auto ns = kv_.find(req.ns());
        if (ns == kv_.end()) return Status::OK();
        auto it = ns->second.find(req.key());
        if (it != ns->second.end()) {
          rep->set_found(true);
          rep->set_value(it->second);
        }
        return Status::OK();
      });
  Unary<KvDelRequest, KvDelReply>(
      dispatcher_, KV_DEL, [this](const rpc::ConnectionPtr &, const KvDelRequest &req, KvDelReply *rep) {
        auto ns = kv_.find(req.ns());
        if (ns != kv_.end()) rep->set_deleted(static_cast<int32_t>(ns->second.erase(req.key())));
        return Status::OK();
      });
  Unary<KvKeysRequest, KvKeysReply>(
      dispatcher_, KV_KEYS, [this](const rpc::ConnectionPtr &, const KvKeysRequest &req, KvKeysReply *rep) {
        auto ns = kv_.find(req.ns());
        if (ns == kv_.end()) return Status::OK();
        for (auto it = ns->second.lower_bound(req.prefix());
             it != ns->second.end() && it->first.compare(0, req.prefix().size(), req.prefix()) == 0; ++it)
          rep->add_keys(it->first);
        return Status::OK();
      });
  // ---- actors ----
  Unary<RegisterActorRequest, Empty>(dispatcher_, REGISTER_ACTOR,
                                     [this](const rpc::ConnectionPtr &conn, const RegisterActorRequest &req,
                                            Empty *) { return actors_->Register(conn, req.spec()); });
  Unary<CreateActorRequest, Empty>(
      dispatcher_, CREATE_ACTOR, [this](const rpc::ConnectionPtr &, const CreateActorRequest &req, Empty *) {
        actors_->Create(req.spec());
        return Status::OK();
      });
  Unary<ActorIdRequest, SubscribeActorReply>(
      dispatcher_, SUBSCRIBE_ACTOR,
      [this](const rpc::ConnectionPtr &conn, const ActorIdRequest &req, SubscribeActorReply *rep) {
        actors_->Subscribe(conn, req.actor_id(), rep);
        return Status::OK();
      });
  Unary<GetNamedActorRequest, GetNamedActorReply>(
      dispatcher_, GET_NAMED_ACTOR,
      [this](const rpc::ConnectionPtr &, const GetNamedActorRequest &req, GetNamedActorReply *rep) {
        std::string id = actors_->LookupNamed(req.name(), req.ray_namespace());
        rep->set_found(!id.empty());
        rep->set_actor_id(id);
        return Status::OK();
      });
  Unary<ActorIdRequest, Empty>(dispatcher_, ACTOR_EXITING,
                               [this](const rpc::ConnectionPtr &conn, const ActorIdRequest &, Empty *) {
                                 actors_->OnActorExiting(conn);
                                 return Status::OK();
                               });
  Unary<GetAllActorsRequest, GetAllActorsReply>(
      dispatcher_, GET_ALL_ACTORS,
      [this](const rpc::ConnectionPtr &, const GetAllActorsRequest &, GetAllActorsReply *rep) {
        actors_->GetAll(rep);
        return Status::OK();
      });
  // Answered once the actor's process is gone, so calls made after Kill()
  // returns see the actor dead (or restarting).
  dispatcher_.Register(KILL_ACTOR,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, const KillActorRequest &req) {
                         actors_->Kill(req.actor_id(), req.no_restart(), [conn, call_id](Status st) {
                           if (!call_id) return;
                           if (st.ok()) {
                             conn->Reply(call_id, Empty());
                           } else {
                             conn->ReplyError(call_id, st);
                           }
                         });
                       });
  // ---- placement groups ----
  Unary<CreatePlacementGroupRequest, Empty>(
      dispatcher_, CREATE_PLACEMENT_GROUP,
      [this](const rpc::ConnectionPtr &, const CreatePlacementGroupRequest &req, Empty *) {
        return groups_->Create(req.info());
      });
  Unary<PlacementGroupIdRequest, Empty>(
      dispatcher_, REMOVE_PLACEMENT_GROUP,
      [this](const rpc::ConnectionPtr &, const PlacementGroupIdRequest &req, Empty *) {
        groups_->Remove(req.group_id());
        return Status::OK();
      });
  Unary<GetPlacementGroupRequest, GetPlacementGroupReply>(
      dispatcher_, GET_PLACEMENT_GROUP,
      [this](const rpc::ConnectionPtr &, const GetPlacementGroupRequest &req, GetPlacementGroupReply *rep) {
        rep->set_found(groups_->Get(req, rep->mutable_info()));
        return Status::OK();
      });
  Unary<GetAllPlacementGroupsRequest, GetAllPlacementGroupsReply>(
      dispatcher_, GET_ALL_PLACEMENT_GROUPS,
      [this](const rpc::ConnectionPtr &, const GetAllPlacementGroupsRequest &,
             GetAllPlacementGroupsReply *rep) {
        groups_->GetAll(rep);
        return Status::OK();
      });
  dispatcher_.Register(WAIT_PLACEMENT_GROUP, [this](const rpc::ConnectionPtr &conn, uint64_t call_id,
                                                    const WaitPlacementGroupRequest &req) {
    groups_->Wait(req.group_id(), req.timeout_ms(), [conn, call_id](bool ready) {
      WaitPlacementGroupReply rep;
      rep.set_ready(ready);
      if (call_id) conn->Reply(call_id, rep);
    });
  });
  Unary<ShutdownClusterRequest, Empty>(
      dispatcher_, SHUTDOWN_CLUSTER,
      [this](const rpc::ConnectionPtr &, const ShutdownClusterRequest &, Empty *) {
        {
          std::lock_guard<std::mutex> lock(shutdown_mu_);
          shutdown_requested_ = true;
        }
        shutdown_cv_.notify_all();
        return Status::OK();
      });
}

// A node that gets a lease for a job it does not know asks for the job here,
// then for its program (see ProgramStore).
void ControlServer::RegisterProgramHandlers() {
  using namespace proto;
  Unary<GetJobRequest, GetJobReply>(
      dispatcher_, GET_JOB, [this](const rpc::ConnectionPtr &, const GetJobRequest &req, GetJobReply *rep) {
        auto it = jobs_.find(req.job_id());
        if (it == jobs_.end()) return Status::OK();
        rep->set_found(true);
        *rep->mutable_job() = it->second;
        return Status::OK();
      });
  Unary<JobProgram, HasProgramReply>(
      dispatcher_, HAS_PROGRAM,
      [this](const rpc::ConnectionPtr &, const JobProgram &req, HasProgramReply *rep) {
        rep->set_found(programs_.Has(req.sha256()));
        return Status::OK();
      });
  Unary<ProgramChunk, PutProgramChunkReply>(
      dispatcher_, PUT_PROGRAM_CHUNK,
      [this](const rpc::ConnectionPtr &, const ProgramChunk &req, PutProgramChunkReply *rep) {
        auto complete = programs_.Put(req.sha256(), req.size(), req.offset(), req.data());
        if (!complete.ok()) return complete.status();
        if (*complete && req.offset() + req.data().size() == req.size())
          LUMEN_LOG_INFO("holding program {} ({} bytes)", ToHex(req.sha256()), req.size());
        rep->set_complete(*complete);
        return Status::OK();
      });
  Unary<GetProgramChunkRequest, ProgramChunk>(
      dispatcher_, GET_PROGRAM_CHUNK,
      [this](const rpc::ConnectionPtr &, const GetProgramChunkRequest &req, ProgramChunk *rep) {
        auto data =
            programs_.Read(req.sha256(), req.offset(), std::min<uint32_t>(req.max_bytes(), kMaxProgramChunk));
        if (!data.ok()) return data.status();
        rep->set_sha256(req.sha256());
        rep->set_size(programs_.SizeOf(req.sha256()));
        rep->set_offset(req.offset());
        rep->set_data(std::move(*data));
        return Status::OK();
      });
}

}  // namespace lumen::control
