#include "control/node_health.h"

#include "base/id.h"
#include "base/logging.h"
#include "base/settings.h"
#include "protocol/node.pb.h"

namespace lumen::control {

NodeHealthOptions NodeHealthOptions::FromSettings() {
  const Settings &s = CurrentSettings();
  NodeHealthOptions o;
  o.period = std::chrono::milliseconds(s.health_check_period_ms);
  o.timeout = std::chrono::milliseconds(s.node_death_timeout_ms);
  return o;
}

NodeHealthChecker::NodeHealthChecker(rpc::EventLoop &loop, Clock &clock, NodeHealthOptions options,
                                     DeadFn on_dead)
    : loop_(loop), clock_(clock), options_(options), on_dead_(std::move(on_dead)) {
  std::weak_ptr<bool> alive = alive_;
  clock_wakeup_ = clock_.OnAdvance([this, alive] {
    loop_.Post([this, alive] {
      if (alive.lock()) Tick();
    });
  });
}

NodeHealthChecker::~NodeHealthChecker() {
  clock_wakeup_.Reset();
  alive_.reset();
}

void NodeHealthChecker::Add(const std::string &node_id, const rpc::ConnectionPtr &conn) {
  Tracked &t = nodes_[node_id];
  t = Tracked{};
  t.conn = conn;
  t.generation = ++next_generation_;
  t.next_check = clock_.Now() + options_.period;
  ArmTimer();
}

void NodeHealthChecker::Remove(const std::string &node_id) { nodes_.erase(node_id); }

void NodeHealthChecker::Stop() {
  stopped_ = true;
  nodes_.clear();
  if (timer_) timer_->cancel();
}

void NodeHealthChecker::ArmTimer() {
  if (stopped_ || timer_) return;  // armed already: it re-arms itself while nodes are checked
  const Clock::TimePoint wake = clock_.WakeAt(clock_.Now() + options_.period);
  if (wake == Clock::TimePoint::max()) return;  // a FakeClock: its Advance ticks
  timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io());
  timer_->expires_at(wake);
  std::weak_ptr<bool> alive = alive_;
  timer_->async_wait([this, alive](const boost::system::error_code &ec) {
    if (ec || !alive.lock()) return;
    timer_.reset();
    Tick();
    if (!nodes_.empty()) ArmTimer();
  });
}

void NodeHealthChecker::Tick() {
  if (stopped_) return;
  const Clock::TimePoint now = clock_.Now();
  std::vector<std::pair<std::string, std::string>> dead;
  for (auto &[id, t] : nodes_) {
    if (t.in_flight && now - t.sent_at >= options_.timeout) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(options_.timeout).count();
      dead.emplace_back(id, "it did not answer the control service's health check for " + std::to_string(ms) +
                                " ms (cut off from the network, or hung)");
      continue;
    }
    if (!t.in_flight && now >= t.next_check) Check(id, t, now);
  }
  for (auto &[id, why] : dead) {
    nodes_.erase(id);
    LUMEN_LOG_WARN("node {}: {}", ToHex(id), why);
    on_dead_(id, why);  // may Remove other nodes, never this loop's iterators (it ended)
  }
}

void NodeHealthChecker::Check(const std::string &node_id, Tracked &t, Clock::TimePoint now) {
  auto conn = t.conn.lock();
  if (!conn || !conn->IsOpen()) return;  // its close handler reports it
  t.in_flight = true;
  t.sent_at = now;
  const uint64_t generation = t.generation;
  std::weak_ptr<bool> alive = alive_;
  conn->Call(
      proto::NODE_HEALTH_CHECK, proto::NodeEmpty(),
      [this, alive, node_id, generation](Status st, std::string_view) {
        if (!alive.lock() || !st.ok())
          return;  // a failed call: the connection's close, or the timeout, decides
        auto it = nodes_.find(node_id);
        if (it == nodes_.end() || it->second.generation != generation) return;
        it->second.in_flight = false;
        it->second.next_check = clock_.Now() + options_.period;
      },
      // Bounds the call by the steady clock only so that it is not pending
      // forever; the verdict is the Clock's (Tick).
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.timeout) * 2);
}

}  // namespace lumen::control
