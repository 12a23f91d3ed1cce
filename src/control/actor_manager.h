// The control service's actor manager (Ray's GcsActorManager): the table of
// every actor in the cluster, their names, and their life cycle.
//
// An owner registers an actor (reserving its name), then sends the creation
// task once its arguments are resolved. The manager leases a dedicated worker
// from a node, pushes the creation task to it and publishes the actor's state
// (PENDING_CREATION, ALIVE with the worker's address, RESTARTING, DEAD with a
// cause) to everyone subscribed: callers then talk to the actor directly.
// When the actor's worker goes away (the manager holds a connection to it,
// whose closing is the signal), the actor is restarted while max_restarts
// allows, else it is dead. A non-detached actor shares fate with its owner:
// the owner's control connection closing kills it. When a node dies
// (OnNodeDead) its actors restart elsewhere or die naming the node's death.
//
// Placement (Ray's default, hybrid policy; cluster_placement.h): with one
// live node the lease goes there and waits for room; with several, the nodes
// are asked what they have free (cluster_view.h) and the actor goes to a
// node where its placement resources are free now, the owner's node while it
// is less than half used, else the least used. When no node has room now the
// actor stays PENDING_CREATION and is placed again after
// kPlacementRetryInterval, or when a node registers, as Ray does.
//
// Threading: everything runs on the control service's event-loop thread,
// except connecting to a new worker, which blocks and so runs on the
// manager's helper thread and posts its result back to the loop.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "base/serial_executor.h"
#include "protocol/common.pb.h"
#include "protocol/control.pb.h"
#include "rpc/rpc.h"

namespace lumen::control {

class ActorManager {
 public:
  /// `dispatcher` serves what actor workers send back on the manager's
  /// connections to them (ACTOR_EXITING).
  ActorManager(rpc::EventLoop &loop, std::string token, const rpc::Dispatcher *dispatcher);
  ~ActorManager();

  /// Joins the helper thread and closes the connections to actor workers
  /// (no restarts follow). Idempotent; call it from one thread, not a handler,
  /// before the loop stops.
  void Stop();

  // ---- nodes ----
  void OnNodeRegistered(const proto::NodeInfo &info, const rpc::ConnectionPtr &conn);
  /// The node died (`cause`: "its node <id> (<ip>) died: <why>"): no actor
  /// is placed there again; each actor on it (alive, or being created there)
  /// restarts on another node while max_restarts allows (its name kept), else
  /// is DEAD with a death cause naming the node's death. An actor still
  /// being created there is placed again without using a restart.
  void OnNodeDead(const std::string &node_id, const std::string &cause);

  // ---- requests (loop thread) ----
  /// Records the actor and reserves its name; `owner` is the owner's control
  /// connection, which also becomes a subscriber. AlreadyExists on a name clash.
  Status Register(const rpc::ConnectionPtr &owner, const proto::TaskSpec &spec);
  /// The creation task, arguments resolved: schedule the actor.
  void Create(const proto::TaskSpec &spec);
  /// Subscribes `conn` to the actor's updates; fills the current state.
  void Subscribe(const rpc::ConnectionPtr &conn, const std::string &actor_id,
                 proto::SubscribeActorReply *rep);
  /// An actor alive (not DEAD) under that name, or an empty string.
  std::string LookupNamed(const std::string &name, const std::string &ray_namespace) const;
  /// Kills the actor; `done` runs once its process is gone (or at once when
  /// it has none). With no_restart false it restarts if max_restarts allows.
  void Kill(const std::string &actor_id, bool no_restart, std::function<void(Status)> done);
  /// The actor on the other end of `worker_conn` called ExitActor.
  void OnActorExiting(const rpc::ConnectionPtr &worker_conn);
  /// Any incoming connection closed: drop its subscriptions and end the
  /// non-detached actors it owned.
  void OnConnectionClosed(const rpc::ConnectionPtr &conn);
  void GetAll(proto::GetAllActorsReply *rep) const;
  /// Ends (for good) every actor placed in the group.
  void OnPlacementGroupRemoved(const std::string &group_id);

 private:
  struct Actor;
  struct Node {
    proto::NodeInfo info;
    std::weak_ptr<rpc::Connection> conn;
  };

  Actor *Find(const std::string &actor_id);
  void Publish(Actor &a);
  /// A new attempt: publishes PENDING_CREATION (or RESTARTING), then places.
  void Schedule(Actor &a);
  /// Chooses a node (with several, by what they have free: cluster_placement.h)
  /// and asks it for a lease; waits and retries when none has room.
  void Place(Actor &a);
  void RequestLease(Actor &a, const std::string &node_id, uint64_t generation);
  void RetryLater();
  bool WaitsForANode(const Actor &a) const;
  void OnLeaseReply(const std::string &actor_id, uint64_t generation, Status st, std::string_view body);
  void OnWorkerConnected(const std::string &actor_id, uint64_t generation, rpc::ConnectionPtr conn,
                         const Status &why);
  void OnCreationReply(const std::string &actor_id, uint64_t generation, Status st, std::string_view body);
  void OnWorkerGone(const std::string &actor_id, uint64_t generation);
  /// Marks the actor DEAD for good, frees its name and kills its worker.
  void MarkDead(Actor &a, const std::string &cause);
  /// Its worker is gone and it has no restarts left: dead, of its node's
  /// death if its node turns out dead too (see the .cc).
  void ConfirmNodeThenMarkDead(Actor &a);
  void MarkDeadWithNoRestartsLeft(Actor &a);
  std::string DeadNodeCause(const std::string &node_id) const;
  /// Sets the actor's state and records the transition (where its worker
  /// is now, and `cause`) unless the state is the one it is in.
  void EnterState(Actor &a, proto::ActorState state, const std::string &cause = {});
  void KillWorker(Actor &a);
  void RunGoneCallbacks(Actor &a);
  void ForgetOldDead();

  static constexpr size_t kMaxTransitions = 64;

  rpc::EventLoop &loop_;
  std::string token_;
  const rpc::Dispatcher *dispatcher_;

  // Loop-thread state.
  std::unordered_map<std::string, std::unique_ptr<Actor>> actors_;    // by binary actor id
  std::map<std::pair<std::string, std::string>, std::string> names_;  // (namespace, name) -> id
  std::map<rpc::Connection *, std::set<std::string>> owned_by_;       // owner connection -> actors
  std::map<rpc::Connection *, std::set<std::string>> subscribed_by_;
  std::map<rpc::Connection *, std::string> actor_by_worker_conn_;
  std::map<std::string, Node> nodes_;
  std::map<std::string, std::string> dead_node_causes_;     // by node id: "its node <id> (<ip>) died: <why>"
  std::deque<std::string> dead_;                            // oldest first; bounded
  std::unique_ptr<boost::asio::steady_timer> retry_timer_;  // armed while an actor waits for room

  bool stopped_ = false;                       // the thread that calls Stop()
  bool stopping_ = false;                      // loop thread: Stop() closed the worker connections
  SerialExecutor helper_{"lumen-actor-conn"};  // connects to actor workers
};

}  // namespace lumen::control
