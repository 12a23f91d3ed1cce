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
      pid_(getpid()) {
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
    // A worker has nothing left to serve.
    std::lock_guard<std::mutex> lock(exec_mu_);
    exit_requested_ = true;
    exec_cv_.notify_all();
  });
  // A driver may wait on the node with no call pending (for an actor, or
  // for nothing yet): it must learn of a hung node all the same.
  if (options_.is_driver) node_->KeepAlive();
  return Status::OK();
}

void CoreWorker::AdoptControlLocked(rpc::ConnectionPtr conn) {
  control_ = std::move(conn);
  control_->SetCloseHandler([this](const Status &why) {
    Status lost(
        StatusCode::kWorkerDied,
        "The control service" +
            (control_pid_ > 0 ? " (pid " + std::to_string(control_pid_) + ")" : std::string()) +
            " died or stopped responding (" + why.message() +
            "); this job cannot go on without it (a restarted control service is not reconnected to).");
    {
      std::lock_guard<std::mutex> lock(control_mu_);
      if (control_lost_.ok()) control_lost_ = lost;
    }
    OnLost(std::move(lost));
  });
  control_->KeepAlive();
  control_->Notify(proto::SUBSCRIBE_NODE_CHANGES, proto::Empty());  // NODE_CHANGED: core_worker_nodes.cc
}

Status CoreWorker::NodeLost(const std::string &why) const {
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
  for (auto &[key, q] : queues_) {
    FailQueuedIfLostLocked(*q, after);
    PumpLocked(*q);  // cancels the lease requests still pending
  }
  for (auto &[id, c] : actor_clients_) PumpActorLocked(*c, after);
}

void CoreWorker::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    shutdown_ = true;
  }
  // A threaded actor's extra executors finish the calls they run, then end.
  std::vector<std::thread> executors;
  {
    std::lock_guard<std::mutex> lock(exec_mu_);
    exit_requested_ = true;
    executors.swap(executors_);
  }
  exec_cv_.notify_all();
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
    for (auto &[k, q] : queues_)
      for (auto &[id, w] : q->workers)
        if (w->conn) peers.push_back(w->conn);
    for (auto &[k, c] : peers_) peers.push_back(c);
    peers_.clear();
    queues_.clear();
    actor_clients_.clear();
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

// ---------------------------------------------------------------- references

CoreWorker::ObjectEntry &CoreWorker::EntryLocked(const ObjectID &id) {
  auto &slot = objects_[id];
  if (!slot) {
    slot = std::make_unique<ObjectEntry>();
    slot->owned = id.Owner() == options_.worker_id;
  }
  return *slot;
}

void CoreWorker::AddLocalReference(const ObjectID &id) {
  After after;
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return;
  if (id.Owner() == options_.worker_id && !objects_.count(id)) {
    // Every object we own is in the table from creation until freed, so this
    // one was freed (or never existed): a ref to it reads as lost.
    MarkFreedLocked(id, &after);
    objects_[id]->local++;
    return;
  }
  auto &e = EntryLocked(id);
  e.local++;
  if (!e.owned && !e.borrow_registered) {
    e.borrow_registered = true;
    SendBorrowLocked(id, true);
  }
}

void CoreWorker::MarkFreedLocked(const ObjectID &id, After *after) {
  EntryLocked(id);
  proto::ObjectPayload p;
  p.set_error(proto::OBJECT_LOST);
  p.set_data("Object " + id.Hex() + " was freed (no reference to it remained) or never existed.");
  SetReadyLocked(id, p, after);
}

void CoreWorker::RemoveLocalReference(const ObjectID &id) {
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    auto it = objects_.find(id);
    if (it == objects_.end()) return;
    if (it->second->local > 0) it->second->local--;
    MaybeFreeLocked(id, &after);
  }
  RunAll(after);
}

void CoreWorker::MaybeFreeLocked(const ObjectID &id, After *after) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return;
  auto &e = *it->second;
  if (e.local > 0 || e.submitted > 0 || e.contained > 0 || !e.borrowers.empty()) return;
  if (e.owned && !e.ready && !e.on_ready.empty()) return;  // a dependent task still waits on it
  std::vector<ObjectID> nested = std::move(e.nested);
  if (e.owned) {
    recovery_.OnObjectFreed(id);
    if (e.ready && e.payload.in_plasma()) {
      proto::ObjectIdList del;
      del.add_object_ids(id.Binary());
      node_->Notify(proto::DELETE_OBJECTS, del);
      DeleteRemoteCopiesLocked(id, e.payload);
    }
    for (auto &w : e.status_waiters) {
      proto::GetObjectStatusReply rep;
      rep.set_found(false);
      w.first->Reply(w.second, rep);
    }
  } else if (e.borrow_registered) {
    SendBorrowLocked(id, false);
  }
  objects_.erase(it);
  for (auto &n : nested) {
    auto nit = objects_.find(n);
    if (nit == objects_.end()) continue;
    if (nit->second->contained > 0) nit->second->contained--;
    MaybeFreeLocked(n, after);
  }
}

void CoreWorker::SendBorrowLocked(const ObjectID &id, bool add) {
  proto::BorrowRequest req;
  req.add_object_ids(id.Binary());
  *req.mutable_borrower() = self_address_;
  helper_.Post([this, owner = id.Owner(), req, add] {
    auto conn = OwnerConnection(owner);
    if (!conn) return;  // the owner is gone; nothing to tell it
    conn->Notify(add ? proto::ADD_BORROWER : proto::REMOVE_BORROWER, req);
  });
}

void CoreWorker::SetReadyLocked(const ObjectID &id, const proto::ObjectPayload &payload, After *after) {
  auto it = objects_.find(id);
  if (it == objects_.end()) {
    // Nobody holds the object any more; drop what the task stored.
    if (payload.in_plasma()) {
      proto::ObjectIdList del;
      del.add_object_ids(id.Binary());
      node_->Notify(proto::DELETE_OBJECTS, del);
      DeleteRemoteCopiesLocked(id, payload);
    }
    return;
  }
  auto &e = *it->second;
  if (e.ready) return;
  e.ready = true;
  e.payload = payload;
  e.data = std::make_shared<const std::string>(payload.data());
  e.payload.clear_data();
  for (auto &nb : payload.nested_ids()) {
    ObjectID n = ObjectID::FromBinary(nb);
    auto &ne = EntryLocked(n);
    ne.contained++;
    // The worker that made this value registered us as a borrower already.
    if (!ne.owned) ne.borrow_registered = true;
    e.nested.push_back(n);
  }
  if (e.owned) {
    for (auto &w : e.status_waiters) {
      proto::GetObjectStatusReply rep;
      rep.set_found(true);
      *rep.mutable_payload() = e.payload;
      rep.mutable_payload()->set_data(*e.data);
      w.first->Reply(w.second, rep);
    }
    e.status_waiters.clear();
  }
  for (auto &fn : e.on_ready) after->push_back(std::move(fn));
  e.on_ready.clear();
  ready_seq_.fetch_add(1, std::memory_order_release);
  if (e.blocked_waiters > 0) ready_cv_.notify_all();
}

void CoreWorker::RequestFromOwnerLocked(const ObjectID &id, ObjectEntry &e) {
  if (e.requested || e.ready || e.owned) return;
  e.requested = true;
  helper_.Post([this, id] {
    auto fail = [this, id](const std::string &why) {
      After after;
      {
        std::lock_guard<std::mutex> lock(mu_);
        proto::ObjectPayload p;
        p.set_error(proto::OBJECT_LOST);
        p.set_data(why);
        SetReadyLocked(id, p, &after);
      }
      RunAll(after);
    };
    auto conn = OwnerConnection(id.Owner());
    if (!conn) {
      fail("Failed to retrieve object " + id.Hex() + ": its owner is unreachable (it may have exited).");
      return;
    }
    proto::GetObjectStatusRequest req;
    req.set_object_id(id.Binary());
    conn->Call(
        proto::GET_OBJECT_STATUS, req,
        [this, id, fail](Status st, std::string_view body) {
          proto::GetObjectStatusReply rep;
          if (!st.ok() || !rpc::ParseBody(body, &rep)) {
            fail("Failed to retrieve object " + id.Hex() + ": its owner died (" + st.ToString() + ").");
            return;
          }
          if (!rep.found()) {
            fail("Object " + id.Hex() + " was freed or never existed (its owner no longer has it).");
            return;
          }
          After after;
          {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = objects_.find(id);
            if (it != objects_.end()) {
              // Nested refs of a borrowed value are the owner's to track.
              auto payload = rep.payload();
              payload.clear_nested_ids();
              SetReadyLocked(id, payload, &after);
            }
          }
          RunAll(after);
        },
        kForever);
  });
}

// ---------------------------------------------------------------- objects

Status CoreWorker::StoreValue(const ObjectID &id, size_t size, const ValueWriter &write,
                              proto::ObjectPayload *payload) {
  if (size < inline_threshold_) {
    std::string bytes(size, '\0');
    if (!write(bytes.data())) return Status::InvalidArgument("serializing the value failed");
    payload->set_data(std::move(bytes));
    return Status::OK();
  }
  // Large: the writer fills the shared-memory allocation directly, so the
  // value is copied once, into pages whose page tables are filled first.
  proto::CreateObjectRequest req;
  req.set_object_id(id.Binary());
  req.set_data_size(size);
  req.set_wait_ms(static_cast<uint32_t>(kObjectStoreFullWait.count()));
  proto::CreateObjectReply rep;
  Status created = node_->CallSync(proto::CREATE_OBJECT, req, &rep, kCreateObjectTimeout);
  if (!created.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    return lost_.ok() ? created : lost_;
  }
  arena_->PrepareWrite(rep.offset(), size);
  if (!write(reinterpret_cast<char *>(arena_->base() + rep.offset()))) {
    proto::ObjectIdList abort;
    abort.add_object_ids(id.Binary());
    node_->Notify(proto::ABORT_OBJECT, abort);
    return Status::InvalidArgument("serializing the value failed");
  }
  proto::SealObjectRequest seal;
  seal.set_object_id(id.Binary());
  proto::SealObjectReply seal_rep;
  LUMEN_RETURN_IF_ERROR(node_->CallSync(proto::SEAL_OBJECT, seal, &seal_rep));
  payload->set_in_plasma(true);
  payload->set_node_id(node_info_.node_id());
  return Status::OK();
}

StatusOr<ObjectID> CoreWorker::Put(size_t size, const ValueWriter &write,
                                   const std::vector<ObjectID> &nested) {
  ObjectID id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Puts use task ids with the top bit of the sequence set, index 0.
    id = ObjectID::ForTaskReturn(TaskID::Of(options_.worker_id, (1ull << 63) | ++put_seq_), 0);
  }
  proto::ObjectPayload payload;
  LUMEN_RETURN_IF_ERROR(StoreValue(id, size, write, &payload));
  for (auto &n : nested) payload.add_nested_ids(n.Binary());
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The nested refs are counted as contained in this object. We hold each
    // of them (the value was serialized from live ObjectRefs), so the ones we
    // borrow are registered with their owners already.
    EntryLocked(id);
    SetReadyLocked(id, payload, &after);
  }
  RunAll(after);
  return id;
}

StatusOr<std::shared_ptr<CoreWorker::PlasmaPin>> CoreWorker::PinPlasma(const ObjectID &id) {
  proto::GetObjectsRequest req;
  req.add_object_ids(id.Binary());
  proto::GetObjectsReply rep;
  Status st = node_->CallSync(proto::GET_OBJECTS, req, &rep);
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    return lost_.ok() ? st : lost_;  // a lost node explains it best
  }
  if (rep.objects_size() != 1 || !rep.objects(0).found())
    return Status(StatusCode::kObjectLost, "object " + id.Hex() + " is not in the local object store");
  auto &loc = rep.objects(0);
  return std::make_shared<PlasmaPin>(this, id, reinterpret_cast<const char *>(arena_->base() + loc.offset()),
                                     loc.data_size());
}

StatusOr<RayObjectPtr> CoreWorker::MaterializeLocked(const ObjectID &id, ObjectEntry &e,
                                                     std::unique_lock<std::mutex> &lock) {
  // Lost and being made again since Get saw it ready: Get waits anew.
  if (!e.ready) return Status(StatusCode::kObjectLost, "object " + id.Hex() + " is being made again");
  auto obj = std::make_shared<RayObject>();
  obj->error = e.payload.error();
  if (!e.payload.in_plasma() || obj->error != proto::NO_ERROR) {
    obj->inline_data = e.data;
    obj->data = e.data->data();
    obj->size = e.data->size();
    return RayObjectPtr(obj);
  }
  proto::ObjectPayload where = e.payload;  // e may go while unlocked
  lock.unlock();
  auto pin = PinPlasma(id);
  if (!pin.ok() && pin.status().code() == StatusCode::kObjectLost &&
      where.node_id() != node_info_.node_id()) {
    // Its copies are on other nodes: have this node pull one.
    Status fetched = FetchToLocal(id, where);
    pin = fetched.ok() ? PinPlasma(id) : StatusOr<std::shared_ptr<PlasmaPin>>(fetched);
  }
  lock.lock();
  if (!pin.ok()) return pin.status();
  obj->data = pin.value()->data();
  obj->size = pin.value()->size();
  obj->pin = pin.value();
  return RayObjectPtr(obj);
}

namespace {

// Polling before sleeping. A blocking call's answer usually comes back within
// tens of microseconds, and sleeping costs the caller a futex or epoll wait
// and its waker a wake-up of an idle CPU, which on virtual machines (the host
// must schedule the vCPU again) costs as much as the round trip between the
// processes itself: measured on the 2-core VM this suite runs on,
// single_client_tasks_sync went from ~12.7k to ~23k tasks/s and
// 1_1_actor_calls_sync from ~13.5k to ~18.7k calls/s with a 100 us budget,
// and a Get that slept in the reactor instead of polling it doubled the sync
// actor-call latency. The budget adapts, so that waits on long tasks do not
// burn CPU: a spin that ends without the result halves the next one (down to
// none), a spin that gets it restores the full budget, and with no budget
// left every 16th wait probes with the full one again.
// LUMEN_GET_SPIN_US sets the full budget (0 turns spinning off; 100 us by
// default, base/settings.h).
constexpr int kMinSpinUs = 5;
constexpr uint32_t kSpinProbeEvery = 16;

int FullSpinBudgetUs() { return CurrentSettings().get_spin_us; }

}  // namespace

int AdaptiveSpin::Next() {
  const int full = FullSpinBudgetUs();
  int budget = budget_us_.load(std::memory_order_relaxed);
  if (budget < 0) budget = full;
  if (budget == 0) {
    if (full == 0 || skips_.fetch_add(1, std::memory_order_relaxed) % kSpinProbeEvery != kSpinProbeEvery - 1)
      return 0;
    budget = full;
  }
  return budget;
}

void AdaptiveSpin::Report(int used_us, bool hit) {
  int next = hit ? FullSpinBudgetUs() : used_us / 2;
  budget_us_.store(next < kMinSpinUs ? 0 : next, std::memory_order_relaxed);
}

template <typename Done>
void CoreWorker::SpinBeforeBlockingLocked(std::unique_lock<std::mutex> &lock, Done done) {
  const int budget = get_spin_.Next();
  if (budget == 0) return;
  // Spinning is bounded in CPU time, not a decision: the steady clock.
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(budget);
  uint64_t seen = ready_seq_.load(std::memory_order_acquire);
  bool got = false;
  lock.unlock();
  for (;;) {
    for (int i = 0; i < 64 && ready_seq_.load(std::memory_order_relaxed) == seen; ++i) CpuRelax();
    if (ready_seq_.load(std::memory_order_acquire) != seen) {
      lock.lock();
      if (done()) {
        got = true;
        break;
      }
      seen = ready_seq_.load(std::memory_order_acquire);
      lock.unlock();
    }
    if (std::chrono::steady_clock::now() >= until) {
      lock.lock();
      got = done();
      break;
    }
  }
  get_spin_.Report(budget, got);
}

template <typename Done>
void CoreWorker::LeadLoopLocked(std::unique_lock<std::mutex> &lock, Done done, Clock::TimePoint deadline) {
  const int budget = get_spin_.Next();
  const auto start = std::chrono::steady_clock::now();
  lock.unlock();
  bool led = loop_.Lead(
      [&] {
        if (clock_.Now() >= deadline) return true;
        std::lock_guard<std::mutex> hold(mu_);
        return done();
      },
      clock_.WakeAt(deadline), std::chrono::microseconds(budget));
  lock.lock();
  if (led && budget > 0)
    get_spin_.Report(budget,
                     done() && std::chrono::steady_clock::now() - start <= std::chrono::microseconds(budget));
}

Status CoreWorker::Get(const std::vector<ObjectID> &ids, int64_t timeout_ms, std::vector<RayObjectPtr> *out) {
  auto deadline =
      timeout_ms < 0 ? Clock::TimePoint::max() : clock_.Now() + std::chrono::milliseconds(timeout_ms);
  std::unique_lock<std::mutex> lock(mu_);
  After after;
  for (auto &id : ids) {
    auto it = objects_.find(id);
    if (it == objects_.end() && id.Owner() == options_.worker_id) MarkFreedLocked(id, &after);
    auto &e = EntryLocked(id);
    RequestFromOwnerLocked(id, e);
  }
  // An object becomes unready again only when it was lost and is being made
  // again (RecoverFromFailedReadLocked), which starts the wait over: so one
  // pass over `ids` per wait suffices. `next` is the first id not yet seen
  // ready. Only that id's entry counts this caller as blocked, so
  // SetReadyLocked wakes us for it alone.
  size_t next = 0;
  auto all_ready = [&] {
    for (; next < ids.size(); ++next) {
      auto it = objects_.find(ids[next]);
      if (it == objects_.end() || !it->second->ready) return false;
    }
    return true;
  };
  auto set_blocked_on = [&](size_t i, int delta) {
    if (i >= ids.size()) return;
    auto it = objects_.find(ids[i]);
    if (it != objects_.end()) it->second->blocked_waiters += delta;
  };
  for (;;) {
    bool blocked = false;
    // A normal task blocked in Get must tell the node (it lends its CPU back),
    // so it waits below. Other callers waiting for the result of a task or an
    // actor call pushed from here serve the loop meanwhile, so the reply is read
    // by the thread that waits for it: one wake-up instead of two (with task
    // workers leading their own loop too, sync_task_latency_us p50 34 -> 12 us
    // and single_client_tasks_sync 20k -> 64k tasks/s here).
    if (!all_ready() && timeout_ms != 0 && !in_task_ && LendLoopEnabled()) {
      auto it = objects_.find(ids[next]);
      if (it != objects_.end() && it->second->pushed_result) LeadLoopLocked(lock, all_ready, deadline);
    }
    std::optional<rpc::EventLoop::WaitScope> waiting;
    if (!all_ready() && timeout_ms != 0 && clock_.Now() < deadline) {
      waiting.emplace(loop_);  // results arrive through the loop
      SpinBeforeBlockingLocked(lock, all_ready);
    }
    if (!all_ready()) {
      if (in_task_) {
        blocked = true;
        node_->Notify(proto::NOTIFY_BLOCKED, proto::BlockedNotice());
      }
      while (!all_ready()) {
        size_t waiting_on = next;
        set_blocked_on(waiting_on, +1);
        ++wait_sleeps_;
        bool timed_out = WaitUntil(clock_, ready_cv_, lock, deadline);
        set_blocked_on(waiting_on, -1);
        if (timed_out && !all_ready()) break;
      }
      if (blocked) node_->Notify(proto::NOTIFY_UNBLOCKED, proto::BlockedNotice());
    }
    if (!all_ready()) {
      // Drop the placeholder entries Get made for ids nobody references.
      for (auto &id : ids) MaybeFreeLocked(id, &after);
      lock.unlock();
      RunAll(after);
      return Status::TimedOut("Get timed out: some object(s) not ready after " + std::to_string(timeout_ms) +
                              " ms");
    }
    out->clear();
    out->reserve(ids.size());
    Status result;
    bool again = false;
    for (auto &id : ids) {
      auto it = objects_.find(id);
      if (it == objects_.end()) {
        result = Status(StatusCode::kObjectLost, "object " + id.Hex() + " was freed");
        break;
      }
      auto obj = MaterializeLocked(id, *it->second, lock);
      if (!obj.ok()) {
        // Every copy failed to pull: made again if their nodes died.
        const StatusCode code = obj.status().code();
        again = (code == StatusCode::kObjectLost || code == StatusCode::kDisconnected) &&
                RecoverFromFailedReadLocked(id, code == StatusCode::kDisconnected, lock, &after);
        result = code == StatusCode::kDisconnected ? Status(StatusCode::kObjectLost, obj.status().message())
                                                   : obj.status();
        break;
      }
      out->push_back(obj.value());
    }
    if (again) {
      next = 0;
      continue;
    }
    // Every way out runs what became runnable meanwhile (tasks whose
    // arguments were marked ready above): dropped, they would never run.
    lock.unlock();
    RunAll(after);
    return result;
  }
}

std::vector<bool> CoreWorker::Wait(const std::vector<ObjectID> &ids, int num_objects, int64_t timeout_ms) {
  auto deadline =
      timeout_ms < 0 ? Clock::TimePoint::max() : clock_.Now() + std::chrono::milliseconds(timeout_ms);
  std::vector<bool> ready(ids.size(), false);
  std::unique_lock<std::mutex> lock(mu_);
  // The first count reads the entries just looked up (one lookup per id: a
  // Wait is often called once per ready object on lists of thousands). Once
  // the lock has been let go an entry may have been freed, so later counts
  // look each id up again.
  int first = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto &e = EntryLocked(ids[i]);
    RequestFromOwnerLocked(ids[i], e);
    ready[i] = e.ready;
    first += ready[i];
  }
  auto count = [&] {
    int n = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      auto it = objects_.find(ids[i]);
      ready[i] = it != objects_.end() && it->second->ready;
      n += ready[i];
    }
    return n;
  };
  if (first >= num_objects) return ready;
  bool blocked = false;
  std::optional<rpc::EventLoop::WaitScope> waiting;
  if (timeout_ms != 0) waiting.emplace(loop_);
  while (count() < num_objects) {
    if (in_task_ && !blocked) {
      blocked = true;
      node_->Notify(proto::NOTIFY_BLOCKED, proto::BlockedNotice());
    }
    // Any of the unready ids becoming ready may be enough: wait on them all.
    auto set_blocked = [&](int delta) {
      for (size_t i = 0; i < ids.size(); ++i) {
        if (ready[i]) continue;
        auto it = objects_.find(ids[i]);
        if (it != objects_.end()) it->second->blocked_waiters += delta;
      }
    };
    set_blocked(+1);
    ++wait_sleeps_;
    bool timed_out = WaitUntil(clock_, ready_cv_, lock, deadline);
    set_blocked(-1);  // `ready` is unchanged since set_blocked(+1)
    if (timed_out) {
      count();
      break;
    }
  }
  if (blocked) node_->Notify(proto::NOTIFY_UNBLOCKED, proto::BlockedNotice());
  return ready;
}

// ---------------------------------------------------------------- handlers

void CoreWorker::RegisterHandlers() {
  // Handlers name their request's type (rpc::Dispatcher parses it for them).
  using namespace proto;
  dispatcher_.Register(proto::PUSH_TASK,
                       [this](const rpc::ConnectionPtr &conn, uint64_t call_id, PushTaskRequest &req) {
                         {
                           std::lock_guard<std::mutex> lock(exec_mu_);
                           exec_queue_.push_back(PushedTask{conn, call_id, std::move(*req.mutable_spec())});
                         }
                         exec_cv_.notify_one();
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
            it->second->borrowers.insert(who);
          } else {
            it->second->borrowers.erase(who);
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
    std::lock_guard<std::mutex> lock(exec_mu_);
    exit_requested_ = true;
    exec_cv_.notify_all();
  });
  dispatcher_.Register(proto::ACTOR_UPDATE,
                       [this](const rpc::ConnectionPtr &, uint64_t, const ActorInfo &info) {
                         After after;
                         {
                           std::lock_guard<std::mutex> lock(mu_);
                           auto it = actor_clients_.find(ActorID::FromBinary(info.actor_id()));
                           if (it == actor_clients_.end()) return;
                           ApplyActorInfoLocked(*it->second, info, &after);
                         }
                         RunAll(after);
                       });
  dispatcher_.Register(proto::LEASES_WANTED, [this](const rpc::ConnectionPtr &, uint64_t, std::string_view) {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    leases_wanted_until_ = clock_.Now() + std::chrono::milliseconds(200);
    ReturnIdleLeasesLocked(Clock::Duration::zero());  // leases idle right now go back at once
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
