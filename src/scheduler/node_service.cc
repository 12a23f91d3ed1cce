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

#include <nlohmann/json.hpp>

#include "base/child_process.h"
#include "base/logging.h"
#include "base/settings.h"
#include "base/timeouts.h"
#include "protocol/control.pb.h"

namespace lumen::scheduler {

using proto::Address;

struct NodeService::Client {
  uint64_t id = 0;
  proto::ClientKind kind = proto::TOOL;
  WorkerID worker_id;
  int pid = 0;
  uint32_t job_id = 0;
  std::weak_ptr<rpc::Connection> conn;
};

struct NodeService::Worker {
  WorkerID id;
  int pid = 0;
  uint32_t job_id = 0;
  bool registered = false;
  bool exec_child = false;  // started by exec (we reap it), not by a fork server
  bool detached = false;    // hosts a detached actor: outlives its job's driver
  bool reserved = false;    // started for one pending lease; never idle
  bool actor = false;       // dedicated to an actor: never returned to the pool
  std::string env_key;      // EnvKey() of the env_vars it was started with
  rpc::ConnectionPtr conn;
  Address address;
  uint64_t lease_id = 0;
  uint64_t lease_holder = 0;   // the client (connection) the lease was granted to
  NodeResources::Grant grant;  // what the current lease holds
  ResourceSet lent_back;       // CPU returned to the node while the worker is blocked
};

struct NodeService::Job {
  uint32_t id = 0;
  std::weak_ptr<rpc::Connection> driver;
  rpc::ConnectionPtr fork_server;
  std::vector<std::string> code_search_path;
  std::string ray_namespace;
  std::string runtime_env;
  bool expects_fork_server = false;  // workers come from it once it registers
  bool default_detached = false;     // the job's default actor lifetime
  int starting = 0;
  std::map<std::string, int> starting_by_env;  // by EnvKey()
  int registered = 0;                          // workers that have registered (ever)
  // By EnvKey(): a worker only runs work that asks for the env_vars it was
  // started with, so that no task's variables are set in a running process.
  std::map<std::string, std::deque<WorkerID>> idle;
  bool prestarted = false;
  // WAIT_FOR_WORKERS calls not answered yet, by a sequence number (their timers' key).
  std::map<uint64_t, std::pair<rpc::ConnectionPtr, uint64_t>> worker_waiters;
};

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
  WorkerID reserved;  // detached actors: the fresh worker started for this lease
  bool warned = false;
  std::map<std::string, std::string> env;  // the request's runtime_env env_vars
  std::string env_key;                     // EnvKey(env)
};

namespace {

// A runtime_env's env_vars (the submitter validated them; what is not a
// string is left out).
std::map<std::string, std::string> EnvVarsOf(const std::string &runtime_env) {
  std::map<std::string, std::string> vars;
  if (runtime_env.empty()) return vars;
  auto j = nlohmann::json::parse(runtime_env, nullptr, false);
  if (!j.is_object()) return vars;
  auto it = j.find("env_vars");
  if (it == j.end() || !it->is_object()) return vars;
  for (auto &[k, v] : it->items())
    if (v.is_string()) vars[k] = v.get<std::string>();
  return vars;
}

// Which workers can run work with these env_vars: the same set, whatever
// the order or spelling of the JSON that named them.
std::string EnvKey(const std::map<std::string, std::string> &vars) {
  return vars.empty() ? std::string() : nlohmann::json(vars).dump();
}

}  // namespace

NodeService::NodeService(NodeServiceOptions options) : options_(std::move(options)) {
  if (options_.unix_path.empty()) options_.unix_path = options_.session_dir + "/sockets/node";
  // A worker is a process: --num-cpus=1000 on two cores must not start a
  // thousand of them at once, nor one per CPU before any work asks.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (options_.max_starting_workers < 1) options_.max_starting_workers = cores;
  if (options_.prestart_workers < 0) {
    double cpus = options_.resources.count("CPU") ? options_.resources.at("CPU") : 0;
    options_.prestart_workers = static_cast<int>(std::min<double>(std::max(0.0, cpus), cores));
  }
  resources_ = NodeResources(ResourceSet::FromMap(options_.resources), options_.gpu_ids);
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
      OnClientClosed(client);
    });
  });
  LUMEN_RETURN_IF_ERROR(server_->ListenUnix(options_.unix_path));
  auto port = server_->ListenTcp(options_.tcp_host, options_.tcp_port);
  if (!port.ok()) return port.status();

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
  resources_.total().ToProto(info.mutable_total());
  info.set_pid(getpid());
  info.set_session_dir(options_.session_dir);
  proto::RegisterNodeReply reply;
  LUMEN_RETURN_IF_ERROR(control_->CallSync(proto::REGISTER_NODE, info, &reply));

  loop_.Post([this] { WatchChildren(); });
  LUMEN_LOG_INFO("node {} up: resources {}, store {} bytes", node_id_.Hex(), resources_.total().ToString(),
                 options_.store_capacity);
  return Status::OK();
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
  // Kill every worker we know of; the fork servers die with their drivers.
  // The exec'd ones are our children: reaped here, on the caller's thread,
  // so that they are gone when Stop returns without the loop blocking.
  auto done = std::make_shared<std::promise<std::vector<pid_t>>>();
  auto fut = done->get_future();
  loop_.Post([this, done] {
    std::vector<pid_t> children;
    for (auto &[id, w] : workers_) {
      if (w->pid <= 0) continue;
      kill(w->pid, SIGKILL);
      if (w->exec_child) children.push_back(w->pid);
    }
    workers_.clear();
    for (auto &[id, job] : jobs_)
      if (job->fork_server) job->fork_server->Close();
    log_monitor_.Stop();
    if (sigchld_) sigchld_->cancel();
    done->set_value(std::move(children));
  });
  if (fut.wait_for(kNodeStopWait) == std::future_status::ready)
    for (pid_t pid : fut.get()) waitpid(pid, nullptr, 0);  // ECHILD if the loop reaped it first
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
  dispatcher_.Register(proto::REGISTER_CLIENT, [this](const rpc::ConnectionPtr &conn, uint64_t call_id,
                                                      RegisterClientRequest &req) {
    auto client = ClientOf(conn);
    client->kind = req.kind();
    client->pid = req.pid();
    client->job_id = req.job_id();
    client->worker_id = WorkerID::FromBinary(req.worker_id());

    if (req.kind() == proto::DRIVER) {
      auto &job = jobs_[req.job_id()];
      if (!job) job = std::make_shared<Job>();
      job->id = req.job_id();
      job->driver = conn;
      job->code_search_path.assign(req.code_search_path().begin(), req.code_search_path().end());
      job->ray_namespace = req.ray_namespace();
      job->runtime_env = req.job_runtime_env();
      job->expects_fork_server = req.has_fork_server();
      job->default_detached = req.default_detached();
      LUMEN_LOG_INFO("driver pid {} registered job {}", req.pid(), req.job_id());
      for (auto &[id, w] : workers_)
        if (w->registered && w->job_id == job->id) FollowWorkerLogs(*w);
    } else if (req.kind() == proto::FORK_SERVER) {
      auto &job = jobs_[req.job_id()];
      if (!job) job = std::make_shared<Job>();
      job->id = req.job_id();
      job->fork_server = conn;
      job->default_detached = req.default_detached();  // it may come before the driver
      LUMEN_LOG_INFO("fork server pid {} for job {}", req.pid(), req.job_id());
    } else if (req.kind() == proto::WORKER) {
      auto it = workers_.find(client->worker_id);
      if (it == workers_.end()) {
        conn->ReplyError(call_id, Status::NotFound("unknown worker id"));
        return;
      }
      auto &w = *it->second;
      w.registered = true;
      w.pid = req.pid();
      w.conn = conn;
      w.address = req.address();
      w.address.set_node_id(node_id_.Binary());  // a worker that skipped the probe does not know it
      FollowWorkerLogs(w);
      auto job = jobs_.find(w.job_id);
      if (job != jobs_.end()) {
        job->second->starting = std::max(0, job->second->starting - 1);
        job->second->starting_by_env[w.env_key]--;
        job->second->registered++;
        if (!w.reserved) job->second->idle[w.env_key].push_back(w.id);
        AnswerWorkerWaiters(*job->second);
      }
      LUMEN_LOG_INFO("worker {} pid {} registered for job {}", w.id.Hex(), w.pid, w.job_id);
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
    if (auto job = jobs_.find(req.job_id()); job != jobs_.end())
      reply.set_job_default_detached(job->second->default_detached);
    conn->Reply(call_id, reply);

    if (req.kind() == proto::FORK_SERVER || (req.kind() == proto::DRIVER && !req.has_fork_server())) {
      // Prestart a pool sized to the CPUs once the job can make workers.
      auto &job = *jobs_[req.job_id()];
      if (!job.prestarted && (job.fork_server || !options_.worker_program.empty())) {
        job.prestarted = true;
        for (int i = 0; i < options_.prestart_workers; ++i)
          if (StartWorker(job).IsNil()) break;
      }
      if (!WorkersOnTheWay(job)) AnswerWorkerWaiters(job);  // none to wait for (no CPUs)
    }
    TryDispatch();
  });

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
                         auto w = workers_.find(it->second);
                         leases_.erase(it);
                         if (w == workers_.end()) return;
                         ReleaseLease(*w->second);
                         if (req.worker_failed() || w->second->actor) {
                           if (w->second->pid > 0) kill(w->second->pid, SIGKILL);
                           OnWorkerGone(w->first, "returned as failed");
                         } else {
                           auto job = jobs_.find(w->second->job_id);
                           if (job != jobs_.end()) job->second->idle[w->second->env_key].push_back(w->first);
                         }
                         TryDispatch();
                       });

  auto blocked = [this](bool is_blocked) {
    return [this, is_blocked](const rpc::ConnectionPtr &conn, uint64_t, std::string_view) {
      auto client = ClientOf(conn);
      auto it = workers_.find(client->worker_id);
      if (it == workers_.end() || it->second->lease_id == 0) return;
      auto &w = *it->second;
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

  dispatcher_.Register(proto::WORKER_EXITED,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, WorkerExited &req) {
                         for (auto &[id, w] : workers_) {
                           if (w->pid == req.pid()) {
                             auto why = req.signal() ? "killed by signal " + std::to_string(req.signal())
                                                     : "exited with code " + std::to_string(req.exit_code());
                             OnWorkerGone(id, why);
                             break;
                           }
                         }
                       });

  // Lets ray::Init return once the job can run a task (its first prestarted
  // worker is up), so a first task does not wait for a worker to start.
  dispatcher_.Register(proto::WAIT_FOR_WORKERS,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, WaitForWorkersRequest &req) {
                         proto::WaitForWorkersReply reply;
                         auto it = jobs_.find(req.job_id());
                         if (it == jobs_.end() || !WorkersOnTheWay(*it->second) || req.timeout_ms() == 0) {
                           if (it != jobs_.end()) reply.set_num_workers(it->second->registered);
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

  dispatcher_.Register(proto::NODE_STATS,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                         proto::NodeStatsReply reply;
                         resources_.total().ToProto(reply.mutable_total());
                         resources_.available().ToProto(reply.mutable_available());
                         reply.set_num_workers(static_cast<int>(workers_.size()));
                         int idle = 0;
                         for (auto &[id, job] : jobs_)
                           for (auto &[env, ids] : job->idle) idle += static_cast<int>(ids.size());
                         reply.set_num_idle_workers(idle);
                         auto stats = store_->Stats();
                         reply.set_store_used(stats.used);
                         reply.set_store_capacity(stats.capacity);
                         reply.set_store_objects(stats.num_objects);
                         for (auto &[id, w] : workers_)
                           if (w->pid > 0) reply.add_worker_pids(w->pid);
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
  dispatcher_.Register(proto::RETURN_BUNDLES,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, ReturnBundlesRequest &req) {
                         ReturnBundles(req.group_id());
                         TryDispatch();
                       });

  dispatcher_.Register(proto::KILL_WORKER,
                       [this](const rpc::ConnectionPtr &conn, uint64_t, KillWorkerRequest &req) {
                         auto it = workers_.find(WorkerID::FromBinary(req.worker_id()));
                         if (it == workers_.end()) return;
                         if (it->second->pid > 0) kill(it->second->pid, SIGKILL);
                       });

  dispatcher_.Register(proto::SHUTDOWN_NODE,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, std::string_view) {
                         if (call_id) conn->Reply(call_id, proto::NodeEmpty());
                         RequestShutdown();
                       });
}

int NodeService::StartingWorkers() const {
  int n = 0;
  for (auto &[id, job] : jobs_) n += job->starting;
  return n;
}

WorkerID NodeService::StartWorker(Job &job, bool detached, const std::map<std::string, std::string> &env) {
  // Those that wait start as others register (TryDispatch runs then).
  if (StartingWorkers() >= options_.max_starting_workers) return WorkerID::Nil();
  auto w = std::make_shared<Worker>();
  w->id = WorkerID::FromRandom();
  w->job_id = job.id;
  w->detached = detached;
  w->reserved = detached;
  w->env_key = EnvKey(env);
  if (!job.fork_server && job.expects_fork_server) {
    return WorkerID::Nil();  // its fork server is still starting; TryDispatch runs again when it registers
  }
  if (job.fork_server) {
    proto::ForkWorkerRequest req;
    req.set_worker_id(w->id.Binary());
    req.set_detached(detached);
    req.mutable_env()->insert(env.begin(), env.end());
    job.fork_server->Notify(proto::FORK_WORKER, req);
  } else if (!options_.worker_program.empty()) {
    // Generic worker: exec the worker program, which loads the job's libraries.
    std::vector<std::string> args = {
        options_.worker_program,
        "--lumen_node_socket=" + options_.unix_path,
        "--lumen_worker_id=" + w->id.Hex(),
        "--ray_job_id=" + std::to_string(job.id),
        "--ray_session_dir=" + options_.session_dir,
        "--ray_job_namespace=" + job.ray_namespace,
    };
    std::string path;
    for (auto &p : job.code_search_path) path += (path.empty() ? "" : ":") + p;
    args.push_back("--ray_code_search_path=" + path);
    // This process has threads: between fork and exec the child may only
    // make async-signal-safe calls (another thread may have held the heap's
    // lock at the fork), so everything it needs is built here first.
    // Its environment: ours, the job's env_vars, then the lease's (Ray's
    // order: a task's or actor's own env_vars win over the job's).
    auto vars = EnvVarsOf(job.runtime_env);
    for (auto &[k, v] : env) vars[k] = v;
    vars[kClusterTokenVariable] = options_.token;
    std::vector<std::string> environment;
    for (char **e = environ; *e; ++e) {
      std::string_view entry(*e);
      if (!vars.count(std::string(entry.substr(0, entry.find('='))))) environment.emplace_back(entry);
    }
    for (auto &[k, v] : vars) environment.push_back(k + "=" + v);
    std::vector<char *> argv, envp;
    for (auto &a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto &e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
    // The log files are named after the child's pid, which only it knows:
    // it writes its pid into the room left at the end of these names.
    std::string logs = options_.session_dir + "/logs/worker-";
    std::string out_name = logs + std::string(20, '\0'), err_name = out_name;
    const size_t pid_at = logs.size();
    pid_t pid = fork();
    if (pid == 0) {
      char digits[20];
      int n = 0;
      for (pid_t p = getpid(); p > 0 && n < 20; p /= 10) digits[n++] = static_cast<char>('0' + p % 10);
      auto name = [&](std::string &path, const char *suffix) {
        size_t at = pid_at;
        for (int i = n - 1; i >= 0; --i) path[at++] = digits[i];
        for (const char *c = suffix; *c; ++c) path[at++] = *c;
        path[at] = '\0';
        return path.data();
      };
      int out = open(name(out_name, ".out"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      int err = open(name(err_name, ".err"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (out >= 0) dup2(out, STDOUT_FILENO);
      if (err >= 0) dup2(err, STDERR_FILENO);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    if (pid < 0) {
      LUMEN_LOG_ERROR("fork failed for worker: {}", strerror(errno));
      return WorkerID::Nil();
    }
    w->pid = pid;
    w->exec_child = true;
  } else {
    LUMEN_LOG_ERROR("job {} has no way to start workers (no fork server, no worker program)", job.id);
    return WorkerID::Nil();
  }
  job.starting++;
  job.starting_by_env[w->env_key]++;
  workers_[w->id] = w;
  return w->id;
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
  for (auto &[id, w] : workers_)
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
  auto now = std::chrono::steady_clock::now();
  for (auto &[id, w] : workers_) {
    if (w->lease_id == 0 || w->actor || w->lease_holder == requester || w->lease_holder == 0) continue;
    auto &last = wanted_sent_[w->lease_holder];
    if (now - last < std::chrono::milliseconds(20)) continue;  // at most one notice per holder per 20 ms
    auto conn = client_conns_.count(w->lease_holder) ? client_conns_[w->lease_holder].lock() : nullptr;
    if (!conn) continue;
    last = now;
    conn->Notify(proto::LEASES_WANTED, proto::NodeEmpty());
  }
}

void NodeService::TryDispatch() {
  TryReserveBundles();
  // Per job and env: how many more workers the grantable requests need.
  struct Need {
    int count = 0;
    std::map<std::string, std::string> env;
  };
  std::map<std::pair<uint32_t, std::string>, Need> need;
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto &p = **it;
    if (!p.conn->IsOpen()) {
      it = pending_.erase(it);
      continue;
    }
    auto job_it = jobs_.find(p.job_id);
    if (job_it == jobs_.end()) {
      p.conn->ReplyError(p.call_id, Status::NotFound("unknown job"));
      it = pending_.erase(it);
      continue;
    }
    auto &job = *job_it->second;
    if (!resources_.total().Contains(p.request)) {
      if (!p.warned) {
        p.warned = true;
        LUMEN_LOG_WARN("lease request {} cannot be granted on this node now (total {}); it stays pending",
                       p.request.ToString(), resources_.total().ToString());
      }
      ++it;
      continue;
    }
    if (!resources_.CanGrant(p.request)) {
      auto requester = ClientOf(p.conn);
      NotifyLeasesWanted(requester ? requester->id : 0);
      ++it;
      continue;
    }
    if (p.detached) {
      // A detached actor gets a worker of its own that is not tied to the
      // job's fork server, so it survives the driver.
      auto r = p.reserved.IsNil() ? workers_.end() : workers_.find(p.reserved);
      if (r == workers_.end()) {
        p.reserved = StartWorker(job, /*detached=*/true, p.env);
        ++it;
        continue;
      }
      if (!r->second->registered) {
        ++it;
        continue;
      }
      GrantLease(p, *r->second);
      it = pending_.erase(it);
      continue;
    }
    // Skip idle workers that died meanwhile.
    auto &idle = job.idle[p.env_key];
    while (!idle.empty() && !workers_.count(idle.front())) idle.pop_front();
    if (idle.empty()) {
      auto &n = need[{p.job_id, p.env_key}];
      n.count++;
      n.env = p.env;
      ++it;
      continue;
    }
    auto worker = workers_[idle.front()];
    idle.pop_front();
    GrantLease(p, *worker);
    it = pending_.erase(it);
  }
  for (auto &[key, n] : need) {
    auto &job = *jobs_[key.first];
    while (job.starting_by_env[key.second] < n.count && StartingWorkers() < options_.max_starting_workers) {
      MakeRoomForWorker(job, key.second);
      if (StartWorker(job, false, n.env).IsNil()) break;  // none can start now
    }
  }
}

void NodeService::MakeRoomForWorker(Job &job, const std::string &env_key) {
  // Workers dedicated to other env_vars would pile up idle: past the
  // prestarted pool's size, one of them goes for each worker started (as
  // Ray's pool does with workers of other runtime envs).
  if (static_cast<int>(workers_.size()) < std::max(1, options_.prestart_workers)) return;
  for (auto &[key, ids] : job.idle) {
    if (key == env_key) continue;
    while (!ids.empty()) {
      WorkerID victim = ids.front();
      ids.pop_front();
      if (workers_.count(victim)) {
        KillWorkers({victim}, "idle, and a worker with other env_vars is needed");
        return;
      }
    }
  }
}

bool NodeService::WorkersOnTheWay(const Job &job) const {
  if (job.registered > 0) return false;  // here already
  return job.starting > 0 || (job.expects_fork_server && !job.fork_server);
}

void NodeService::AnswerWorkerWaiters(Job &job) {
  proto::WaitForWorkersReply reply;
  reply.set_num_workers(job.registered);
  for (auto &[seq, waiter] : job.worker_waiters) waiter.first->Reply(waiter.second, reply);
  job.worker_waiters.clear();
}

void NodeService::GrantLease(PendingLease &req, Worker &worker) {
  worker.lease_id = next_lease_id_++;
  worker.grant = resources_.Allocate(req.request, req.hold);
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
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  auto w = it->second;
  LUMEN_LOG_INFO("worker {} (pid {}) gone: {}", id.Hex(), w->pid, why);
  ReleaseLease(*w);
  auto job = jobs_.find(w->job_id);
  if (job != jobs_.end() && !w->registered) {
    job->second->starting = std::max(0, job->second->starting - 1);
    job->second->starting_by_env[w->env_key]--;
    if (!WorkersOnTheWay(*job->second)) AnswerWorkerWaiters(*job->second);  // it died starting
  }
  if (w->conn) w->conn->Close();
  log_monitor_.RemoveWorker(w->pid);  // what it wrote last still reaches the driver
  workers_.erase(it);
  TryDispatch();
}

void NodeService::KillWorkers(const std::vector<WorkerID> &ids, const std::string &why) {
  for (auto &id : ids) {
    auto it = workers_.find(id);
    if (it == workers_.end()) continue;
    if (it->second->pid > 0) kill(it->second->pid, SIGKILL);
    OnWorkerGone(id, why);  // releases its lease
  }
}

void NodeService::KillJobWorkers(uint32_t job_id) {
  std::vector<WorkerID> doomed;
  for (auto &[id, w] : workers_)
    if (w->job_id == job_id && !w->detached) doomed.push_back(id);
  KillWorkers(doomed, "job finished");
}

void NodeService::OnClientClosed(const std::shared_ptr<Client> &client) {
  store_->DisconnectClient(client->id);
  // Workers leased to a process that is gone would otherwise stay leased (and
  // their resources taken) for good. What they run was that process's work,
  // so they are stopped, as Ray's raylet does.
  std::vector<WorkerID> orphaned;
  for (auto &[id, w] : workers_)
    if (w->lease_id != 0 && w->lease_holder == client->id && id != client->worker_id) orphaned.push_back(id);
  KillWorkers(orphaned, "its lease holder exited");
  if (client->kind == proto::WORKER) {
    OnWorkerGone(client->worker_id, "disconnected");
  } else if (client->kind == proto::DRIVER) {
    LUMEN_LOG_INFO("driver of job {} disconnected; stopping its workers", client->job_id);
    auto job = jobs_.find(client->job_id);
    if (job != jobs_.end()) {
      if (job->second->fork_server) job->second->fork_server->Close();
      KillJobWorkers(client->job_id);
      jobs_.erase(job);
    }
  } else if (client->kind == proto::FORK_SERVER) {
    auto job = jobs_.find(client->job_id);
    if (job != jobs_.end()) job->second->fork_server.reset();
  }
  TryDispatch();
}

void NodeService::WatchChildren() {
  sigchld_ = std::make_unique<boost::asio::signal_set>(loop_.io(), SIGCHLD);
  sigchld_->async_wait([this](const boost::system::error_code &ec, int) {
    if (ec) return;
    ReapChildren();
    WatchChildren();
  });
  ReapChildren();  // anything that exited before the handler was installed
}

void NodeService::ReapChildren() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto &[id, w] : workers_) {
      if (w->pid == pid) {
        auto why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                       : "exited with code " + std::to_string(WEXITSTATUS(status));
        OnWorkerGone(id, why);
        break;
      }
    }
  }
}

void NodeService::FollowWorkerLogs(const Worker &w) {
  // What a worker prints is for its driver: followed once both are there
  // (from the files' beginning, so nothing printed before is lost).
  auto job = jobs_.find(w.job_id);
  if (job == jobs_.end() || !job->second->driver.lock()) return;
  const std::string logs = WorkerLogPrefix(options_.session_dir, w.pid);
  log_monitor_.AddWorker(w.pid, logs + ".out", logs + ".err",
                         [this, job_id = w.job_id, pid = w.pid](bool is_err, std::vector<std::string> lines) {
                           auto job = jobs_.find(job_id);
                           if (job == jobs_.end()) return;
                           auto driver = job->second->driver.lock();
                           if (!driver) return;  // a detached actor's, after its driver
                           proto::LogLines msg;
                           msg.set_pid(pid);
                           msg.set_is_err(is_err);
                           for (auto &l : lines) msg.add_lines(std::move(l));
                           driver->Notify(proto::LOG_LINES, msg);
                         });
}

}  // namespace lumen::scheduler
