#include "worker/actor_task_submitter.h"

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

#include "base/settings.h"

namespace lumen::worker {

/// A caller's view of one actor: its state as last published by the control
/// service, the connection to its current worker, and the calls not yet sent
/// (kept in submission order; the head waits until its arguments are ready).
struct ActorTaskSubmitter::ActorClient {
  ActorID id;
  proto::ActorState state = proto::DEPENDENCIES_UNREADY;
  bool known = false;  // the control service answered about it
  proto::Address address;
  int incarnation = -1;       // num_restarts of `address`
  int dead_incarnation = -1;  // the newest incarnation seen failing
  int told_gone = -1;         // the newest incarnation the control service said is gone
  ActorTransport::Peer conn;
  bool connecting = false;
  std::string death_cause;
  uint64_t next_seq = 0;
  int in_flight = 0;
  std::deque<std::shared_ptr<TaskEntry>> pending;
  std::shared_ptr<TaskEntry> creation;  // owner: holds the constructor's argument refs
  // Calls whose connection to the actor failed before the control service
  // said what became of it (Ray's wait for death info): failed with its
  // death cause once it does, so that a call lost with a node that was cut
  // off names the node's death, or with the connection's error at
  // `deadline` (DeathInfoWait()).
  struct AwaitingDeathInfo {
    std::shared_ptr<TaskEntry> task;
    std::string message;  // the connection's error, as the call would fail with it
    Clock::TimePoint deadline;
  };
  std::vector<AwaitingDeathInfo> awaiting_death_info;
};

// Ray's timeout_ms_task_wait_for_death_info (1 s there), made long enough
// for the control service to see a node that was cut off dead
// (LUMEN_NODE_DEATH_TIMEOUT_MS, after a health check period), so that such a
// call names the node's death; a process that crashed is reported within
// milliseconds, and its calls wait no longer than that.
Clock::Duration ActorTaskSubmitter::DeathInfoWait() {
  const Settings &s = CurrentSettings();
  return std::chrono::milliseconds(s.node_death_timeout_ms + 2 * s.health_check_period_ms);
}

template <typename F>
void ActorTaskSubmitter::WithClient(const ActorID &id, F f) {
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ActorClient *c = Find(id);
    if (!c) return;
    f(*c, &after);
  }
  RunAll(after);
}

ActorTaskSubmitter::ActorTaskSubmitter(std::mutex &mu, ActorTransport &transport, Owner &owner,
                                       TaskEventRecorder &events, Clock &clock)
    : mu_(mu), transport_(transport), owner_(owner), events_(events), clock_(clock) {
  transport_.ListenForActorUpdates([this](const proto::ActorInfo &info) {
    WithClient(ActorID::FromBinary(info.actor_id()),
               [&](ActorClient &c, After *after) { ApplyActorInfo(c, info, after); });
  });
}

ActorTaskSubmitter::~ActorTaskSubmitter() = default;

ActorTaskSubmitter::ActorClient *ActorTaskSubmitter::Find(const ActorID &id) {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second.get();
}

bool ActorTaskSubmitter::HasActor(const ActorID &id) const { return clients_.count(id) > 0; }

ActorTaskSubmitter::ActorClient &ActorTaskSubmitter::ClientFor(const ActorID &id,
                                                               const ActorTransport::Peer &control) {
  auto &slot = clients_[id];
  if (slot) return *slot;
  slot = std::make_unique<ActorClient>();
  slot->id = id;
  if (!control) {
    slot->known = true;
    slot->state = proto::DEAD;
    slot->death_cause = "Cannot reach the control service to find the actor.";
    return *slot;
  }
  // The reply and later ACTOR_UPDATEs arrive in order on the loop thread.
  transport_.SubscribeActor(control, id, [this, id](Status st, std::string_view body) {
    proto::SubscribeActorReply rep;
    if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("malformed reply");
    WithClient(id, [&](ActorClient &c, After *after) {
      proto::ActorInfo info;
      if (!st.ok() || !rep.found()) {
        info.set_state(proto::DEAD);
        info.set_death_cause(st.ok() ? "No actor with id " + id.Hex() + " exists in this cluster."
                                     : "Cannot reach the control service: " + st.ToString());
      } else {
        info = rep.info();
      }
      ApplyActorInfo(c, info, after);
    });
  });
  return *slot;
}

void ActorTaskSubmitter::AddCreatedActor(const ActorID &id, std::shared_ptr<TaskEntry> creation) {
  auto &slot = clients_[id];
  slot = std::make_unique<ActorClient>();
  slot->id = id;
  slot->known = true;
  slot->creation = std::move(creation);
}

void ActorTaskSubmitter::Queue(std::shared_ptr<TaskEntry> task, const ActorTransport::Peer &control) {
  ActorClient &c = ClientFor(ActorID::FromBinary(task->spec.actor_id()), control);
  task->spec.set_actor_seq(c.next_seq++);
  c.pending.push_back(std::move(task));
}

void ActorTaskSubmitter::Pump(const ActorID &id, After *after) {
  if (ActorClient *c = Find(id)) Pump(*c, after);
}

void ActorTaskSubmitter::MarkDead(const ActorID &id, const std::string &cause, After *after) {
  ActorClient *c = Find(id);
  if (!c) return;
  proto::ActorInfo dead;
  dead.set_state(proto::DEAD);
  dead.set_death_cause(cause);
  ApplyActorInfo(*c, dead, after);
}

void ActorTaskSubmitter::OnLost(const Status &why, After *after) {
  lost_ = why;
  for (auto &[id, c] : clients_) Pump(*c, after);
}

void ActorTaskSubmitter::Shutdown() { shutdown_ = true; }

void ActorTaskSubmitter::Clear() { clients_.clear(); }

void ActorTaskSubmitter::ApplyActorInfo(ActorClient &c, const proto::ActorInfo &info, After *after) {
  c.known = true;
  // News of another incarnation than the one that was called: the calls
  // waiting for it fail now (a DEAD actor's, with its cause, below).
  if (info.state() != proto::DEAD &&
      !(info.state() == proto::ALIVE && info.num_restarts() == c.incarnation)) {
    c.told_gone = std::max(c.told_gone, c.incarnation);
    ResolveDeathInfoWaits(c, nullptr, after);
  }
  switch (info.state()) {
    case proto::DEAD:
      c.state = proto::DEAD;
      c.death_cause = info.death_cause();
      c.conn.reset();  // calls in flight fail as the worker's connection closes
      if (c.creation) {
        // Never alive: its creation failed (else the executor said FINISHED).
        if (c.incarnation < 0)
          events_.RecordEnd(c.creation->spec, proto::ACTOR_DIED, c.death_cause, c.creation->events_kept);
        owner_.FinishTask(*c.creation, after);  // the constructor's arguments may go
        c.creation.reset();
      }
      break;
    case proto::ALIVE:
      if (info.num_restarts() <= c.dead_incarnation) return;  // stale: that incarnation failed
      if (info.num_restarts() != c.incarnation) {
        if (c.incarnation < 0 && c.creation)
          events_.RecordEnd(c.creation->spec, proto::NO_ERROR, {}, c.creation->events_kept);
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
  Pump(c, after);
}

void ActorTaskSubmitter::Pump(ActorClient &c, After *after) {
  while (!c.pending.empty() && c.pending.front()->done) c.pending.pop_front();
  if (!lost_.ok() && c.state != proto::ALIVE && c.state != proto::DEAD) {
    // Waiting for it to be created or restarted is waiting for ever now.
    c.state = proto::DEAD;
    c.death_cause = lost_.message();
    if (c.creation) {
      owner_.FinishTask(*c.creation, after);  // the constructor's arguments may go
      c.creation.reset();
    }
  }
  if (c.state == proto::DEAD) {
    ResolveDeathInfoWaits(c, &c.death_cause, after);
    auto pending = std::move(c.pending);
    c.pending.clear();
    for (auto &t : pending) {
      if (t->done) continue;
      owner_.FailTask(*t, proto::ACTOR_DIED,
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
    transport_.ConnectToActor(c.address, [this, id, incarnation](ActorTransport::Peer conn) {
      WithClient(id, [&](ActorClient &c2, After *after2) {
        c2.connecting = false;
        if (c2.incarnation == incarnation && c2.state == proto::ALIVE) {
          if (conn) {
            c2.conn = std::move(conn);
          } else {
            // Its worker is already gone: wait for the control service's news.
            c2.dead_incarnation = std::max(c2.dead_incarnation, incarnation);
            c2.state = proto::RESTARTING;
          }
        }
        Pump(c2, after2);
      });
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
    Send(c, std::move(task));
  }
}

void ActorTaskSubmitter::Send(ActorClient &c, std::shared_ptr<TaskEntry> task) {
  c.in_flight++;
  events_.RecordAt(task->spec, proto::SUBMITTED_TO_WORKER,
                   {NodeID::FromBinary(c.address.node_id()), WorkerID::FromBinary(c.address.worker_id()), 0},
                   task->events_kept);
  // A lone call is latency-bound: written now rather than via the loop.
  const bool write_now = c.in_flight == 1;
  ActorID id = c.id;
  int incarnation = c.incarnation;
  // The entry moves into the callback, which the transport holds through
  // the call: `spec` stays valid, and no reference count is taken.
  const proto::TaskSpec &spec = task->spec;
  transport_.PushActorTask(c.conn, spec, write_now,
                           [this, id, incarnation, task = std::move(task)](Status st, std::string_view body) {
                             OnReply(id, incarnation, task, st, body);
                           });
}

void ActorTaskSubmitter::OnReply(const ActorID &id, int incarnation, const std::shared_ptr<TaskEntry> &task,
                                 Status st, std::string_view body) {
  proto::PushTaskReply rep;
  if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("malformed actor task reply");
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ActorClient *c = Find(id);
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
        owner_.FailTask(*task, proto::ACTOR_DIED, prefix + cause, &after);
      }
      if (c) Pump(*c, &after);  // after a loss, the calls not sent fail too
    } else {
      owner_.CompleteTask(*task, rep, &after);
    }
  }
  RunAll(after);
}

void ActorTaskSubmitter::ResolveDeathInfoWaits(ActorClient &c, const std::string *cause, After *after) {
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
    owner_.FailTask(*w.task, proto::ACTOR_DIED, message, after);
  }
}

void ActorTaskSubmitter::ExpireDeathInfoWaits(After *after) {
  if (awaiting_death_info_ == 0) return;
  const auto now = clock_.Now();
  for (auto &[id, c] : clients_) {
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
      if (!task->done) owner_.FailTask(*task, proto::ACTOR_DIED, message, after);
    }
  }
}

}  // namespace lumen::worker
