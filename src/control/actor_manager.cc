#include "control/actor_manager.h"

#include <chrono>

#include "base/id.h"
#include "base/logging.h"
#include "control/cluster_view.h"
#include "base/timeouts.h"
#include "protocol/node.pb.h"
#include "protocol/worker.pb.h"

namespace lumen::control {
namespace {

constexpr size_t kMaxDeadActors = 10000;  // bounded table: the oldest dead records age out

std::string RestartsText(int max_restarts) {
  return max_restarts < 0 ? "unlimited" : std::to_string(max_restarts);
}

}  // namespace

struct ActorManager::Actor {
  proto::TaskSpec spec;  // the creation task; arguments resolved once `created`
  proto::ActorInfo info;
  std::weak_ptr<rpc::Connection> owner;
  rpc::Connection *owner_key = nullptr;
  bool created = false;
  bool no_restart = false;  // killed for good, or exited on purpose
  // The current placement attempt; callbacks of older attempts are ignored.
  uint64_t generation = 0;
  std::string node_id;    // the node asked for a lease; empty while none is
  bool fetching = false;  // the nodes are being asked what they have free
  bool reported = false;  // that it cannot be placed now was logged
  std::string worker_id;
  rpc::ConnectionPtr worker_conn;
  bool has_worker = false;  // a worker was leased for the current attempt
  // Why the last attempt failed when the worker itself did not say (it could
  // not be reached): the death cause names it, e.g. an open-file limit.
  std::string last_failure;
  // Set when the actor's node died ("its node ... died: ..."): the death
  // cause, if it has no restarts left, names it.
  std::string node_death;
  bool confirming_node = false;  // its worker is gone: asking its node whether it died too
  std::vector<std::function<void(Status)>> on_gone;
  std::map<rpc::Connection *, std::weak_ptr<rpc::Connection>> subscribers;
  // The states it entered (the state API's history), the latest
  // kMaxTransitions: an actor restarted without end keeps its recent past.
  std::deque<proto::ActorStateTransition> transitions;
  int32_t transitions_dropped = 0;
};

ActorManager::ActorManager(rpc::EventLoop &loop, std::string token, const rpc::Dispatcher *dispatcher)
    : loop_(loop), token_(std::move(token)), dispatcher_(dispatcher) {}

ActorManager::~ActorManager() { Stop(); }

void ActorManager::Stop() {
  if (stopped_) return;
  stopped_ = true;
  helper_.Stop();
  // The connections to actor workers are the manager's own (the server closes
  // only those it accepted). Their close handlers and the callbacks of calls
  // pending on them reach into the manager, so they are closed on the loop
  // while it exists; otherwise the loop's teardown would run them on a
  // destroyed manager.
  auto close_all = [this] {
    stopping_ = true;
    for (auto &[id, a] : actors_)
      if (a->worker_conn) a->worker_conn->Close();
  };
  if (loop_.InLoopThread()) {
    close_all();
    return;
  }
  loop_.Post(close_all);
  loop_.Drain();  // the closes
  loop_.Drain();  // what they queued: failed calls, close handlers
}

void ActorManager::OnNodeRegistered(const proto::NodeInfo &info, const rpc::ConnectionPtr &conn) {
  nodes_[info.node_id()] = Node{info, conn};
  // Actors that found no node may fit now.
  for (auto &[id, a] : actors_)
    if (WaitsForANode(*a)) Place(*a);
}

void ActorManager::OnNodeDead(const std::string &node_id, const std::string &cause) {
  nodes_.erase(node_id);
  dead_node_causes_[node_id] = cause;
  if (stopping_) return;
  std::vector<std::string> on_it;
  for (auto &[id, a] : actors_)
    if (a->node_id == node_id && a->info.state() != proto::DEAD) on_it.push_back(id);
  for (auto &id : on_it) {
    Actor *a = Find(id);
    if (!a || a->node_id != node_id || a->info.state() == proto::DEAD) continue;
    if (a->confirming_node) {  // its worker is gone already, and with no restarts left
      a->node_death = cause;
      continue;
    }
    if (!a->has_worker) {
      // Its lease was asked of the dead node: ask another (a later answer
      // belongs to an older attempt and is ignored).
      LUMEN_LOG_INFO("actor {} ({}): placing it again, {}", ToHex(id), a->info.class_name(), cause);
      Place(*a);
      continue;
    }
    a->node_death = cause;
    const uint64_t generation = a->generation;  // Close may run the close handler, which restarts it
    // Its worker is gone with the node, whether or not the connection to it
    // has closed yet (a node cut off from the network keeps it open).
    if (a->worker_conn) {
      auto conn = std::move(a->worker_conn);
      actor_by_worker_conn_.erase(conn.get());
      conn->Close();  // its close handler finds an older attempt, or this one already gone
    }
    OnWorkerGone(id, generation);
  }
}

ActorManager::Actor *ActorManager::Find(const std::string &actor_id) {
  auto it = actors_.find(actor_id);
  return it == actors_.end() ? nullptr : it->second.get();
}

Status ActorManager::Register(const rpc::ConnectionPtr &owner, const proto::TaskSpec &spec) {
  if (spec.actor_id().size() != ActorID::kSize) return Status::InvalidArgument("bad actor id");
  if (actors_.count(spec.actor_id())) return Status::AlreadyExists("actor id registered twice");
  const auto &cs = spec.actor_creation();
  if (!cs.name().empty()) {
    auto key = std::make_pair(cs.ray_namespace(), cs.name());
    if (names_.count(key))
      return Status::AlreadyExists("An actor named '" + cs.name() + "' already exists in namespace '" +
                                   cs.ray_namespace() + "'");
    names_[key] = spec.actor_id();
  }
  auto a = std::make_unique<Actor>();
  a->spec = spec;
  auto &info = a->info;
  info.set_actor_id(spec.actor_id());
  info.set_name(cs.name());
  info.set_ray_namespace(cs.ray_namespace());
  info.set_job_id(spec.job_id());
  info.set_detached(cs.detached());
  info.set_class_name(spec.function().class_name());
  info.set_max_restarts(cs.max_restarts());
  a->owner = owner;
  a->owner_key = owner.get();
  owned_by_[owner.get()].insert(spec.actor_id());
  a->subscribers[owner.get()] = owner;
  subscribed_by_[owner.get()].insert(spec.actor_id());
  EnterState(*a, proto::DEPENDENCIES_UNREADY);
  actors_[spec.actor_id()] = std::move(a);
  return Status::OK();
}

void ActorManager::Create(const proto::TaskSpec &spec) {
  Actor *a = Find(spec.actor_id());
  if (!a || a->created || a->info.state() == proto::DEAD) return;
  a->spec = spec;
  a->created = true;
  if (!spec.actor_creation().dependency_error().empty()) {
    MarkDead(*a, "The actor could not be created because an argument of its constructor failed: " +
                     spec.actor_creation().dependency_error());
    return;
  }
  Schedule(*a);
}

void ActorManager::Subscribe(const rpc::ConnectionPtr &conn, const std::string &actor_id,
                             proto::SubscribeActorReply *rep) {
  Actor *a = Find(actor_id);
  if (!a) return;
  rep->set_found(true);
  *rep->mutable_info() = a->info;
  a->subscribers[conn.get()] = conn;
  subscribed_by_[conn.get()].insert(actor_id);
}

std::string ActorManager::LookupNamed(const std::string &name, const std::string &ray_namespace) const {
  auto it = names_.find({ray_namespace, name});
  return it == names_.end() ? std::string() : it->second;
}

void ActorManager::Publish(Actor &a) {
  for (auto it = a.subscribers.begin(); it != a.subscribers.end();) {
    auto conn = it->second.lock();
    if (!conn || !conn->IsOpen()) {
      it = a.subscribers.erase(it);
      continue;
    }
    conn->Notify(proto::ACTOR_UPDATE, a.info);
    ++it;
  }
}

void ActorManager::Schedule(Actor &a) {
  // Entered before the old incarnation's address is cleared: a restart's
  // transition says where the incarnation that died ran, and why it died.
  if (a.info.num_restarts() > 0) {
    EnterState(a, proto::RESTARTING,
               !a.node_death.empty()     ? a.node_death
               : !a.last_failure.empty() ? a.last_failure
                                         : "its process exited or was killed");
  } else {
    EnterState(a, proto::PENDING_CREATION);
  }
  a.node_death.clear();
  a.has_worker = false;
  a.worker_conn.reset();
  a.worker_id.clear();
  a.info.clear_address();
  a.info.set_pid(0);
  Publish(a);
  Place(a);
}

void ActorManager::Place(Actor &a) {
  uint64_t generation = ++a.generation;
  a.node_id.clear();  // until a node is chosen: placed again when a node registers
  std::vector<NodeLink> alive;
  for (auto &[id, n] : nodes_) {
    auto conn = n.conn.lock();
    if (conn && conn->IsOpen()) alive.push_back(NodeLink{id, conn});
  }
  if (alive.empty()) return;
  if (alive.size() == 1) {
    // Nothing to choose: the node holds the lease until the actor fits (and
    // warns when it never can), at no extra round trip.
    RequestLease(a, alive.front().id, generation);
    return;
  }
  a.fetching = true;
  std::string id = a.spec.actor_id();
  FetchNodeResources(alive, [this, id, generation](std::vector<PlacementNode> nodes) {
    Actor *a = Find(id);
    if (!a || a->generation != generation) return;
    a->fetching = false;
    if (a->info.state() == proto::DEAD) return;
    const auto &cs = a->spec.actor_creation();
    auto placed = PlaceActor(nodes, ToResourceMap(cs.placement_resources()), a->spec.caller().node_id());
    if (placed.outcome == PlacementOutcome::kPlaced) {
      RequestLease(*a, placed.node, generation);
      return;
    }
    if (!a->reported)
      LUMEN_LOG_INFO("actor {} ({}) waits: {}", ToHex(id), a->info.class_name(),
                     placed.outcome == PlacementOutcome::kInfeasible
                         ? "no node has the resources it needs (it waits for a node that has)"
                         : "no node has the resources it needs free now");
    a->reported = true;
    RetryLater();
  });
}

void ActorManager::RetryLater() {
  if (retry_timer_) return;  // armed already
  retry_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io(), kPlacementRetryInterval);
  retry_timer_->async_wait([this](const boost::system::error_code &ec) {
    if (ec || stopping_) return;  // cancelled: the manager is going away
    retry_timer_.reset();
    for (auto &[id, a] : actors_)
      if (WaitsForANode(*a) && !a->fetching) Place(*a);
  });
}

bool ActorManager::WaitsForANode(const Actor &a) const {
  return a.created && !a.has_worker && a.info.state() != proto::DEAD && a.node_id.empty();
}

void ActorManager::RequestLease(Actor &a, const std::string &node_id, uint64_t generation) {
  auto it = nodes_.find(node_id);
  auto node = it == nodes_.end() ? nullptr : it->second.conn.lock();
  if (!node) {
    RetryLater();
    return;
  }
  a.node_id = node_id;
  const auto &cs = a.spec.actor_creation();
  proto::WorkerLeaseRequest req;
  req.set_job_id(a.spec.job_id());
  *req.mutable_resources() = cs.placement_resources();
  *req.mutable_hold() = a.spec.resources();
  req.set_for_actor(true);
  req.set_detached(cs.detached());
  req.set_actor_id(a.spec.actor_id());
  req.set_runtime_env(a.spec.runtime_env());
  std::string id = a.spec.actor_id();
  node->Call(
      proto::REQUEST_WORKER_LEASE, req,
      [this, id, generation](Status st, std::string_view body) { OnLeaseReply(id, generation, st, body); },
      kForever);
}

void ActorManager::OnLeaseReply(const std::string &actor_id, uint64_t generation, Status st,
                                std::string_view body) {
  proto::WorkerLeaseReply rep;
  if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("malformed lease reply");
  Actor *a = Find(actor_id);
  auto node = nodes_.count(a ? a->node_id : "") ? nodes_[a->node_id].conn.lock() : nullptr;
  if (!a || a->generation != generation || a->info.state() == proto::DEAD) {
    if (st.ok() && rep.granted() && node) {
      proto::ReturnWorkerRequest ret;  // no longer wanted: the node kills the worker
      ret.set_lease_id(rep.lease_id());
      ret.set_worker_failed(true);
      node->Notify(proto::RETURN_WORKER, ret);
    }
    return;
  }
  if (!st.ok() && !stopping_ && (!node || !node->IsOpen())) {
    // The node went away before answering (it died): another node may take it.
    LUMEN_LOG_INFO("actor {}: its node went away before granting a lease; placing it again", ToHex(actor_id));
    Place(*a);
    return;
  }
  if (!st.ok() || !rep.granted()) {
    a->no_restart = true;
    MarkDead(*a, "The actor could not be placed: " + (st.ok() ? rep.error() : st.ToString()));
    return;
  }
  a->has_worker = true;
  a->worker_id = rep.worker().worker_id();
  a->spec.clear_gpu_ids();
  for (int id : rep.gpu_ids()) a->spec.add_gpu_ids(id);
  *a->info.mutable_address() = rep.worker();
  a->info.set_pid(rep.pid());
  // Connecting blocks on the handshake: not on the loop thread. By TCP when
  // the worker listens there (its node may be another machine's), never by
  // a Unix path of another node's session.
  std::string path = rep.worker().tcp().empty() ? rep.worker().unix_path() : "tcp:" + rep.worker().tcp();
  helper_.Post([this, actor_id, generation, path] {
    auto conn = rpc::Connect(loop_, path, token_, dispatcher_, kPeerConnectTimeout);
    rpc::ConnectionPtr c = conn.ok() ? conn.value() : nullptr;
    Status why = conn.status();
    loop_.Post([this, actor_id, generation, c, why] { OnWorkerConnected(actor_id, generation, c, why); });
  });
}

void ActorManager::OnWorkerConnected(const std::string &actor_id, uint64_t generation,
                                     rpc::ConnectionPtr conn, const Status &why) {
  Actor *a = Find(actor_id);
  if (stopping_ || !a || a->generation != generation) {
    if (conn) conn->Close();
    return;
  }
  if (!conn) {
    a->last_failure = "the control service could not connect to its worker: " + why.message();
    LUMEN_LOG_WARN("actor {}: {}", ToHex(actor_id), a->last_failure);
    KillWorker(*a);
    OnWorkerGone(actor_id, generation);
    return;
  }
  a->last_failure.clear();
  a->worker_conn = conn;
  actor_by_worker_conn_[conn.get()] = actor_id;
  rpc::Connection *key = conn.get();
  conn->SetCloseHandler([this, actor_id, generation, key](const Status &) {
    actor_by_worker_conn_.erase(key);
    OnWorkerGone(actor_id, generation);
  });
  if (a->info.state() == proto::DEAD) {  // killed while we were connecting
    KillWorker(*a);
    return;
  }
  proto::PushTaskRequest push;
  *push.mutable_spec() = a->spec;
  push.mutable_spec()->mutable_actor_creation()->set_num_restarts(a->info.num_restarts());
  conn->Call(
      proto::PUSH_TASK, push,
      [this, actor_id, generation](Status st, std::string_view body) {
        OnCreationReply(actor_id, generation, st, body);
      },
      kForever);
}

void ActorManager::OnCreationReply(const std::string &actor_id, uint64_t generation, Status st,
                                   std::string_view body) {
  Actor *a = Find(actor_id);
  if (!a || a->generation != generation || a->info.state() == proto::DEAD) return;
  if (!st.ok()) return;  // the worker went away: its connection's close handler deals with it
  proto::PushTaskReply rep;
  if (!rpc::ParseBody(body, &rep)) {
    a->no_restart = true;
    MarkDead(*a, "malformed reply to the actor creation task");
    return;
  }
  if (rep.returns_size() > 0 && rep.returns(0).payload().error() != proto::NO_ERROR) {
    // The constructor threw: the actor is dead, without restarts (as in Ray).
    a->no_restart = true;
    MarkDead(*a, "The actor died because its constructor failed: " + rep.returns(0).payload().data());
    return;
  }
  EnterState(*a, proto::ALIVE);
  LUMEN_LOG_INFO("actor {} ({}) alive in pid {}", ToHex(actor_id), a->info.class_name(), a->info.pid());
  Publish(*a);
}

void ActorManager::OnWorkerGone(const std::string &actor_id, uint64_t generation) {
  Actor *a = Find(actor_id);
  if (stopping_ || !a || a->generation != generation) return;  // stopping: no restarts
  a->worker_conn.reset();
  a->has_worker = false;
  if (a->info.state() == proto::DEAD) {
    RunGoneCallbacks(*a);
    return;
  }
  auto owner = a->owner.lock();
  bool owner_alive = a->info.detached() || (owner && owner->IsOpen());
  int max = a->info.max_restarts();
  if (!a->no_restart && owner_alive && (max < 0 || a->info.num_restarts() < max)) {
    a->info.set_num_restarts(a->info.num_restarts() + 1);
    LUMEN_LOG_INFO("actor {} died; restart {} of {}", ToHex(actor_id), a->info.num_restarts(),
                   RestartsText(max));
    Schedule(*a);
  } else if (a->no_restart) {
    MarkDead(*a, "The actor exited (ray::ExitActor was called).");
  } else if (!owner_alive) {
    MarkDead(*a, "The actor died because its owner (the driver or actor that created it) died.");
  } else {
    ConfirmNodeThenMarkDead(*a);
  }
  RunGoneCallbacks(*a);
}

// A worker's connection closing and its node's are two events: when a node
// dies with its workers, the worker's may be seen first. So before an actor
// with no restarts left is declared dead of its own process's death, its
// node is asked whether it is alive; one that does not answer (its
// connection closes) died, and the death cause names it.
void ActorManager::ConfirmNodeThenMarkDead(Actor &a) {
  auto it = nodes_.find(a.node_id);
  auto node = it == nodes_.end() ? nullptr : it->second.conn.lock();
  if (a.node_death.empty() && node && node->IsOpen()) {
    a.confirming_node = true;
    std::string id = a.info.actor_id(), node_id = a.node_id;
    const uint64_t generation = a.generation;
    node->Call(
        proto::NODE_HEALTH_CHECK, proto::NodeEmpty(),
        [this, id, node_id, generation](Status st, std::string_view) {
          Actor *a = Find(id);
          if (stopping_ || !a || a->generation != generation || a->info.state() == proto::DEAD) return;
          a->confirming_node = false;
          if (!st.ok() && a->node_death.empty()) a->node_death = DeadNodeCause(node_id);
          MarkDeadWithNoRestartsLeft(*a);
        },
        kNodeUsageTimeout);
    return;
  }
  if (a.node_death.empty() && !a.node_id.empty() && !node) a.node_death = DeadNodeCause(a.node_id);
  MarkDeadWithNoRestartsLeft(a);
}

std::string ActorManager::DeadNodeCause(const std::string &node_id) const {
  auto it = dead_node_causes_.find(node_id);
  return it != dead_node_causes_.end() ? it->second : "its node " + ToHex(node_id) + " died";
}

void ActorManager::MarkDeadWithNoRestartsLeft(Actor &a) {
  const std::string restarts = "(max_restarts=" + RestartsText(a.info.max_restarts()) + ")";
  if (!a.node_death.empty()) {
    MarkDead(a, "The actor died because " + a.node_death + "; it has no restarts left " + restarts + ".");
    return;
  }
  MarkDead(a, "The actor died unexpectedly: its process exited or was killed, and it has no restarts left " +
                  restarts + "." + (a.last_failure.empty() ? "" : " Last failure: " + a.last_failure + "."));
}

void ActorManager::RunGoneCallbacks(Actor &a) {
  auto callbacks = std::move(a.on_gone);
  a.on_gone.clear();
  for (auto &cb : callbacks) cb(Status::OK());
}

void ActorManager::MarkDead(Actor &a, const std::string &cause) {
  if (a.info.state() == proto::DEAD) return;
  EnterState(a, proto::DEAD, cause);
  a.info.set_death_cause(cause);
  auto &cs = a.spec.actor_creation();
  if (!cs.name().empty()) {
    auto it = names_.find({cs.ray_namespace(), cs.name()});
    if (it != names_.end() && it->second == a.info.actor_id()) names_.erase(it);
  }
  LUMEN_LOG_INFO("actor {} dead: {}", ToHex(a.info.actor_id()), cause);
  Publish(a);
  if (a.has_worker) KillWorker(a);
  a.spec.clear_args();  // a dead actor's record stays (bounded) for lookups; its arguments need not
  dead_.push_back(a.info.actor_id());
  ForgetOldDead();
}

void ActorManager::KillWorker(Actor &a) {
  if (a.worker_id.empty()) return;
  auto it = nodes_.find(a.node_id);
  auto node = it == nodes_.end() ? nullptr : it->second.conn.lock();
  if (!node) return;
  proto::KillWorkerRequest req;
  req.set_worker_id(a.worker_id);
  node->Notify(proto::KILL_WORKER, req);
}

void ActorManager::Kill(const std::string &actor_id, bool no_restart, std::function<void(Status)> done) {
  Actor *a = Find(actor_id);
  if (!a) {
    done(Status::NotFound("no actor with id " + ToHex(actor_id)));
    return;
  }
  if (a->info.state() == proto::DEAD && !a->has_worker) {
    done(Status::OK());
    return;
  }
  if (no_restart) {
    a->no_restart = true;
    if (a->has_worker) a->on_gone.push_back(std::move(done));
    MarkDead(*a, "The actor was killed by ray::ActorHandle::Kill.");
    if (!a->has_worker) {
      // Not placed yet: nothing to wait for (a lease that comes later is returned).
      RunGoneCallbacks(*a);
      done(Status::OK());
    }
    return;
  }
  if (!a->has_worker) {
    done(Status::OK());
    return;
  }
  a->on_gone.push_back(std::move(done));
  KillWorker(*a);
}

void ActorManager::OnActorExiting(const rpc::ConnectionPtr &worker_conn) {
  auto it = actor_by_worker_conn_.find(worker_conn.get());
  if (it == actor_by_worker_conn_.end()) return;
  if (Actor *a = Find(it->second)) a->no_restart = true;
}

void ActorManager::OnConnectionClosed(const rpc::ConnectionPtr &conn) {
  auto sub = subscribed_by_.find(conn.get());
  if (sub != subscribed_by_.end()) {
    for (auto &id : sub->second)
      if (Actor *a = Find(id)) a->subscribers.erase(conn.get());
    subscribed_by_.erase(sub);
  }
  auto owned = owned_by_.find(conn.get());
  if (owned == owned_by_.end()) return;
  auto ids = std::move(owned->second);
  owned_by_.erase(owned);
  for (auto &id : ids) {
    Actor *a = Find(id);
    if (!a) continue;
    a->owner_key = nullptr;
    if (a->info.detached() || a->info.state() == proto::DEAD) continue;
    a->no_restart = true;
    MarkDead(*a, "The actor died because its owner (the driver or actor that created it) exited.");
  }
}

void ActorManager::ForgetOldDead() {
  while (dead_.size() > kMaxDeadActors) {
    std::string id = dead_.front();
    dead_.pop_front();
    auto it = actors_.find(id);
    if (it == actors_.end() || it->second->has_worker) continue;
    auto &a = *it->second;
    for (auto &[key, weak] : a.subscribers) {
      auto s = subscribed_by_.find(key);
      if (s != subscribed_by_.end()) s->second.erase(id);
    }
    if (a.owner_key) {
      auto o = owned_by_.find(a.owner_key);
      if (o != owned_by_.end()) o->second.erase(id);
    }
    actors_.erase(it);
  }
}

void ActorManager::OnPlacementGroupRemoved(const std::string &group_id) {
  for (auto &[id, a] : actors_) {
    if (a->spec.actor_creation().placement_group_id() != group_id || a->info.state() == proto::DEAD) continue;
    a->no_restart = true;
    MarkDead(*a, "The actor died because its placement group was removed.");
  }
}

void ActorManager::EnterState(Actor &a, proto::ActorState state, const std::string &cause) {
  a.info.set_state(state);
  if (!a.transitions.empty() && a.transitions.back().state() == state) return;  // placed again, same state
  if (a.transitions.size() == kMaxTransitions) {
    a.transitions.pop_front();
    ++a.transitions_dropped;
  }
  proto::ActorStateTransition &t = a.transitions.emplace_back();
  t.set_state(state);
  t.set_time_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
  t.set_node_id(a.info.address().node_id());
  t.set_worker_id(a.info.address().worker_id());
  t.set_pid(a.info.pid());
  t.set_cause(cause);
}

void ActorManager::GetAll(proto::GetAllActorsReply *rep) const {
  for (auto &[id, a] : actors_) {
    proto::ActorInfo *info = rep->add_actors();
    *info = a->info;
    info->mutable_state_transitions()->Add(a->transitions.begin(), a->transitions.end());
    info->set_num_state_transitions_dropped(a->transitions_dropped);
  }
}

}  // namespace lumen::control
