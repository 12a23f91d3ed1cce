#include "scheduler/node_service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <string_view>
#include <thread>

#include "base/child_process.h"
#include "base/logging.h"
#include "base/settings.h"
#include "base/timeouts.h"
#include "protocol/control.pb.h"
#include "scheduler/node_service_job.h"

namespace lumen::scheduler {

using proto::Address;

namespace {

// How often idle workers are checked against kIdleWorkerGrace: a worker is
// stopped at most this much later than its grace allows, for a check that
// costs a walk over the idle workers.
constexpr std::chrono::milliseconds kIdleCheckInterval{200};
// At most one LEASES_WANTED per lease holder per this long: enough for it to
// give its idle leases back, without a notice per queued request.
constexpr std::chrono::milliseconds kLeasesWantedThrottle{20};

}  // namespace

struct NodeService::PendingBundles {
  rpc::ConnectionPtr conn;
  uint64_t call_id = 0;
  std::string group;
  std::vector<ResourceSet> bundles;
  bool warned = false;
};

struct NodeService::PendingLease {
  rpc::ConnectionPtr conn;
  uint64_t call_id = 0;
  uint32_t job_id = 0;
  ResourceSet request;  // must be free to grant
  ResourceSet hold;     // what the lease holds (actors may hold less than they need to be placed)
  bool for_actor = false;
  bool detached = false;
  WorkerID reserved;                       // detached actors: the fresh worker started for this lease
  bool warned = false;                     // reported as more than the node has
  bool reported_waiting = false;           // reported as waiting for resources in use
  std::map<std::string, std::string> env;  // the request's runtime_env env_vars
  std::string env_key;                     // EnvKey(env)
  int spill_hops = 0;                      // normal tasks: nodes that spilled it here already
  int64_t decided_on_view = -1;            // the cluster view it was last kept here by (node_spillback.cc)
  bool reported_unknown_job = false;       // spilled here for a job that cannot start workers here yet
};

namespace {

NodeServiceOptions WithDefaults(NodeServiceOptions options) {
  if (options.unix_path.empty()) options.unix_path = options.session_dir + "/sockets/node";
  return options;
}

WorkerPool::Options PoolOptions(const NodeServiceOptions &options) {
  WorkerPool::Options o;
  o.session_dir = options.session_dir;
  o.node_socket = options.unix_path;
  o.token = options.token;
  o.worker_program = options.worker_program;
  o.prestart_workers = options.prestart_workers;
  o.max_starting_workers = options.max_starting_workers;
  o.cpus = options.resources.count("CPU") ? options.resources.at("CPU") : 0;
  o.clock = options.clock;
  if (options.worker_tcp) o.worker_tcp_host = options.node_ip;
  if (!options.gpu_ids.empty()) o.base_env["CUDA_VISIBLE_DEVICES"] = "";  // see WorkerEnvFor
  return o;
}

}  // namespace

NodeService::NodeService(NodeServiceOptions options)
    : options_(WithDefaults(std::move(options))),
      pool_(PoolOptions(options_)),
      programs_(options_.session_dir + "/programs") {
  resources_ = NodeResources(ResourceSet::FromMap(options_.resources), options_.gpu_ids);
  lease_policy_.spread_threshold = options_.spread_threshold;
  RegisterHandlers();
}

NodeService::~NodeService() { Stop(); }

Status NodeService::Start() {
  std::filesystem::create_directories(options_.session_dir + "/sockets");
  std::filesystem::create_directories(options_.session_dir + "/logs");
  auto arena = object_store::Arena::Create(options_.store_capacity, options_.store_prefault);
  if (!arena.ok()) return arena.status();
  arena_ = std::move(arena.value());
  store_ = std::make_unique<object_store::ObjectStore>(loop_.io(), options_.store_capacity);
  arena_socket_ = options_.session_dir + "/sockets/store";
  LUMEN_RETURN_IF_ERROR(arena_server_.Start(arena_socket_, options_.token, arena_->fd(), arena_->capacity(),
                                            options_.store_prefault));
  peers_ = std::make_unique<object_manager::RpcNodePeers>(
      loop_, options_.token, [this](const NodeID &node) { return ResolveNode(node); });
  object_manager::ObjectManagerOptions om;
  om.client_id = next_client_id_++;  // the store client pulls create and chunk reads pin as
  om.admission_wait = kObjectStoreFullWait;
  // A served chunk's pin is dropped where its connection finishes the write.
  om.run_on_manager_thread = [this](std::function<void()> release) { loop_.Post(std::move(release)); };
  object_manager_ = std::make_unique<object_manager::ObjectManager>(*store_, arena_->base(), *peers_, om);

  // A FakeClock never fires the cluster view timer by itself: its moves do.
  clock_wakeup_ = options_.clock->OnAdvance([this] { loop_.Post([this] { OnClockAdvanced(); }); });
  server_ = std::make_unique<rpc::Server>(loop_, options_.token, &dispatcher_);
  server_->SetConnectHandler([this](const rpc::ConnectionPtr &conn) {
    auto client = std::make_shared<Client>();
    client->id = next_client_id_++;
    client->conn = conn;
    conn->user_data = client;
    client_conns_[client->id] = conn;
    conn->SetCloseHandler([this, client](const Status &) {
      client_conns_.erase(client->id);
      wanted_sent_.erase(client->id);
      UnpublishClient(*client);
      OnClientClosed(client);
    });
  });
  LUMEN_RETURN_IF_ERROR(server_->ListenUnix(options_.unix_path));
  auto port = server_->ListenTcp(options_.tcp_host, options_.tcp_port);
  if (!port.ok()) return port.status();
  tcp_address_ = "tcp:" + options_.tcp_host + ":" + std::to_string(*port);
  if (!rpc::IsLoopbackHost(options_.tcp_host))
    LUMEN_LOG_WARN(
        "listening on {}:{}, a non-loopback address: other machines can reach this node "
        "(every connection must still prove the cluster token)",
        options_.tcp_host, *port);

  // Register with the control service; if it goes away, the node shuts down.
  // The control service also calls us on this connection (actor leases, kills).
  // A local control service is reached without waiting for its handshake
  // (the registration below follows the hello and fails if it is refused):
  // one round trip less on the path of every ray::Init.
  const std::string &control_addr = options_.control_address;
  const bool local = control_addr.rfind("unix:", 0) == 0 || (!control_addr.empty() && control_addr[0] == '/');
  auto connect = [&] {
    return local ? rpc::ConnectPipelined(loop_, control_addr, options_.token, &dispatcher_)
                 : rpc::Connect(loop_, control_addr, options_.token, &dispatcher_);
  };
  auto control = connect();
  for (auto until = std::chrono::steady_clock::now() + options_.control_wait;
       !control.ok() && control.status().code() == StatusCode::kIoError &&
       std::chrono::steady_clock::now() < until;) {
    // Not listening yet; it starts alongside us, so it will be soon.
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    control = connect();
  }
  if (!control.ok()) return control.status();
  control_ = control.value();
  auto control_client = std::make_shared<Client>();
  control_client->id = next_client_id_++;
  control_client->kind = proto::TOOL;
  control_->user_data = control_client;
  control_->SetCloseHandler([this](const Status &) {
    LUMEN_LOG_WARN("lost the control service; shutting down the node");
    RequestShutdown();
  });
  proto::NodeInfo info;
  info.set_node_id(node_id_.Binary());
  info.set_node_ip(options_.node_ip);
  info.set_raylet_address("unix:" + options_.unix_path);
  info.set_tcp_address(tcp_address_);
  resources_.total().ToProto(info.mutable_total());
  info.set_pid(getpid());
  info.set_session_dir(options_.session_dir);
  info.set_for_driver(options_.for_driver);
  proto::RegisterNodeReply reply;
  LUMEN_RETURN_IF_ERROR(control_->CallSync(proto::REGISTER_NODE, info, &reply));

  loop_.Post([this] {
    pool_.WatchChildren(
        loop_.io(), [this](const WorkerID &id, const std::string &why) { OnWorkerGone(id, why); },
        [this](pid_t pid, const std::string &why) { OnOtherChildExited(pid, why); });
    ScheduleIdleCheck();
    StartLogShipper();
  });
  LUMEN_LOG_INFO("node {} up: resources {}, store {} bytes", node_id_.Hex(), resources_.total().ToString(),
                 options_.store_capacity);
  return Status::OK();
}

void NodeService::StartLogShipper() {
  log_shipper_ = std::make_unique<LogShipper>(
      loop_.io(), node_id_.Binary(), options_.session_dir,
      [this](const proto::NodeLogBatch &batch, std::function<void(StatusOr<bool>)> done) {
        control_->Call(proto::SHIP_NODE_LOGS, batch, [done](Status st, std::string_view body) {
          proto::NodeLogReply reply;
          if (st.ok() && !rpc::ParseBody(body, &reply))
            st = Status::Internal("malformed SHIP_NODE_LOGS reply");
          if (!st.ok()) return done(st);
          done(reply.wanted());
        });
      });
  log_shipper_->Start();
}

void NodeService::FlushLogs() {
  auto flushed = std::make_shared<std::promise<void>>();
  auto fut = flushed->get_future();
  loop_.Post([this, flushed] {
    if (!log_shipper_ || !control_) return flushed->set_value();
    log_shipper_->Stop();
    log_shipper_->Flush([flushed] { flushed->set_value(); });
  });
  // Bounded: a control service that does not answer does not hold the stop.
  (void)fut.wait_for(kNodeLogFlushWait);
}

void NodeService::RequestShutdown() {
  {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    shutdown_ = true;
  }
  shutdown_cv_.notify_all();
}

void NodeService::WaitForShutdown() {
  std::unique_lock<std::mutex> lock(shutdown_mu_);
  shutdown_cv_.wait(lock, [this] { return shutdown_; });
}

void NodeService::Stop() {
  if (stopped_.exchange(true)) return;
  clock_wakeup_.Reset();  // nothing more posted by the clock
  // Kill every worker we know of; the fork servers die with their drivers.
  // The exec'd ones are our children: reaped here, on the caller's thread,
  // so that they are gone when Stop returns without the loop blocking.
  // The job programs started here (fork servers of jobs whose driver is
  // elsewhere) end when their connection closes, killing their workers:
  // waited for too, so that nothing of a job remains once Stop returns.
  struct Children {
    std::vector<pid_t> workers;   // exec'd workers
    std::vector<pid_t> programs;  // job programs
  };
  auto done = std::make_shared<std::promise<Children>>();
  auto fut = done->get_future();
  loop_.Post([this, done] {
    Children children;
    children.workers = pool_.KillAll();
    for (auto &[id, job] : jobs_)
      if (job->workers.fork_server) job->workers.fork_server->Close();
    for (auto &[pid, job] : program_pids_) children.programs.push_back(pid);
    log_monitor_.Stop();
    if (idle_timer_) idle_timer_->cancel();
    if (cluster_view_timer_) cluster_view_timer_->cancel();
    done->set_value(std::move(children));
  });
  if (fut.wait_for(kNodeStopWait) == std::future_status::ready) {
    Children children = fut.get();
    for (pid_t pid : children.workers) waitpid(pid, nullptr, 0);  // ECHILD if the loop reaped it first
    for (pid_t pid : children.programs) {
      if (!ReapWithin(pid, kForkServerStopGrace)) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  }
  // What the node and its workers wrote last reaches the head before the
  // connection goes.
  if (control_) FlushLogs();
  if (server_) server_->Stop();
  if (control_) {
    control_->SetCloseHandler(nullptr);
    control_->Close();
  }
  arena_server_.Stop();
  if (arena_) arena_->StopPrefault();
  RequestShutdown();
  loop_.Stop();
}

std::shared_ptr<NodeService::Client> NodeService::ClientOf(const rpc::ConnectionPtr &conn) const {
  return std::static_pointer_cast<Client>(conn->user_data);
}

void NodeService::RegisterHandlers() {
  // Handlers name their request's type (rpc::Dispatcher parses it for them).
  using namespace proto;
  dispatcher_.Register(proto::REGISTER_CLIENT,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, RegisterClientRequest &req) {
                         HandleRegisterClient(conn, call_id, req);
                       });
  RegisterLeaseHandlers();
  RegisterObjectHandlers();
  RegisterWorkerAndNodeHandlers();
  RegisterJobHandlers();
  RegisterTransferHandlers();
}

// Leases of workers: requested, canceled, returned; a leased worker blocked
// in Get lends its CPU back.
void NodeService::RegisterLeaseHandlers() {
  using namespace proto;
  dispatcher_.Register(proto::REQUEST_WORKER_LEASE,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, WorkerLeaseRequest &req) {
                         auto p = std::make_shared<PendingLease>();
                         p->conn = conn;
                         p->call_id = call_id;
                         p->job_id = req.job_id();
                         p->request = ResourceSet::FromProto(req.resources());
                         p->for_actor = req.for_actor();
                         p->hold = p->for_actor ? ResourceSet::FromProto(req.hold()) : p->request;
                         p->detached = req.detached();
                         p->env = EnvVarsOf(req.runtime_env());
                         p->env_key = EnvKey(p->env);
                         p->spill_hops = req.spill_hops();
                         pending_.push_back(std::move(p));
                         TryDispatch();
                       });

  dispatcher_.Register(proto::CANCEL_WORKER_LEASES,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, WorkerLeaseRequest &req) {
                         ResourceSet shape = ResourceSet::FromProto(req.resources());
                         std::string env_key = EnvKey(EnvVarsOf(req.runtime_env()));
                         for (auto it = pending_.begin(); it != pending_.end();) {
                           auto &p = **it;
                           if (p.conn == conn && !p.for_actor && p.request == shape && p.env_key == env_key) {
                             proto::WorkerLeaseReply reply;
                             reply.set_granted(false);
                             reply.set_refusal(proto::LEASE_CANCELED);
                             reply.set_error("canceled");
                             p.conn->Reply(p.call_id, reply);
                             it = pending_.erase(it);
                           } else {
                             ++it;
                           }
                         }
                       });

  dispatcher_.Register(proto::RETURN_WORKER,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, ReturnWorkerRequest &req) {
                         auto it = leases_.find(req.lease_id());
                         if (it == leases_.end()) return;
                         auto w = pool_.Find(it->second);
                         leases_.erase(it);
                         if (!w) return;
                         ReleaseLease(*w);
                         if (req.worker_failed() || w->actor) {
                           if (w->pid > 0) kill(w->pid, SIGKILL);
                           OnWorkerGone(w->id, "returned as failed");
                         } else {
                           auto job = jobs_.find(w->job_id);
                           if (job != jobs_.end()) pool_.ReturnIdle(job->second->workers, *w);
                         }
                         TryDispatch();
                       });

  auto blocked = [this](bool is_blocked) {
    return [this, is_blocked](const rpc::ConnectionPtr &conn, uint64_t, std::string_view) {
      auto client = ClientOf(conn);
      auto found = pool_.Find(client->worker_id);
      if (!found || found->lease_id == 0) return;
      auto &w = *found;
      if (is_blocked && w.lent_back.Empty()) {
        // A task waiting in Get gives its CPU back so nested tasks can run.
        w.lent_back = w.grant.amounts.Only("CPU");
        resources_.Lend(w.lent_back);
        TryDispatch();
      } else if (!is_blocked && !w.lent_back.Empty()) {
        resources_.Unlend(w.lent_back);  // may oversubscribe briefly, as in Ray
        w.lent_back = ResourceSet();
      }
    };
  };
  dispatcher_.Register(proto::NOTIFY_BLOCKED, blocked(true));
  dispatcher_.Register(proto::NOTIFY_UNBLOCKED, blocked(false));
}

// The object store's calls from this node's clients.
void NodeService::RegisterObjectHandlers() {
  using namespace proto;
  dispatcher_.Register(proto::CREATE_OBJECT,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, CreateObjectRequest &req) {
                         auto client = ClientOf(conn);
                         store_->Create(ObjectID::FromBinary(req.object_id()), req.data_size(),
                                        req.meta_size(), client->id, std::chrono::milliseconds(req.wait_ms()),
                                        [conn, call_id](StatusOr<object_store::ObjectInfo> info) {
                                          if (!info.ok()) {
                                            conn->ReplyError(call_id, info.status());
                                            return;
                                          }
                                          proto::CreateObjectReply reply;
                                          reply.set_offset(info->offset);
                                          conn->Reply(call_id, reply);
                                        });
                       });
  dispatcher_.Register(proto::SEAL_OBJECT,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, SealObjectRequest &req) {
                         Status st = store_->Seal(ObjectID::FromBinary(req.object_id()), ClientOf(conn)->id);
                         if (!call_id) return;
                         if (st.ok()) {
                           conn->Reply(call_id, proto::SealObjectReply());
                         } else {
                           conn->ReplyError(call_id, st);
                         }
                       });
  dispatcher_.Register(proto::ABORT_OBJECT,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, ObjectIdList &req) {
                         for (auto &id : req.object_ids())
                           (void)store_->Abort(ObjectID::FromBinary(id), ClientOf(conn)->id);
                       });
  dispatcher_.Register(proto::GET_OBJECTS,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, GetObjectsRequest &req) {
                         proto::GetObjectsReply reply;
                         auto client = ClientOf(conn);
                         for (auto &id : req.object_ids()) {
                           auto *loc = reply.add_objects();
                           auto info = store_->Get(ObjectID::FromBinary(id), client->id);
                           if (!info.ok()) continue;
                           loc->set_found(true);
                           loc->set_offset(info->offset);
                           loc->set_data_size(info->data_size);
                           loc->set_meta_size(info->meta_size);
                         }
                         conn->Reply(call_id, reply);
                       });
  dispatcher_.Register(proto::RELEASE_OBJECTS,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, ObjectIdList &req) {
                         auto client = ClientOf(conn);
                         for (auto &id : req.object_ids())
                           (void)store_->Release(ObjectID::FromBinary(id), client->id);
                       });
  dispatcher_.Register(proto::DELETE_OBJECTS,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, ObjectIdList &req) {
                         for (auto &id : req.object_ids()) store_->Delete(ObjectID::FromBinary(id));
                       });
}

void NodeService::RegisterWorkerAndNodeHandlers() {
  using namespace proto;
  dispatcher_.Register(proto::WORKER_EXITED,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, WorkerExited &req) {
                         WorkerID id = pool_.FindByPid(req.pid());
                         if (id.IsNil()) return;
                         auto why = req.signal() ? "killed by signal " + std::to_string(req.signal())
                                                 : "exited with code " + std::to_string(req.exit_code());
                         OnWorkerGone(id, why);
                       });

  // Lets ray::Init return once the job can run a task (its first prestarted
  // worker is up), so a first task does not wait for a worker to start.
  dispatcher_.Register(proto::WAIT_FOR_WORKERS,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, WaitForWorkersRequest &req) {
                         proto::WaitForWorkersReply reply;
                         auto it = jobs_.find(req.job_id());
                         if (it == jobs_.end() || !WorkersOnTheWay(*it->second) || req.timeout_ms() == 0) {
                           if (it != jobs_.end()) reply.set_num_workers(it->second->workers.registered);
                           conn->Reply(call_id, reply);
                           return;
                         }
                         std::weak_ptr<Job> job = it->second;
                         uint64_t seq = next_waiter_seq_++;
                         it->second->worker_waiters[seq] = {conn, call_id};
                         auto timer = std::make_shared<boost::asio::steady_timer>(
                             loop_.io(), std::chrono::milliseconds(req.timeout_ms()));
                         timer->async_wait([job, seq, timer](const boost::system::error_code &) {
                           auto j = job.lock();
                           if (!j) return;
                           auto w = j->worker_waiters.find(seq);
                           if (w == j->worker_waiters.end()) return;  // answered already
                           w->second.first->Reply(w->second.second, proto::WaitForWorkersReply());
                           j->worker_waiters.erase(w);
                         });
                       });

  // The control service's health check (control/node_health.h): answered
  // from this loop, so a hung loop is seen as a dead node.
  dispatcher_.Register(proto::NODE_HEALTH_CHECK,
                       [](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                         if (call_id) conn->Reply(call_id, proto::NodeEmpty());
                       });
  dispatcher_.Register(proto::NODE_STATS,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view body) {
                         proto::NodeStatsRequest request;  // empty (older callers): usage only
                         (void)rpc::ParseBody(body, &request);
                         proto::NodeStatsReply reply;
                         resources_.total().ToProto(reply.mutable_total());
                         resources_.available().ToProto(reply.mutable_available());
                         reply.set_num_workers(static_cast<int>(pool_.workers().size()));
                         size_t idle = 0;
                         for (auto &[id, job] : jobs_) idle += pool_.CountIdle(job->workers);
                         reply.set_num_idle_workers(static_cast<int>(idle));
                         auto stats = store_->Stats();
                         reply.set_store_used(stats.used);
                         reply.set_store_capacity(stats.capacity);
                         reply.set_store_objects(stats.num_objects);
                         for (auto &[id, w] : pool_.workers())
                           if (w->pid > 0) reply.add_worker_pids(w->pid);
                         for (auto &p : pending_) {
                           proto::PendingDemand *demand = reply.add_pending();
                           p->request.ToProto(demand->mutable_shape());
                           demand->set_for_actor(p->for_actor);
                         }
                         for (uint32_t job : StartableJobs()) reply.add_startable_jobs(job);
                         if (request.with_workers()) AddWorkersTo(&reply);
                         if (request.with_objects()) AddObjectsTo(&reply);
                         if (request.with_processes()) AddProcessesTo(&reply);
                         if (call_id) conn->Reply(call_id, reply);
                       });

  dispatcher_.Register(proto::RESERVE_BUNDLES,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, ReserveBundlesRequest &req) {
                         if (resources_.HasGroup(req.group_id())) {
                           conn->Reply(call_id, proto::NodeEmpty());
                           return;
                         }
                         auto p = std::make_shared<PendingBundles>();
                         p->conn = conn;
                         p->call_id = call_id;
                         p->group = req.group_id();
                         for (auto &b : req.bundles()) p->bundles.push_back(ResourceSet::FromProto(b));
                         pending_bundles_.push_back(std::move(p));
                         TryDispatch();
                       });
  // The two phases of a reservation across nodes: the control service has
  // chosen this node from what it saw free, so a prepare that does not fit
  // now fails at once (the control service cancels the group's other
  // prepares and tries again later) instead of waiting here.
  dispatcher_.Register(proto::PREPARE_BUNDLES, [this](const rpc::ConnectionPtr &conn, uint64_t call_id,
                                                      proto::PrepareBundlesRequest &req) {
    std::vector<NodeResources::IndexedBundle> bundles;
    for (auto &b : req.bundles()) bundles.emplace_back(b.index(), ResourceSet::FromProto(b.resources()));
    proto::PrepareBundlesReply reply;
    reply.set_prepared(resources_.Prepare(req.group_id(), bundles));
    if (reply.prepared())
      LUMEN_LOG_INFO("prepared {} bundle(s) of placement group {}", bundles.size(), req.group_id());
    if (call_id) conn->Reply(call_id, reply);
  });
  dispatcher_.Register(proto::COMMIT_BUNDLES, [this](const rpc::ConnectionPtr &conn, uint64_t call_id,
                                                     proto::CommitBundlesRequest &req) {
    bool ok = resources_.Commit(req.group_id());
    if (ok) LUMEN_LOG_INFO("committed the bundles of placement group {}", req.group_id());
    if (call_id && ok) conn->Reply(call_id, proto::NodeEmpty());
    if (call_id && !ok) conn->ReplyError(call_id, Status::NotFound("placement group not prepared here"));
    TryDispatch();  // work waiting for the group's names may run now
  });
  dispatcher_.Register(proto::RETURN_BUNDLES,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, ReturnBundlesRequest &req) {
                         ReturnBundles(req.group_id());
                         TryDispatch();
                       });

  dispatcher_.Register(
      proto::KILL_WORKER, [this](const rpc::ConnectionPtr &conn, uint64_t, KillWorkerRequest &req) {
        // Its lease goes back now, not when its connection
        // closes: a SIGKILLed process runs no more user code,
        // and the kernel's teardown of it (a millisecond on
        // this kind of VM) would otherwise hold the next
        // actor's resources. Short-lived actors (a Tune trial
        // each) start that much sooner.
        KillWorkers({WorkerID::FromBinary(req.worker_id())}, "killed by the control service");
      });

  dispatcher_.Register(proto::SHUTDOWN_NODE,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                         if (call_id) conn->Reply(call_id, proto::NodeEmpty());
                         RequestShutdown();
                       });
}

void NodeService::TryReserveBundles() {
  for (auto it = pending_bundles_.begin(); it != pending_bundles_.end();) {
    auto &p = **it;
    if (!p.conn->IsOpen()) {
      it = pending_bundles_.erase(it);
      continue;
    }
    if (!resources_.CanReserve(p.bundles)) {
      ResourceSet sum;
      for (auto &b : p.bundles) sum.Add(b);
      if (!p.warned && !resources_.total().Contains(sum)) {
        p.warned = true;
        LUMEN_LOG_WARN("placement group {} needs {} but this node has {} in total; it stays pending", p.group,
                       sum.ToString(), resources_.total().ToString());
      }
      ++it;
      continue;
    }
    resources_.Reserve(p.group, p.bundles);
    LUMEN_LOG_INFO("reserved {} bundle(s) for placement group {}", p.bundles.size(), p.group);
    p.conn->Reply(p.call_id, proto::NodeEmpty());
    it = pending_bundles_.erase(it);
  }
}

void NodeService::ReturnBundles(const std::string &group) {
  for (auto it = pending_bundles_.begin(); it != pending_bundles_.end();) {
    if ((*it)->group == group) {
      (*it)->conn->ReplyError((*it)->call_id, Status::Cancelled("placement group removed"));
      it = pending_bundles_.erase(it);
    } else {
      ++it;
    }
  }
  // Work running in the group's bundles ends with it (as in Ray).
  std::vector<WorkerID> doomed;
  for (auto &[id, w] : pool_.workers())
    for (auto &[name, v] : w->grant.amounts.fixed())
      if (name.size() > group.size() && name.compare(name.size() - group.size(), group.size(), group) == 0 &&
          name.find("_group_") != std::string::npos) {
        doomed.push_back(id);
        break;
      }
  KillWorkers(doomed, "its placement group was removed");  // their leases free the group's resources
  resources_.ReturnGroup(group);
}

void NodeService::NotifyLeasesWanted(uint64_t requester) {
  auto now = options_.clock->Now();
  for (auto &[id, w] : pool_.workers()) {
    if (w->lease_id == 0 || w->actor || w->lease_holder == requester || w->lease_holder == 0) continue;
    auto &last = wanted_sent_[w->lease_holder];
    if (now - last < kLeasesWantedThrottle) continue;
    auto conn = client_conns_.count(w->lease_holder) ? client_conns_[w->lease_holder].lock() : nullptr;
    if (!conn) continue;
    last = now;
    conn->Notify(proto::LEASES_WANTED, proto::NodeEmpty());
  }
}

void NodeService::ScheduleIdleCheck() {
  idle_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io(), kIdleCheckInterval);
  idle_timer_->async_wait([this](const boost::system::error_code &ec) {
    if (ec) return;
    ReapIdleWorkers();
    ScheduleIdleCheck();
  });
}

void NodeService::ReapIdleWorkers() {
  std::vector<JobWorkers *> jobs;
  for (auto &[id, job] : jobs_) jobs.push_back(&job->workers);
  auto idle = pool_.IdleToReap(jobs, kIdleWorkerGrace);
  if (!idle.empty()) KillWorkers(idle, "idle past its grace period, beyond the pool's size");
}

bool NodeService::CheckIdleWorkers() {
  auto done = std::make_shared<std::promise<void>>();  // outlives a caller that stops waiting
  auto fut = done->get_future();
  loop_.Post([this, done] {
    ReapIdleWorkers();
    done->set_value();
  });
  return fut.wait_for(kDefaultCallTimeout) == std::future_status::ready;
}

void NodeService::TryDispatch() {
  TryReserveBundles();
  // Per job and env: how many more workers the grantable requests need.
  struct Need {
    int count = 0;
    std::map<std::string, std::string> env;
  };
  std::map<std::pair<uint32_t, std::string>, Need> need;
  std::vector<const PendingLease *> waiting;  // for workers to start, in order
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto &p = **it;
    if (!p.conn->IsOpen()) {
      it = pending_.erase(it);
      continue;
    }
    auto job_it = jobs_.find(p.job_id);
    if (job_it == jobs_.end() && control_) {
      // A job whose driver is on another node: its lease waits while this
      // node learns the job and starts its fork server.
      LearnJob(p.job_id);
      job_it = jobs_.find(p.job_id);
    }
    if (job_it == jobs_.end() && p.spill_hops > 0) {
      // Spilled here by another node for a job whose workers cannot start
      // here yet: it waits until they can, rather than fail.
      if (!p.reported_unknown_job)
        LUMEN_LOG_INFO(
            "lease request {} spilled here for job {}, which cannot start workers on this node yet",
            p.request.ToString(), p.job_id);
      p.reported_unknown_job = true;
      ++it;
      continue;
    }
    if (job_it == jobs_.end()) {
      p.conn->ReplyError(p.call_id, Status::NotFound("unknown job"));
      it = pending_.erase(it);
      continue;
    }
    auto &job = *job_it->second;
    if (!job.workers.cannot_start.empty() && !CanStillServe(p, job)) {
      proto::WorkerLeaseReply reply;
      reply.set_granted(false);
      reply.set_refusal(proto::LEASE_REFUSED);
      reply.set_error(job.workers.cannot_start);
      p.conn->Reply(p.call_id, reply);
      it = pending_.erase(it);
      continue;
    }
    if (!p.for_actor) {
      const LeasePlace place = PlaceLease(p);
      if (place == LeasePlace::kMoved) {
        it = pending_.erase(it);
        continue;
      }
      if (place == LeasePlace::kWaitForView) {
        ++it;
        continue;
      }
    }
    if (!resources_.total().Contains(p.request)) {
      if (!p.warned) {
        p.warned = true;
        LUMEN_LOG_WARN("lease request {} held back: more than this node has (total {}); it stays pending",
                       p.request.ToString(), resources_.total().ToString());
      }
      ++it;
      continue;
    }
    if (!resources_.CanGrant(p.request)) {
      if (!p.reported_waiting) {
        // Once per request: what an operator (or a test) reads to know that
        // work waits for resources rather than for a worker.
        p.reported_waiting = true;
        LUMEN_LOG_INFO("lease request {} held back: not free now (available {})", p.request.ToString(),
                       resources_.available().ToString());
      }
      auto requester = ClientOf(p.conn);
      NotifyLeasesWanted(requester ? requester->id : 0);
      ++it;
      continue;
    }
    // What the lease would get now decides which workers can serve it.
    const auto env = WorkerEnvFor(p, PreviewGpus(p, {}));
    if (p.detached) {
      if (DispatchDetached(p, job, env)) {
        it = pending_.erase(it);
      } else {
        ++it;
      }
      continue;
    }
    auto worker = pool_.TakeIdle(job.workers, EnvKey(env));
    if (!worker) {
      // A worker is started for it. Devices go to the requests in order:
      // those waiting ahead of it will likely take the first free ones.
      auto planned = WorkerEnvFor(p, PreviewGpus(p, waiting));
      waiting.push_back(&p);
      auto &n = need[{p.job_id, EnvKey(planned)}];
      n.count++;
      n.env = std::move(planned);
      ++it;
      continue;
    }
    GrantLease(p, *worker);
    if (p.for_actor) pool_.Replenish(job.workers, *worker);  // it leaves the pool for good
    it = pending_.erase(it);
  }
  for (auto &[key, n] : need) {
    auto &job = jobs_[key.first]->workers;
    while (job.starting_by_env[key.second] < n.count && pool_.CanStartMore()) {
      WorkerID victim = pool_.IdleToMakeRoomFor(job, key.second);
      if (!victim.IsNil()) KillWorkers({victim}, "idle, and a worker with other env_vars is needed");
      if (pool_.Start(job, false, n.env).IsNil()) break;  // none can start now
    }
  }
}

NodeService::LeasePlace NodeService::PlaceLease(PendingLease &p) {
  proto::WorkerLeaseReply spill;
  LeasePlace place = PlaceNormalLease(p.request, p.job_id, p.spill_hops, p.decided_on_view, &spill);
  if (place == LeasePlace::kMoved) p.conn->Reply(p.call_id, spill);
  return place;
}

std::vector<uint32_t> NodeService::StartableJobs() const {
  std::vector<uint32_t> out;
  for (auto &[id, job] : jobs_)
    if (job->workers.cannot_start.empty()) out.push_back(id);
  return out;
}

bool NodeService::DispatchDetached(PendingLease &p, Job &job, const std::map<std::string, std::string> &env) {
  // A detached actor gets a worker of its own that is not tied to the
  // job's fork server, so it survives the driver.
  auto r = p.reserved.IsNil() ? nullptr : pool_.Find(p.reserved);
  if (r && r->registered && r->env_key != EnvKey(env)) {
    // Started for devices that other leases took meanwhile.
    KillWorkers({r->id}, "its devices went to another lease while it started");
    r = nullptr;
  }
  if (!r) {
    p.reserved = pool_.Start(job.workers, /*detached=*/true, env);
    return false;
  }
  if (!r->registered) return false;
  GrantLease(p, *r);
  return true;
}

std::vector<int> NodeService::PreviewGpus(const PendingLease &p,
                                          const std::vector<const PendingLease *> &ahead) const {
  if (options_.gpu_ids.empty() || !resources_.CanGrant(p.request)) return {};
  NodeResources trial = resources_;
  for (auto *q : ahead)
    if (trial.CanGrant(q->request)) trial.Allocate(q->request, q->hold);
  if (!trial.CanGrant(p.request)) trial = resources_;
  return GpuIds(trial.Allocate(p.request, p.hold).gpus);
}

std::map<std::string, std::string> NodeService::WorkerEnvFor(const PendingLease &p,
                                                             const std::vector<int> &gpus) const {
  auto env = p.env;
  // On a node with GPUs, work sees exactly the devices its lease holds, and
  // work granted none sees none (as in Ray, CUDA_VISIBLE_DEVICES is empty for
  // it), so that it cannot use a device another lease holds.
  if (!options_.gpu_ids.empty()) {
    std::string ids;
    for (int id : gpus) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    env["CUDA_VISIBLE_DEVICES"] = ids;
  }
  return env;
}

bool NodeService::CanStillServe(PendingLease &p, Job &job) {
  if (p.detached) {
    auto r = p.reserved.IsNil() ? nullptr : pool_.Find(p.reserved);
    return r && r->registered;
  }
  return pool_.HasIdle(job.workers, EnvKey(WorkerEnvFor(p, PreviewGpus(p, {}))));
}

bool NodeService::WorkersOnTheWay(const Job &job) const { return WorkerPool::WorkersOnTheWay(job.workers); }

void NodeService::AnswerWorkerWaiters(Job &job) {
  proto::WaitForWorkersReply reply;
  reply.set_num_workers(job.workers.registered);
  for (auto &[seq, waiter] : job.worker_waiters) waiter.first->Reply(waiter.second, reply);
  job.worker_waiters.clear();
}

void NodeService::GrantLease(PendingLease &req, Worker &worker) {
  worker.lease_id = next_lease_id_++;
  worker.grant = resources_.Allocate(req.request, req.hold);
  // The worker was chosen for these devices (PreviewGpus): the same state
  // gives the same grant.
  if (EnvKey(WorkerEnvFor(req, GpuIds(worker.grant.gpus))) != worker.env_key)
    LUMEN_LOG_ERROR("lease {} got devices its worker was not started with", worker.lease_id);
  auto holder = ClientOf(req.conn);
  worker.lease_holder = holder ? holder->id : 0;
  worker.actor = req.for_actor;
  leases_[worker.lease_id] = worker.id;
  proto::WorkerLeaseReply reply;
  reply.set_granted(true);
  reply.set_lease_id(worker.lease_id);
  reply.set_pid(worker.pid);
  for (int id : GpuIds(worker.grant.gpus)) reply.add_gpu_ids(id);
  *reply.mutable_worker() = worker.address;
  req.conn->Reply(req.call_id, reply);
}

void NodeService::ReleaseLease(Worker &worker) {
  if (worker.lease_id == 0) return;
  resources_.Release(worker.grant);
  resources_.Unlend(worker.lent_back);  // the lent-back part was available already
  worker.lent_back = ResourceSet();
  worker.grant = NodeResources::Grant();
  leases_.erase(worker.lease_id);
  worker.lease_id = 0;
}

void NodeService::OnWorkerGone(const WorkerID &id, const std::string &why) {
  auto w = pool_.Find(id);
  if (!w) return;
  LUMEN_LOG_INFO("worker {} (pid {}) gone: {}", id.Hex(), w->pid, why);
  ReleaseLease(*w);
  auto job = jobs_.find(w->job_id);
  pool_.Remove(id, job != jobs_.end() ? &job->second->workers : nullptr);
  if (job != jobs_.end() && !w->registered && !WorkersOnTheWay(*job->second))
    AnswerWorkerWaiters(*job->second);  // it died starting
  if (w->conn) w->conn->Close();
  log_monitor_.RemoveWorker(w->pid);  // what it wrote last still reaches the driver
  TryDispatch();
}

void NodeService::KillWorkers(const std::vector<WorkerID> &ids, const std::string &why) {
  for (auto &id : ids) {
    auto w = pool_.Find(id);
    if (!w) continue;
    if (w->pid > 0) kill(w->pid, SIGKILL);
    OnWorkerGone(id, why);  // releases its lease
  }
}

void NodeService::KillJobWorkers(uint32_t job_id) {
  std::vector<WorkerID> doomed;
  for (auto &[id, w] : pool_.workers())
    if (w->job_id == job_id && !w->detached) doomed.push_back(id);
  KillWorkers(doomed, "job finished");
}

void NodeService::OnClientClosed(const std::shared_ptr<Client> &client) {
  store_->DisconnectClient(client->id);
  // Workers leased to a process that is gone would otherwise stay leased (and
  // their resources taken) for good. What they run was that process's work,
  // so they are stopped, as Ray's raylet does.
  std::vector<WorkerID> orphaned;
  for (auto &[id, w] : pool_.workers())
    if (w->lease_id != 0 && w->lease_holder == client->id && id != client->worker_id) orphaned.push_back(id);
  KillWorkers(orphaned, "its lease holder exited");
  if (client->kind == proto::WORKER) {
    OnWorkerGone(client->worker_id, "disconnected");
  } else if (client->kind == proto::DRIVER) {
    LUMEN_LOG_INFO("driver of job {} disconnected; stopping its workers", client->job_id);
    auto job = jobs_.find(client->job_id);
    if (job != jobs_.end()) {
      if (job->second->workers.fork_server) job->second->workers.fork_server->Close();
      KillJobWorkers(client->job_id);
      jobs_.erase(job);
    }
  } else if (client->kind == proto::FORK_SERVER && !stopped_) {
    // (While stopping, the node closed it itself: its lease requests are not
    // refused for a fork server's death; the node's own end tells the driver.)
    auto job = jobs_.find(client->job_id);
    if (job != jobs_.end() && job->second->workers.fork_server == client->conn.lock()) {
      LUMEN_LOG_ERROR("the fork server (pid {}) of job {} died; its lease requests that need a worker fail",
                      client->pid, client->job_id);
      for (auto &id : pool_.OnForkServerLost(job->second->workers)) OnWorkerGone(id, "its fork server died");
      AnswerWorkerWaiters(*job->second);
    }
  }
  TryDispatch();
}

void NodeService::FollowWorkerLogs(const Worker &w) {
  // What a worker prints is for its driver: followed once both are there
  // (from the files' beginning, so nothing printed before is lost). A
  // driver on another node gets it through the control service.
  auto job = jobs_.find(w.job_id);
  if (job == jobs_.end()) return;
  const bool remote_driver = job->second->learned && control_;
  if (!remote_driver && !job->second->driver.lock()) return;
  const std::string logs = WorkerLogPrefix(options_.session_dir, w.pid);
  log_monitor_.AddWorker(
      w.pid, logs + ".out", logs + ".err",
      [this, job_id = w.job_id, pid = w.pid, remote_driver](bool is_err, std::vector<std::string> lines) {
        auto job = jobs_.find(job_id);
        if (job == jobs_.end()) return;
        proto::LogLines msg;
        msg.set_pid(pid);
        msg.set_is_err(is_err);
        for (auto &l : lines) msg.add_lines(std::move(l));
        if (remote_driver) {
          if (!control_) return;
          msg.set_job_id(job_id);
          msg.set_node_ip(options_.node_ip);
          control_->Notify(proto::FORWARD_LOG_LINES, msg);
          return;
        }
        auto driver = job->second->driver.lock();
        if (!driver) return;  // a detached actor's, after its driver
        driver->Notify(proto::LOG_LINES, msg);
      });
}

}  // namespace lumen::scheduler
