// The control service's placement-group manager (Ray's
// GcsPlacementGroupManager): the table of groups, their names, and their
// reservation on a node. A group is PENDING until a node reserves all its
// bundles at once (the node holds the request until they fit), then CREATED;
// removing it gives the bundles back, ends the actors placed in it (the node
// ends its tasks) and leaves the record as REMOVED.
//
// Strategies on the nodes this service knows: PACK, STRICT_PACK and SPREAD
// place every bundle on one node when no other fits (SPREAD is best effort, as
// in Ray); STRICT_SPREAD needs a distinct node per bundle and stays PENDING
// until there are enough.
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
#include "protocol/common.pb.h"
#include "protocol/control.pb.h"
#include "rpc/rpc.h"

namespace lumen::control {

class PlacementGroupManager {
 public:
  PlacementGroupManager(rpc::EventLoop &loop, ActorManager *actors, Clock &clock = Clock::Real());
  ~PlacementGroupManager();

  void OnNodeRegistered(const proto::NodeInfo &info, const rpc::ConnectionPtr &conn);
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
    bool requested = false;  // a reservation is in flight at a node
  };
  struct Node {
    proto::NodeInfo info;
    std::weak_ptr<rpc::Connection> conn;
  };

  void Schedule(Group &g);
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
};

}  // namespace lumen::control
