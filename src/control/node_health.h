// The control service's health check of the nodes (Ray's GCS health check
// manager): every `period` it sends each registered node NODE_HEALTH_CHECK,
// which the node's event loop answers. A node with a check unanswered for
// `timeout` is reported dead once (`on_dead`) and no longer checked.
//
// Why a check the control service drives, besides the node's connection
// closing: a node whose processes die closes its connection and is seen dead
// at once (ControlServer::OnConnectionClosed), but a node cut off from the
// network, or whose loop hangs, keeps its connection open and says nothing.
// Why "a check unanswered for `timeout`" rather than "nothing heard for
// `timeout`": a check is only sent once the previous one was answered, so a
// node that answers is never judged by a gap it could not fill (a busy
// control service, or a test that moves its clock far at once).
//
// Over a real network the rpc layer watches a pending check too: a node
// silent past rpc::PeerTimeout (5 s) has its connection closed, and is dead
// by that, whichever comes first; so a death timeout longer than the peer
// timeout (plus a period) does not delay detection further.
//
// Time is read from the Clock it is given: production passes Clock::Real()
// and a steady timer ticks every `period`; a test passes a FakeClock, whose
// every Advance runs a tick, so no test sleeps.
//
// Threading: loop thread only (the control service's), except construction
// and destruction, which happen while the loop runs no handler of it (the
// control service builds it before it serves and destroys it after its loop
// stopped).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "base/clock.h"
#include "rpc/rpc.h"

namespace lumen::control {

struct NodeHealthOptions {
  Clock::Duration period = std::chrono::seconds(1);
  Clock::Duration timeout = std::chrono::seconds(10);
  /// LUMEN_HEALTH_CHECK_PERIOD_MS and LUMEN_NODE_DEATH_TIMEOUT_MS (base/settings.h).
  static NodeHealthOptions FromSettings();
};

class NodeHealthChecker {
 public:
  using DeadFn = std::function<void(const std::string &node_id, const std::string &why)>;

  NodeHealthChecker(rpc::EventLoop &loop, Clock &clock, NodeHealthOptions options, DeadFn on_dead);
  ~NodeHealthChecker();

  /// Checks the node on `conn` from now on (a node registering again under
  /// the same id replaces its old record).
  void Add(const std::string &node_id, const rpc::ConnectionPtr &conn);
  /// Stops checking it (it is dead for another reason).
  void Remove(const std::string &node_id);
  /// Cancels the timer; no check is sent afterwards. Loop thread.
  void Stop();

 private:
  struct Tracked {
    std::weak_ptr<rpc::Connection> conn;
    uint64_t generation = 0;      // which Add this record is: older answers are ignored
    bool in_flight = false;       // a check is sent and not answered yet
    Clock::TimePoint sent_at;     // when it was sent
    Clock::TimePoint next_check;  // when the next one is due once it is answered
  };

  void Tick();
  void Check(const std::string &node_id, Tracked &t, Clock::TimePoint now);
  void ArmTimer();

  rpc::EventLoop &loop_;
  Clock &clock_;
  NodeHealthOptions options_;
  DeadFn on_dead_;
  std::map<std::string, Tracked> nodes_;
  uint64_t next_generation_ = 0;
  bool stopped_ = false;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  // Declared last: destroyed first, so a tick it posts never meets a
  // half-destroyed checker (it waits for a run in progress).
  Clock::Listener clock_wakeup_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // posted ticks check it
};

}  // namespace lumen::control
