// The control service's placement-group manager (Ray's
// GcsPlacementGroupManager): the table of groups, their names, and their
// reservation on the nodes. A group is PENDING until every bundle is
// reserved, then CREATED; removing it gives the bundles back, ends the actors
// placed in it (the nodes end its tasks) and leaves the record as REMOVED.
//
// With one live node there is nothing to choose: the node is sent every
// bundle at once (RESERVE_BUNDLES) and holds the request until they fit, as
// before there were several nodes. With several, the manager asks the nodes
// what they have free (cluster_view.h), lets the policy (cluster_placement.h)
// choose a node per bundle by the group's strategy (PACK, SPREAD,
// STRICT_PACK, STRICT_SPREAD), and reserves them in two phases as Ray's GCS
// does: PREPARE_BUNDLES on every chosen node (each takes its bundles now or
// fails); once all have prepared, COMMIT_BUNDLES on each, and the group is
// CREATED when all have committed. If any prepare or commit fails, every
// chosen node is told RETURN_BUNDLES (which cancels a prepared group), so a
// failure never leaves part of a group reserved. A group that fits nowhere
// now (or whose reservation failed) stays PENDING and is tried again after
// kPlacementRetryInterval, or when a node registers.
//
// When a node dies (OnNodeDead) a CREATED group with bundles there goes
// RESCHEDULING: those bundles alone are placed again, by the same policy and
// two phases, on nodes that hold none of the group's other bundles (a node
// keeps one reservation per group), and the group is CREATED again once they
// are committed (Ray's rescheduling). The actors in those bundles restart
// there through the actor manager (their placement waits for the bundle).
//
// A Wait's timeout is read from the Clock the manager is given (a test moves
// a FakeClock past it instead of sleeping).
//
// Threading: loop thread only (the control service's), and destroyed only
// once that loop has stopped (a FakeClock's Advance posts to it).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "base/clock.h"
#include "control/actor_manager.h"
#include "control/cluster_view.h"
#include "protocol/common.pb.h"
#include "protocol/control.pb.h"
#include "rpc/rpc.h"

namespace lumen::control {

class PlacementGroupManager {
 public:
  PlacementGroupManager(rpc::EventLoop &loop, ActorManager *actors, Clock &clock = Clock::Real());
  ~PlacementGroupManager();

  void OnNodeRegistered(const proto::NodeInfo &info, const rpc::ConnectionPtr &conn);
  /// The node died: nothing is placed there again, and its bundles of
  /// created groups are placed again (see above).
  void OnNodeDead(const std::string &node_id);
  /// AlreadyExists when the name is taken in its namespace.
  Status Create(const proto::PlacementGroupInfo &info);
  /// Harmless for an unknown or removed group.
  void Remove(const std::string &group_id);
  /// `done(true)` once created; `done(false)` once `timeout_ms` has passed on
  /// the clock, or if removed.
  void Wait(const std::string &group_id, int64_t timeout_ms, std::function<void(bool)> done);
  bool Get(const proto::GetPlacementGroupRequest &req, proto::PlacementGroupInfo *out) const;
  void GetAll(proto::GetAllPlacementGroupsReply *rep) const;

 private:
  struct Waiter {
    std::function<void(bool)> done;
    Clock::TimePoint deadline;
    std::unique_ptr<boost::asio::steady_timer> timer;  // fires at the deadline (not for a FakeClock)
  };
  struct Group {
    proto::PlacementGroupInfo info;
    std::vector<std::shared_ptr<Waiter>> waiters;
    bool requested = false;  // a reservation is in flight at a node (or the nodes are being asked)
    uint64_t attempt = 0;    // the current reservation across nodes; older answers are ignored
    bool reported = false;   // that it cannot be placed now was logged
    bool refused = false;    // its one node refused it: tried again only when a node registers
  };
  struct Attempt;
  struct Node {
    proto::NodeInfo info;
    std::weak_ptr<rpc::Connection> conn;
  };

  void Schedule(Group &g);
  /// A RESCHEDULING group: places its bundles that have no node (an empty
  /// bundle_node_ids entry) again.
  void Reschedule(Group &g);
  void OnRescheduleResources(const std::string &group_id, uint64_t attempt, std::vector<PlacementNode> nodes);
  /// PENDING or RESCHEDULING: a reservation may be made for it.
  static bool Placing(const Group &g);
  /// The one live node takes every bundle (it holds the request until they fit).
  void ReserveOnOne(Group &g, const std::string &node_id, const rpc::ConnectionPtr &conn);
  /// Several live nodes: ask them what is free, then place and reserve.
  void PlaceAcross(Group &g);
  void OnNodeResources(const std::string &group_id, uint64_t attempt, std::vector<PlacementNode> nodes);
  void Prepare(Group &g, const std::shared_ptr<Attempt> &attempt);
  void Commit(Group &g, const std::shared_ptr<Attempt> &attempt);
  /// Cancels the attempt on every node it chose; the group waits for a retry.
  void Abandon(Group &g, const Attempt &attempt, const std::string &why);
  void RetryLater();
  rpc::ConnectionPtr NodeConn(const std::string &node_id) const;
  void Finish(Group &g, bool ready);
  /// Answers `false` to the waiters whose deadline has passed.
  void ExpireWaiters();

  rpc::EventLoop &loop_;
  ActorManager *actors_;
  Clock &clock_;
  Clock::Listener clock_wakeup_;
  std::map<std::string, std::unique_ptr<Group>> groups_;              // by id
  std::map<std::pair<std::string, std::string>, std::string> names_;  // (namespace, name) -> id
  std::map<std::string, Node> nodes_;
  std::unique_ptr<boost::asio::steady_timer> retry_timer_;  // armed while a group waits to be tried again
};

}  // namespace lumen::control
