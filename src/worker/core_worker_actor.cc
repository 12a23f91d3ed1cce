// Actors, caller side: creating them through the control service, following
// their state (ACTOR_UPDATE notifications), and sending method calls straight
// to the actor's worker in submission order. Calls whose arguments are not
// ready yet hold back the calls behind them (never reordered); calls in flight
// when the actor's process dies fail with ACTOR_DIED; calls not yet sent wait
// for the restarted actor, or fail once it is dead for good.
#include <optional>

#include "base/logging.h"
#include "base/settings.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {
namespace {

// How long a call whose connection to its actor failed waits for the
// control service's news of the actor before failing with the connection's
// error (Ray's timeout_ms_task_wait_for_death_info, 1 s there). Long enough
// for the control service to see a node that was cut off dead
// (LUMEN_NODE_DEATH_TIMEOUT_MS, after a health check period), so that such a
// call names the node's death; a process that crashed is reported within
// milliseconds, and its calls wait no longer than that.
Clock::Duration DeathInfoWait() {
  const Settings &s = CurrentSettings();
  return std::chrono::milliseconds(s.node_death_timeout_ms + 2 * s.health_check_period_ms);
}

}  // namespace

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

CoreWorker::ActorClient &CoreWorker::ActorClientLocked(const ActorID &id, const rpc::ConnectionPtr &control) {
  auto &slot = actor_clients_[id];
  if (slot) return *slot;
  slot = std::make_unique<ActorClient>();
  slot->id = id;
  // The reply and later ACTOR_UPDATEs arrive in order on the loop thread.
  proto::ActorIdRequest req;
  req.set_actor_id(id.Binary());
  control->Call(
      proto::SUBSCRIBE_ACTOR, req,
      [this, id](Status st, std::string_view body) {
        proto::SubscribeActorReply rep;
        if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("malformed reply");
        After after;
        {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = actor_clients_.find(id);
          if (it == actor_clients_.end()) return;
          proto::ActorInfo info;
          if (!st.ok() || !rep.found()) {
            info.set_state(proto::DEAD);
            info.set_death_cause(st.ok() ? "No actor with id " + id.Hex() + " exists in this cluster."
                                         : "Cannot reach the control service: " + st.ToString());
          } else {
            info = rep.info();
          }
          ApplyActorInfoLocked(*it->second, info, &after);
        }
        RunAll(after);
      },
      kForever);
  return *slot;
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
    // Registering subscribed us; updates come only after CREATE_ACTOR.
    auto &slot = actor_clients_[actor_id];
    slot = std::make_unique<ActorClient>();
    slot->id = actor_id;
    slot->known = true;
    slot->creation = task;
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
  auto it = actor_clients_.find(ActorID::FromBinary(task.spec.actor_id()));
  if (it == actor_clients_.end()) return;
  proto::ActorInfo dead;
  dead.set_state(proto::DEAD);
  dead.set_death_cause("The actor could not be created: " + unsent.message());
  ApplyActorInfoLocked(*it->second, dead, after);
}

ObjectID CoreWorker::SubmitActorTask(const ActorID &actor_id, const std::string &function_name,
                                     std::vector<SubmitArg> args, const TaskOptions &options) {
  // First call on a handle this process did not create: it will subscribe
  // to the actor, over a connection made outside mu_ (connecting blocks).
  rpc::ConnectionPtr control;
  bool known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    known = actor_clients_.count(actor_id) > 0;
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
  ActorClient *c;
  auto it = actor_clients_.find(actor_id);
  if (it != actor_clients_.end()) {
    c = it->second.get();
  } else if (control) {
    c = &ActorClientLocked(actor_id, control);
  } else {
    auto &slot = actor_clients_[actor_id];
    slot = std::make_unique<ActorClient>();
    slot->id = actor_id;
    slot->known = true;
    slot->state = proto::DEAD;
    slot->death_cause = "Cannot reach the control service to find the actor.";
    c = slot.get();
  }
  spec.set_actor_seq(c->next_seq++);
  c->pending.push_back(task);
  task->events_kept = task_events_.RecordWithFacts(spec, proto::PENDING_ARGS_AVAIL, task->parent);
  ResolveAndQueueLocked(task, &after);
  PumpActorLocked(*c, &after);
  lock.unlock();
  RunAll(after);
  return task->return_id;
}

void CoreWorker::ApplyActorInfoLocked(ActorClient &c, const proto::ActorInfo &info, After *after) {
  c.known = true;
  // News of another incarnation than the one that was called: the calls
  // waiting for it fail now (a DEAD actor's, with its cause, below).
  if (info.state() != proto::DEAD &&
      !(info.state() == proto::ALIVE && info.num_restarts() == c.incarnation)) {
    c.told_gone = std::max(c.told_gone, c.incarnation);
    ResolveDeathInfoWaitsLocked(c, nullptr, after);
  }
  switch (info.state()) {
    case proto::DEAD:
      c.state = proto::DEAD;
      c.death_cause = info.death_cause();
      c.conn.reset();  // calls in flight fail as the worker's connection closes
      if (c.creation) {
        // Never alive: its creation failed (else the executor said FINISHED).
        if (c.incarnation < 0)
          task_events_.RecordEnd(c.creation->spec, proto::ACTOR_DIED, c.death_cause, c.creation->events_kept);
        FinishTaskLocked(*c.creation, after);  // the constructor's arguments may go
        c.creation.reset();
      }
      break;
    case proto::ALIVE:
      if (info.num_restarts() <= c.dead_incarnation) return;  // stale: that incarnation failed
      if (info.num_restarts() != c.incarnation) {
        if (c.incarnation < 0 && c.creation)
          task_events_.RecordEnd(c.creation->spec, proto::NO_ERROR, {}, c.creation->events_kept);
        c.incarnation = info.num_restarts();
        c.address = info.address();
        c.conn.reset();
      }
      c.state = proto::ALIVE;
      break;
    default:
      if (info.num_restarts() > c.incarnation && c.incarnation >= 0) {
        // A new incarnation is coming: the old worker is gone or going.
        c.dead_incarnation = std::max(c.dead_incarnation, c.incarnation);
        c.conn.reset();
      }
      c.state = info.state();
      break;
  }
  PumpActorLocked(c, after);
}

void CoreWorker::PumpActorLocked(ActorClient &c, After *after) {
  while (!c.pending.empty() && c.pending.front()->done) c.pending.pop_front();
  if (!lost_.ok() && c.state != proto::ALIVE && c.state != proto::DEAD) {
    // Waiting for it to be created or restarted is waiting for ever now.
    c.state = proto::DEAD;
    c.death_cause = lost_.message();
    if (c.creation) {
      FinishTaskLocked(*c.creation, after);  // the constructor's arguments may go
      c.creation.reset();
    }
  }
  if (c.state == proto::DEAD) {
    ResolveDeathInfoWaitsLocked(c, &c.death_cause, after);
    auto pending = std::move(c.pending);
    c.pending.clear();
    for (auto &t : pending) {
      if (t->done) continue;
      FailTaskLocked(*t, proto::ACTOR_DIED,
                     "The actor is dead, so the call to " + t->spec.function().function_name() +
                         " cannot run. " + c.death_cause,
                     after);
    }
    return;
  }
  if (c.state != proto::ALIVE || !c.known) return;
  if (!c.conn) {
    if (c.connecting || c.pending.empty()) return;
    c.connecting = true;
    ActorID id = c.id;
    int incarnation = c.incarnation;
    std::string path = RouteTo(c.address);
    helper_.Post([this, id, incarnation, path] {
      auto conn = PeerConnection(path);
      After after2;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = actor_clients_.find(id);
        if (it == actor_clients_.end()) return;
        auto &c2 = *it->second;
        c2.connecting = false;
        if (c2.incarnation == incarnation && c2.state == proto::ALIVE) {
          if (conn) {
            c2.conn = conn;
          } else {
            // Its worker is already gone: wait for the control service's news.
            c2.dead_incarnation = std::max(c2.dead_incarnation, incarnation);
            c2.state = proto::RESTARTING;
          }
        }
        PumpActorLocked(c2, &after2);
      }
      RunAll(after2);
    });
    return;
  }
  while (!c.pending.empty()) {
    auto task = c.pending.front();
    if (task->done) {
      c.pending.pop_front();
      continue;
    }
    if (!task->resolved) break;  // later calls wait: submission order is kept
    c.pending.pop_front();
    SendActorTaskLocked(c, std::move(task));
  }
}

void CoreWorker::SendActorTaskLocked(ActorClient &c, std::shared_ptr<TaskEntry> task) {
  c.in_flight++;
  task_events_.RecordAt(
      task->spec, proto::SUBMITTED_TO_WORKER,
      {NodeID::FromBinary(c.address.node_id()), WorkerID::FromBinary(c.address.worker_id()), 0},
      task->events_kept);
  proto::PushTaskRequest req;
  *req.mutable_spec() = task->spec;
  // A lone call is latency-bound: write it now rather than via the loop.
  std::optional<rpc::DirectSendScope> direct;
  if (c.in_flight == 1) direct.emplace();
  ActorID id = c.id;
  int incarnation = c.incarnation;
  c.conn->Call(
      proto::PUSH_TASK, req,
      [this, id, incarnation, task](Status st, std::string_view body) {
        OnActorTaskReply(id, incarnation, task, st, body);
      },
      kForever);
}

void CoreWorker::OnActorTaskReply(const ActorID &id, int incarnation, std::shared_ptr<TaskEntry> task,
                                  Status st, std::string_view body) {
  proto::PushTaskReply rep;
  if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("malformed actor task reply");
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = actor_clients_.find(id);
    ActorClient *c = it == actor_clients_.end() ? nullptr : it->second.get();
    if (c) c->in_flight--;
    if (!st.ok()) {
      if (c && c->incarnation == incarnation) {
        c->dead_incarnation = std::max(c->dead_incarnation, incarnation);
        c->conn.reset();
        if (c->state == proto::ALIVE) c->state = proto::RESTARTING;  // until the control service says
      }
      const std::string prefix =
          "The actor died before finishing the call to " + task->spec.function().function_name() + ". ";
      const std::string conn_error = "The actor's process exited or was killed (" + st.ToString() + ").";
      if (c && c->state != proto::DEAD && c->incarnation == incarnation && c->told_gone < incarnation &&
          lost_.ok() && !shutdown_) {
        // The control service has not said yet: a worker that crashed is
        // reported at once, a node cut off only once its death is seen.
        c->awaiting_death_info.push_back({task, prefix + conn_error, clock_.Now() + DeathInfoWait()});
        ++awaiting_death_info_;
      } else {
        std::string cause =
            c && c->state == proto::DEAD && !c->death_cause.empty() ? c->death_cause : conn_error;
        FailTaskLocked(*task, proto::ACTOR_DIED, prefix + cause, &after);
      }
      if (c) PumpActorLocked(*c, &after);  // after a loss, the calls not sent fail too
    } else {
      RecordReplyLocked(*task, rep);
      for (auto &ret : rep.returns())
        SetReadyLocked(ObjectID::FromBinary(ret.object_id()), ret.payload(), &after);
      FinishTaskLocked(*task, &after);
    }
  }
  RunAll(after);
}

void CoreWorker::ResolveDeathInfoWaitsLocked(ActorClient &c, const std::string *cause, After *after) {
  if (c.awaiting_death_info.empty()) return;
  auto waits = std::move(c.awaiting_death_info);
  c.awaiting_death_info.clear();
  awaiting_death_info_ -= waits.size();
  for (auto &w : waits) {
    if (w.task->done) continue;
    const std::string message = cause && !cause->empty()
                                    ? "The actor died before finishing the call to " +
                                          w.task->spec.function().function_name() + ". " + *cause
                                    : w.message;
    FailTaskLocked(*w.task, proto::ACTOR_DIED, message, after);
  }
}

void CoreWorker::ExpireDeathInfoWaitsLocked(After *after) {
  if (awaiting_death_info_ == 0) return;
  const auto now = clock_.Now();
  for (auto &[id, c] : actor_clients_) {
    auto &waits = c->awaiting_death_info;
    for (auto it = waits.begin(); it != waits.end();) {
      if (now < it->deadline && lost_.ok() && !shutdown_) {
        ++it;
        continue;
      }
      auto task = std::move(it->task);
      std::string message = std::move(it->message);
      it = waits.erase(it);
      --awaiting_death_info_;
      if (!task->done) FailTaskLocked(*task, proto::ACTOR_DIED, message, after);
    }
  }
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

}  // namespace lumen::worker
