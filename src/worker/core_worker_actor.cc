// Actors, caller side: creating them through the control service, and the
// core worker's side of its ActorTaskSubmitter (actor_task_submitter.h), which
// follows their state and sends their method calls: the connections it uses
// and what ends a call (ActorTaskLink).
#include <optional>

#include "base/logging.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {

StatusOr<rpc::ConnectionPtr> CoreWorker::Control() {
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    if (!control_lost_.ok()) return control_lost_;
    if (control_) return control_;
  }
  // Connected without control_mu_ held: the loop thread takes control_mu_
  // (under mu_, SendCreateActorLocked) and must not wait for a connect that
  // itself needs the loop.
  auto conn = rpc::Connect(loop_, node_info_.control_address(), options_.token, &dispatcher_);
  if (!conn.ok()) return conn.status();
  std::lock_guard<std::mutex> lock(control_mu_);
  if (!control_lost_.ok() || control_) {
    conn.value()->Close();  // lost meanwhile, or another thread connected first
    if (!control_lost_.ok()) return control_lost_;
    return control_;
  }
  AdoptControlLocked(conn.value());
  return control_;
}

StatusOr<ActorID> CoreWorker::CreateActor(const std::string &function_name, const std::string &class_name,
                                          std::vector<SubmitArg> args, const ActorOptions &options) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lost_.ok()) return lost_;
  }
  auto control = Control();
  if (!control.ok()) return control.status();
  ActorID actor_id = ActorID::FromRandom();
  std::shared_ptr<TaskEntry> task;
  proto::RegisterActorRequest reg;
  {
    std::lock_guard<std::mutex> lock(mu_);
    task = NewTaskLocked(proto::ACTOR_CREATION_TASK, function_name, options.name);
    auto &spec = task->spec;
    spec.mutable_function()->set_class_name(class_name);
    spec.set_runtime_env(options.runtime_env);
    spec.set_actor_id(actor_id.Binary());
    for (auto &[k, v] : options.resources) (*spec.mutable_resources()->mutable_amounts())[k] = v;
    auto *cs = spec.mutable_actor_creation();
    cs->set_name(options.name);
    cs->set_ray_namespace(options.ray_namespace);
    cs->set_detached(options.detached);
    cs->set_max_restarts(options.max_restarts);
    cs->set_max_concurrency(std::max(1, options.max_concurrency));
    *cs->mutable_owner() = self_address_;
    // As in Ray: an actor that names no resources needs a CPU free to be
    // placed, and holds nothing while it runs.
    if (!options.placement.empty()) {
      for (auto &[k, v] : options.placement) (*cs->mutable_placement_resources()->mutable_amounts())[k] = v;
    } else if (options.resources.empty()) {
      (*cs->mutable_placement_resources()->mutable_amounts())["CPU"] = 1;
    } else {
      *cs->mutable_placement_resources() = spec.resources();
    }
    cs->set_placement_group_id(options.placement_group_id);
    *reg.mutable_spec() = spec;
    std::map<std::string, double> placement(cs->placement_resources().amounts().begin(),
                                            cs->placement_resources().amounts().end());
    WarnIfInfeasibleLocked("actor", placement);
  }
  proto::Empty reply;
  LUMEN_RETURN_IF_ERROR(control.value()->CallSync(proto::REGISTER_ACTOR, reg, &reply));
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actor_submitter_->AddCreatedActor(actor_id, task);
    AddArgsLocked(args, *task);
    task->events_kept = task_events_.RecordWithFacts(task->spec, proto::PENDING_ARGS_AVAIL, task->parent);
    ResolveAndQueueLocked(task, &after);
  }
  RunAll(after);
  return actor_id;
}

void CoreWorker::SendCreateActorLocked(TaskEntry &task, After *after) {
  proto::CreateActorRequest req;
  *req.mutable_spec() = task.spec;
  Status unsent;
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    if (control_ && control_->IsOpen()) {
      control_->Notify(proto::CREATE_ACTOR, req);
      return;
    }
    unsent = !control_lost_.ok() ? control_lost_
                                 : Status::Disconnected("there is no connection to the control service");
  }
  // Never sent, it will never be created: its calls must not wait for it.
  actor_submitter_->MarkDead(ActorID::FromBinary(task.spec.actor_id()),
                             "The actor could not be created: " + unsent.message(), after);
}

ObjectID CoreWorker::SubmitActorTask(const ActorID &actor_id, const std::string &function_name,
                                     std::vector<SubmitArg> args, const TaskOptions &options) {
  // First call on a handle this process did not create: the submitter will
  // subscribe to the actor, over a connection made outside mu_ (connecting
  // blocks).
  rpc::ConnectionPtr control;
  bool known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    known = actor_submitter_->HasActor(actor_id);
  }
  if (!known) {
    auto c = Control();
    if (c.ok()) control = c.value();
  }
  After after;
  std::unique_lock<std::mutex> lock(mu_);
  auto task = NewTaskLocked(proto::ACTOR_TASK, function_name, options.name);
  auto &spec = task->spec;
  spec.set_actor_id(actor_id.Binary());
  EntryLocked(task->return_id).pushed_result = true;
  AddArgsLocked(args, *task);
  actor_submitter_->Queue(task, control);
  task->events_kept = task_events_.RecordWithFacts(spec, proto::PENDING_ARGS_AVAIL, task->parent);
  ResolveAndQueueLocked(task, &after);
  actor_submitter_->Pump(actor_id, &after);
  lock.unlock();
  RunAll(after);
  return task->return_id;
}

StatusOr<ActorID> CoreWorker::GetNamedActor(const std::string &name, const std::string &ray_namespace) {
  auto control = Control();
  if (!control.ok()) return control.status();
  proto::GetNamedActorRequest req;
  req.set_name(name);
  req.set_ray_namespace(ray_namespace);
  proto::GetNamedActorReply rep;
  LUMEN_RETURN_IF_ERROR(control.value()->CallSync(proto::GET_NAMED_ACTOR, req, &rep));
  if (!rep.found()) return ActorID::Nil();
  return ActorID::FromBinary(rep.actor_id());
}

Status CoreWorker::KillActor(const ActorID &actor_id, bool no_restart) {
  auto control = Control();
  if (!control.ok()) return control.status();
  proto::KillActorRequest req;
  req.set_actor_id(actor_id.Binary());
  req.set_no_restart(no_restart);
  proto::Empty rep;
  Status st = control.value()->CallSync(proto::KILL_ACTOR, req, &rep, kKillActorTimeout);
  if (st.code() == StatusCode::kNotFound) return Status::OK();  // nothing to kill
  return st;
}

// ---------------------------------------------------------------- ActorTaskLink

void CoreWorker::ActorTaskLink::ListenForActorUpdates(
    std::function<void(const proto::ActorInfo &info)> on_update) {
  cw_.dispatcher_.Register(proto::ACTOR_UPDATE, [on_update = std::move(on_update)](
                                                    const rpc::ConnectionPtr &, uint64_t,
                                                    const proto::ActorInfo &info) { on_update(info); });
}

void CoreWorker::ActorTaskLink::SubscribeActor(const Peer &control, const ActorID &id,
                                               rpc::ResponseCallback cb) {
  proto::ActorIdRequest req;
  req.set_actor_id(id.Binary());
  std::static_pointer_cast<rpc::Connection>(control)->Call(proto::SUBSCRIBE_ACTOR, req, std::move(cb),
                                                           kForever);
}

void CoreWorker::ActorTaskLink::ConnectToActor(const proto::Address &address,
                                               std::function<void(Peer peer)> done) {
  // Connecting blocks: on the helper thread, never the loop's.
  cw_.helper_.Post(
      [cw = &cw_, path = cw_.RouteTo(address), done = std::move(done)] { done(cw->PeerConnection(path)); });
}

void CoreWorker::ActorTaskLink::PushActorTask(const Peer &peer, const proto::TaskSpec &spec, bool write_now,
                                              rpc::ResponseCallback cb) {
  proto::PushTaskRequest req;
  *req.mutable_spec() = spec;
  std::optional<rpc::DirectSendScope> direct;
  if (write_now) direct.emplace();
  // The hot path: no reference count taken on the connection.
  static_cast<rpc::Connection *>(peer.get())->Call(proto::PUSH_TASK, req, std::move(cb), kForever);
}

void CoreWorker::ActorTaskLink::FailTask(TaskEntry &task, proto::ErrorType type, const std::string &message,
                                         After *after) {
  cw_.FailTaskLocked(task, type, message, after);
}

void CoreWorker::ActorTaskLink::CompleteTask(TaskEntry &task, const proto::PushTaskReply &reply,
                                             After *after) {
  cw_.CompleteTaskLocked(task, reply, after);
}

void CoreWorker::ActorTaskLink::FinishTask(TaskEntry &task, After *after) {
  cw_.FinishTaskLocked(task, after);
}

}  // namespace lumen::worker
