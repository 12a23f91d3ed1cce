#include "worker/core_worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <future>
#include <iostream>
#include <optional>

#include "base/cpu_relax.h"
#include "base/join_threads.h"
#include "base/logging.h"
#include "base/settings.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"
#include "worker/metric_recorder.h"
#include "worker/program_upload.h"

namespace lumen::worker {

// ---------------------------------------------------------------- lifecycle

CoreWorker::CoreWorker(CoreWorkerOptions options)
    : options_(std::move(options)),
      task_events_(CurrentSettings().task_events, static_cast<size_t>(CurrentSettings().task_events_buffer)),
      clock_(*options_.clock),
      refs_(options_.worker_id),
      pid_(getpid()) {
  normal_link_ = std::make_unique<NormalTaskLink>(*this);
  normal_submitter_ =
      std::make_unique<NormalTaskSubmitter>(mu_, clock_, *normal_link_, *normal_link_, task_events_);
  actor_link_ = std::make_unique<ActorTaskLink>(*this);
  actor_submitter_ =
      std::make_unique<ActorTaskSubmitter>(mu_, *actor_link_, *actor_link_, task_events_, clock_);
  // A FakeClock moving past a Get or Wait deadline must wake the caller:
  // sleeping on ready_cv_, or leading the loop (the posted no-op makes it
  // look at its deadline again). The real clock never calls this.
  clock_wakeup_ = clock_.OnAdvance([this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_cv_.notify_all();
    }
    loop_.Post([] {});
  });
  if (options_.fork_server_fd >= 0)
    fork_server_watch_ =
        std::make_unique<boost::asio::posix::stream_descriptor>(loop_.io(), options_.fork_server_fd);
}

StatusOr<std::unique_ptr<CoreWorker>> CoreWorker::Create(CoreWorkerOptions options) {
  std::unique_ptr<CoreWorker> cw(new CoreWorker(std::move(options)));
  cw->RegisterHandlers();
  Status st = cw->Connect();
  if (!st.ok()) {
    cw->Shutdown();
    return st;
  }
  return cw;
}

CoreWorker::~CoreWorker() { Shutdown(); }

Status CoreWorker::Connect() {
  // The node is local (a Unix socket): its first answer below also tells
  // whether it accepted our token, so the handshake is not waited for on
  // its own (one round trip less for every driver and worker that starts).
  auto node = rpc::ConnectPipelined(loop_, options_.node_address, options_.token, &dispatcher_);
  if (!node.ok()) return node.status();
  node_ = node.value();

  // Our own server: owners' queries and, in workers, pushed tasks.
  server_ = std::make_unique<rpc::Server>(loop_, options_.token, &dispatcher_);
  proto::RegisterClientReply info;
  if (options_.session_dir.empty() || (options_.is_driver && options_.control_address.empty())) {
    // The session dir is known only after registering; use a provisional request first.
    proto::RegisterClientRequest probe;
    probe.set_kind(proto::TOOL);
    LUMEN_RETURN_IF_ERROR(node_->CallSync(proto::REGISTER_CLIENT, probe, &info));
    session_dir_ = info.session_dir();
  } else {
    session_dir_ = options_.session_dir;  // the node fills in its id in our address
  }
  std::string path = OwnerPath(options_.worker_id);
  LUMEN_RETURN_IF_ERROR(server_->ListenUnix(path));
  self_address_.set_worker_id(options_.worker_id.Binary());
  self_address_.set_node_id(info.node_id());
  self_address_.set_unix_path(path);
  LUMEN_RETURN_IF_ERROR(
      ListenForOtherNodes(options_.tcp_host.empty() ? info.worker_tcp_host() : options_.tcp_host));

  if (options_.is_driver) {
    // The driver keeps a control connection: it owns the actors it creates
    // while this connection lives. When it is local, the job registration
    // follows the hello without waiting for it, as on the node connection.
    const std::string &addr =
        options_.control_address.empty() ? info.control_address() : options_.control_address;
    bool local = addr.rfind("unix:", 0) == 0 || (!addr.empty() && addr[0] == '/');
    auto control = local ? rpc::ConnectPipelined(loop_, addr, options_.token, &dispatcher_)
                         : rpc::Connect(loop_, addr, options_.token, &dispatcher_);
    if (!control.ok()) return control.status();
    if (options_.job_id == 0) {
      proto::RegisterJobRequest job;
      job.set_ray_namespace(options_.ray_namespace);
      job.set_driver_pid(getpid());
      job.set_driver_address(path);
      for (auto &p : options_.code_search_path) job.add_code_search_path(p);
      job.set_runtime_env(options_.job_runtime_env);
      job.set_default_detached(options_.default_detached);
      if (!options_.program.sha256().empty()) *job.mutable_program() = options_.program;
      proto::RegisterJobReply job_reply;
      LUMEN_RETURN_IF_ERROR(control.value()->CallSync(proto::REGISTER_JOB, job, &job_reply));
      options_.job_id = job_reply.job_id();
      control_pid_ = job_reply.control_pid();
      if (!options_.program.sha256().empty()) {
        // Without it the job still runs here; a node that needs it refuses
        // the job's leases, saying the control service lacks the program.
        if (Status up = UploadProgram(*control.value(), options_.program); !up.ok()) {
          LUMEN_LOG_WARN(
              "could not ship this program to the cluster: {}; the job's code runs on this node only",
              up.ToString());
        } else {
          program_shipped_ = true;
        }
      }
    }
    if (options_.on_job_id) {
      options_.on_job_id(options_.job_id);
    }
    std::lock_guard<std::mutex> lock(control_mu_);
    AdoptControlLocked(control.value());
  }

  proto::RegisterClientRequest reg;
  reg.set_kind(options_.is_driver ? proto::DRIVER : proto::WORKER);
  reg.set_worker_id(options_.worker_id.Binary());
  reg.set_pid(getpid());
  reg.set_job_id(options_.job_id);
  *reg.mutable_address() = self_address_;
  for (auto &p : options_.code_search_path) reg.add_code_search_path(p);
  reg.set_job_runtime_env(options_.job_runtime_env);
  reg.set_ray_namespace(options_.ray_namespace);
  reg.set_has_fork_server(options_.has_fork_server);
  reg.set_default_detached(options_.default_detached);
  reg.set_ships_program(program_shipped_);
  // Registration happens on a second connection-level call; the node keys the
  // client by connection, so re-registering upgrades the probe.
  LUMEN_RETURN_IF_ERROR(node_->CallSync(proto::REGISTER_CLIENT, reg, &node_info_));
  if (!options_.is_driver) options_.default_detached = node_info_.job_default_detached();
  if (node_info_.inline_threshold()) inline_threshold_ = node_info_.inline_threshold();
  self_address_.set_node_id(node_info_.node_id());
  task_events_.SetSelfPlace(SelfPlace());

  if (options_.arena && options_.arena->capacity() == node_info_.arena_capacity()) {
    arena_ = std::move(options_.arena);
  } else {
    options_.arena.reset();
    auto arena = object_store::AttachToNodeArena(node_info_.arena_socket(), options_.token,
                                                 /*populate=*/options_.is_driver);
    if (!arena.ok()) return arena.status();
    arena_ = std::move(arena.value());
  }

  idle_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io());
  event_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io());
  metric_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io());
  MetricRegistry::Instance().AddExporter();  // dropped metrics' last changes now wait for a batch
  loop_.Post([this] {
    ReturnIdleLeases();
    ArmTaskEventFlush();
    ArmMetricFlush();
    if (fork_server_watch_) WatchForkServer();
  });
  node_->SetCloseHandler([this](const Status &why) {
    OnLost(NodeLost(why.message()));
    if (options_.is_driver) return;
    exec_queue_.RequestExit();  // a worker has nothing left to serve
  });
  // A driver may wait on the node with no call pending (for an actor, or
  // for nothing yet): it must learn of a hung node all the same.
  if (options_.is_driver) node_->KeepAlive();
  return Status::OK();
}

void CoreWorker::AdoptControlLocked(rpc::ConnectionPtr conn) {
  control_ = std::move(conn);
  control_->SetCloseHandler([this](const Status &why) {
    Status lost = ControlLost(why.message());
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      if (control_lost_.ok()) control_lost_ = lost;
    }
    OnLost(std::move(lost));
  });
  control_->KeepAlive();
  control_->Notify(proto::SUBSCRIBE_NODE_CHANGES, proto::Empty());  // NODE_CHANGED: core_worker_nodes.cc
}

Status CoreWorker::ControlLost(const std::string &why) const {
  return Status(
      StatusCode::kWorkerDied,
      "The control service" +
          (control_pid_ > 0 ? " (pid " + std::to_string(control_pid_) + ")" : std::string()) +
          " died or stopped responding (" + why +
          "); this job cannot go on without it (a restarted control service is not reconnected to).");
}

Status CoreWorker::NodeLost(const std::string &why) {
  {
    std::lock_guard<std::mutex> lock(control_mu_);  // after mu_ where that is held
    // Its end of file, ready before the node's, may not have been read yet.
    if (control_ && control_->PeerHasClosed()) return ControlLost("it closed the connection");
  }
  const int pid = node_info_.pid();
  return Status(StatusCode::kWorkerDied,
                "The node service" + (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                    " died or stopped responding (" + why +
                    "), so this job's workers, actors and shared-memory objects on it are lost.");
}

void CoreWorker::WatchForkServer() {
  fork_server_watch_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                                 [this](const boost::system::error_code &ec) {
                                   if (ec) return;  // shutting down
                                   After after;
                                   bool watch_on;
                                   {
                                     std::lock_guard<std::mutex> lock(mu_);
                                     CheckForkServerLocked(&after);
                                     watch_on = lost_.ok() && !shutdown_;  // woken for nothing
                                   }
                                   RunAll(after);
                                   if (watch_on) WatchForkServer();
                                 });
}

void CoreWorker::CheckForkServerLocked(After *after) {
  if (!fork_server_watch_ || !lost_.ok() || shutdown_) return;
  char byte = 0;
  ssize_t n = ::recv(fork_server_watch_->native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return;  // nothing to read: alive
  if (n > 0 && byte == kForkServerLostNode) {
    // It exits because the node is gone, and the node's own end of file
    // may not have been read yet: the node is the loss.
    LoseLocked(NodeLost("its connection to the job's fork server closed"), after);
    return;
  }
  // Replacing it would take a copy of the driver from before its threads
  // started, which no longer exists: the job fails instead.
  LoseLocked(Status(StatusCode::kWorkerDied,
                    "The job's fork server (pid " + std::to_string(options_.fork_server_pid) +
                        ") died, so this job can start no more workers (the workers it made died with it); "
                        "start the driver again to run more tasks."),
             after);
}

void CoreWorker::OnLost(Status why) {
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    LoseLocked(std::move(why), &after);
  }
  RunAll(after);
}

void CoreWorker::LoseLocked(Status why, After *after) {
  if (shutdown_ || !lost_.ok()) return;
  lost_ = std::move(why);
  LUMEN_LOG_ERROR("{}", lost_.message());
  normal_submitter_->OnLost(lost_, after);
  actor_submitter_->OnLost(lost_, after);
}

void CoreWorker::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    shutdown_ = true;
    normal_submitter_->Stop();
    actor_submitter_->Shutdown();
  }
  // A threaded actor's extra executors finish the calls they run, then end.
  std::vector<std::thread> executors = exec_queue_.TakeExecutors(/*exit=*/true);
  JoinAllButCaller(&executors);  // Shutdown may run in an actor method: the process ends with it
  helper_.Stop();
  FlushTaskEvents(/*wait=*/true);  // before JOB_FINISHED: the job's last events are in when it ends
  FlushMetrics(/*wait=*/true);     // likewise its last metric changes
  if (metric_timer_) MetricRegistry::Instance().RemoveExporter();
  if (options_.is_driver) {
    rpc::ConnectionPtr control;
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      control = control_;
    }
    // Answered, not just sent: the job's end is recorded before the driver
    // goes on to stop the services, and reads as its driver's own doing
    // rather than as a lost connection.
    proto::JobFinished finished;
    finished.set_job_id(options_.job_id);
    proto::Empty ack;
    if (control) (void)control->CallSync(proto::JOB_FINISHED, finished, &ack, kJobFinishedTimeout);
  }
  if (server_) server_->Stop();
  std::vector<rpc::ConnectionPtr> peers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto &w : normal_submitter_->TakeWorkers())
      peers.push_back(std::static_pointer_cast<rpc::Connection>(w));
    for (auto &[k, c] : peers_) peers.push_back(c);
    peers_.clear();
    actor_submitter_->Clear();
  }
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    if (control_) {
      control_->SetCloseHandler(nullptr);  // closing it here is no loss
      peers.push_back(control_);
    }
    control_.reset();
  }
  for (auto &c : peers) c->Close();
  if (node_) {
    node_->SetCloseHandler(nullptr);
    node_->Close();
  }
  loop_.Stop();
  // With the loop stopped, its timer and watch go from this thread.
  idle_timer_.reset();
  event_timer_.reset();
  metric_timer_.reset();
  fork_server_watch_.reset();
  std::lock_guard<std::mutex> lock(mu_);
  objects_.clear();
  refs_.Clear();
  arena_.reset();
}

std::string CoreWorker::OwnerPath(const WorkerID &owner) const {
  // Every core worker listens at a path derived from its id, so an object id
  // alone (it embeds the owner's id) says where to ask about the object on
  // this node (on another: PeerDirectory).
  return WorkerSocketPath(session_dir_, owner);
}

int CoreWorker::WaitForWorkers(std::chrono::milliseconds timeout) {
  proto::WaitForWorkersRequest req;
  req.set_job_id(options_.job_id);
  req.set_timeout_ms(static_cast<uint32_t>(timeout.count()));
  proto::WaitForWorkersReply reply;
  Status st = node_->CallSync(proto::WAIT_FOR_WORKERS, req, &reply, timeout + kWaitForWorkersGrace);
  return st.ok() ? reply.num_workers() : 0;
}

Status CoreWorker::ListenForOtherNodes(const std::string &host) {
  PeerDirectory::Lookup lookup;
  if (!host.empty()) {
    auto port = server_->ListenTcp(host, 0);
    if (!port.ok()) return port.status();
    self_address_.set_tcp(host + ":" + std::to_string(*port));
    tcp_mode_ = true;
    lookup = [this](const WorkerID &worker) -> StatusOr<proto::Address> {
      auto control = Control();
      if (!control.ok()) return control.status();
      proto::LookupWorkerRequest req;
      req.set_worker_id(worker.Binary());
      proto::LookupWorkerReply rep;
      LUMEN_RETURN_IF_ERROR(control.value()->CallSync(proto::LOOKUP_WORKER, req, &rep));
      if (!rep.found()) return Status::NotFound("the cluster does not know worker " + worker.Hex());
      return rep.address();
    };
  }
  directory_ = std::make_unique<PeerDirectory>(session_dir_, std::move(lookup));
  return Status::OK();
}

rpc::ConnectionPtr CoreWorker::OwnerConnection(const WorkerID &owner) {
  // One node: every owner listens in this session folder, as always.
  if (!tcp_mode_) return PeerConnection(OwnerPath(owner));
  auto route = directory_->Resolve(owner, node_info_.node_id());
  if (!route.ok()) {
    LUMEN_LOG_DEBUG("owner {} cannot be reached: {}", owner.Hex(), route.status().ToString());
    return nullptr;
  }
  return PeerConnection(*route);
}

std::string CoreWorker::RouteTo(const proto::Address &peer) const {
  auto route = PeerDirectory::Route(peer, node_info_.node_id());
  return route.ok() ? *route : std::string();
}

rpc::ConnectionPtr CoreWorker::PeerConnection(const std::string &unix_path, bool pipelined) {
  if (unix_path.empty()) return nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peers_.find(unix_path);
    if (it != peers_.end() && it->second->IsOpen()) return it->second;
  }
  auto conn = pipelined ? rpc::ConnectPipelined(loop_, unix_path, options_.token, &dispatcher_)
                        : rpc::Connect(loop_, unix_path, options_.token, &dispatcher_, kPeerConnectTimeout);
  if (!conn.ok()) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  peers_[unix_path] = conn.value();
  return conn.value();
}

size_t CoreWorker::NumTrackedObjects() {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.size();
}

uint64_t CoreWorker::NumWaitSleeps() {
  std::lock_guard<std::mutex> lock(mu_);
  return wait_sleeps_;
}

size_t CoreWorker::NumCallsAwaitingDeathInfo() {
  std::lock_guard<std::mutex> lock(mu_);
  return actor_submitter_->NumAwaitingDeathInfo();
}

// ---------------------------------------------------------------- handlers

void CoreWorker::RegisterHandlers() {
  // Handlers name their request's type (rpc::Dispatcher parses it for them).
  using namespace proto;
  dispatcher_.Register(proto::PUSH_TASK,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, PushTaskRequest &req) {
                         exec_queue_.Push(ExecQueue::Task{conn, call_id, std::move(*req.mutable_spec())});
                       });
  dispatcher_.Register(proto::GET_OBJECT_STATUS,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, GetObjectStatusRequest &req) {
                         ObjectID id = ObjectID::FromBinary(req.object_id());
                         std::lock_guard<std::mutex> lock(mu_);
                         auto it = objects_.find(id);
                         proto::GetObjectStatusReply rep;
                         if (it == objects_.end() || !it->second->owned) {
                           rep.set_found(false);
                           conn->Reply(call_id, rep);
                           return;
                         }
                         auto &e = *it->second;
                         if (!e.ready) {
                           e.status_waiters.emplace_back(conn, call_id);
                           return;
                         }
                         rep.set_found(true);
                         *rep.mutable_payload() = e.payload;
                         rep.mutable_payload()->set_data(*e.data);
                         conn->Reply(call_id, rep);
                       });
  auto borrow = [this](bool add) {
    return [this, add](const rpc::ConnectionPtr &conn, uint64_t call_id, const BorrowRequest &req) {
      After after;
      {
        std::lock_guard<std::mutex> lock(mu_);
        const std::string &who = req.borrower().unix_path();
        for (auto &b : req.object_ids()) {
          ObjectID id = ObjectID::FromBinary(b);
          auto it = objects_.find(id);
          if (it == objects_.end() || !it->second->owned) continue;
          if (who == self_address_.unix_path()) continue;
          if (add) {
            refs_.AddBorrower(id, who);
          } else {
            refs_.RemoveBorrower(id, who);
            MaybeFreeLocked(id, &after);
          }
        }
      }
      RunAll(after);
      if (call_id) conn->Reply(call_id, proto::BorrowReply());
    };
  };
  dispatcher_.Register(proto::ADD_BORROWER, borrow(true));
  dispatcher_.Register(proto::REMOVE_BORROWER, borrow(false));
  RegisterFetchHandlers();
  RegisterNodeHandlers();
  RegisterRecoveryHandlers();
  dispatcher_.Register(proto::EXIT_WORKER, [this](const rpc::ConnectionPtr &, uint64_t, std::string_view) {
    exec_queue_.RequestExit();
  });
  dispatcher_.Register(proto::LEASES_WANTED, [this](const rpc::ConnectionPtr &, uint64_t, std::string_view) {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    normal_submitter_->OnLeasesWanted();
  });
  dispatcher_.Register(proto::WORKER_READY,
                       [this](const rpc::ConnectionPtr &, uint64_t, const Address &worker) {
                         // A worker of this job started: connect now (the handshake runs on the
                         // loop while nothing waits on it), so a task leased to it is pushed on a
                         // connection that is ready. Pipelined: no wait on this thread.
                         // The node's own workers: the same route as a lease's (RouteTo).
                         (void)PeerConnection(RouteTo(worker), /*pipelined=*/true);
                       });
  dispatcher_.Register(proto::LOG_LINES, [this](const rpc::ConnectionPtr &, uint64_t, const LogLines &msg) {
    if (options_.on_log_lines) {
      options_.on_log_lines(msg);
      return;
    }
    auto &os = msg.is_err() ? std::cerr : std::cout;
    // As Ray prefixes a worker's output on another node with its IP.
    const std::string prefix = msg.node_ip().empty()
                                   ? "(pid=" + std::to_string(msg.pid()) + ") "
                                   : "(pid=" + std::to_string(msg.pid()) + ", ip=" + msg.node_ip() + ") ";
    for (auto &line : msg.lines()) os << prefix << line << "\n";
    os.flush();
  });
}

}  // namespace lumen::worker
