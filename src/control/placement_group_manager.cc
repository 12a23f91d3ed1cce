#include "control/placement_group_manager.h"

#include "base/logging.h"
#include "base/timeouts.h"
#include "protocol/node.pb.h"

namespace lumen::control {
namespace {

constexpr int kStrictSpread = 3;  // ray::PlacementStrategy::STRICT_SPREAD

}  // namespace

PlacementGroupManager::PlacementGroupManager(rpc::EventLoop &loop, ActorManager *actors, Clock &clock)
    : loop_(loop), actors_(actors), clock_(clock) {
  // The real clock never calls this; a FakeClock moved by a test does.
  clock_wakeup_ = clock_.OnAdvance([this] { loop_.Post([this] { ExpireWaiters(); }); });
}

PlacementGroupManager::~PlacementGroupManager() = default;

void PlacementGroupManager::OnNodeRegistered(const proto::NodeInfo &info, const rpc::ConnectionPtr &conn) {
  nodes_[info.node_id()] = Node{info, conn};
  for (auto &[id, g] : groups_)
    if (g->info.state() == proto::PG_PENDING && !g->requested) Schedule(*g);
}

Status PlacementGroupManager::Create(const proto::PlacementGroupInfo &info) {
  if (info.group_id().empty() || groups_.count(info.group_id()))
    return Status::InvalidArgument("bad or duplicate placement group id");
  if (info.bundles_size() == 0) return Status::InvalidArgument("a placement group needs at least one bundle");
  for (auto &b : info.bundles())
    if (b.amounts().empty()) return Status::InvalidArgument("a placement group bundle cannot be empty");
  if (!info.name().empty()) {
    auto key = std::make_pair(info.ray_namespace(), info.name());
    if (names_.count(key))
      return Status::AlreadyExists("A placement group named '" + info.name() + "' already exists");
    names_[key] = info.group_id();
  }
  auto g = std::make_unique<Group>();
  g->info = info;
  g->info.set_state(proto::PG_PENDING);
  auto &ref = *g;
  groups_[info.group_id()] = std::move(g);
  Schedule(ref);
  return Status::OK();
}

void PlacementGroupManager::Schedule(Group &g) {
  std::vector<std::pair<std::string, rpc::ConnectionPtr>> alive;
  for (auto &[id, n] : nodes_) {
    auto conn = n.conn.lock();
    if (conn && conn->IsOpen()) alive.emplace_back(id, conn);
  }
  if (alive.empty()) return;  // scheduled when a node registers
  if (g.info.strategy() == kStrictSpread && static_cast<size_t>(g.info.bundles_size()) > alive.size()) {
    LUMEN_LOG_INFO("placement group {} (STRICT_SPREAD, {} bundles) waits for as many nodes ({} now)",
                   g.info.group_id(), g.info.bundles_size(), alive.size());
    return;
  }
  // One node takes every bundle (the only choice with one node; PACK and
  // STRICT_PACK want it anyway): the first whose total fits them all.
  proto::ResourceSet sum;
  for (auto &b : g.info.bundles())
    for (auto &[k, v] : b.amounts()) (*sum.mutable_amounts())[k] += v;
  auto chosen = alive.front();
  for (auto &candidate : alive)
    if (ResourcesFit(nodes_[candidate.first].info.total(), sum)) {
      chosen = candidate;
      break;
    }
  g.requested = true;
  g.info.set_node_id(chosen.first);
  proto::ReserveBundlesRequest req;
  req.set_group_id(g.info.group_id());
  for (auto &b : g.info.bundles()) *req.add_bundles() = b;
  std::string id = g.info.group_id();
  std::weak_ptr<rpc::Connection> node = chosen.second;
  chosen.second->Call(
      proto::RESERVE_BUNDLES, req,
      [this, id, node](Status st, std::string_view) {
        auto it = groups_.find(id);
        if (it == groups_.end()) return;
        auto &g = *it->second;
        g.requested = false;
        if (g.info.state() != proto::PG_PENDING) return;
        if (!st.ok()) {
          auto conn = node.lock();
          if (conn && conn->IsOpen()) {
            // The node refused the request itself: asking it again would be
            // refused again. The group waits for another node to register.
            LUMEN_LOG_ERROR("placement group {}: node refused the reservation: {}", id, st.ToString());
            return;
          }
          // The node died (or stopped answering) before reserving: place the
          // group on another live node, or on the next one to register.
          LUMEN_LOG_WARN("placement group {}: reservation failed ({}); placing it again", id, st.ToString());
          Schedule(g);
          return;
        }
        g.info.set_state(proto::PG_CREATED);
        LUMEN_LOG_INFO("placement group {} created", id);
        Finish(g, true);
      },
      kForever);
}

void PlacementGroupManager::Finish(Group &g, bool ready) {
  auto waiters = std::move(g.waiters);
  g.waiters.clear();
  for (auto &w : waiters) {
    if (!w->done) continue;
    if (w->timer) w->timer->cancel();
    auto done = std::move(w->done);
    w->done = nullptr;
    done(ready);
  }
}

void PlacementGroupManager::Remove(const std::string &group_id) {
  auto it = groups_.find(group_id);
  if (it == groups_.end() || it->second->info.state() == proto::PG_REMOVED) return;
  auto &g = *it->second;
  g.info.set_state(proto::PG_REMOVED);
  if (!g.info.name().empty()) names_.erase({g.info.ray_namespace(), g.info.name()});
  actors_->OnPlacementGroupRemoved(group_id);
  auto node = nodes_.find(g.info.node_id());
  if (node != nodes_.end()) {
    if (auto conn = node->second.conn.lock()) {
      proto::ReturnBundlesRequest req;
      req.set_group_id(group_id);
      conn->Notify(proto::RETURN_BUNDLES, req);
    }
  }
  LUMEN_LOG_INFO("placement group {} removed", group_id);
  Finish(g, false);
}

void PlacementGroupManager::Wait(const std::string &group_id, int64_t timeout_ms,
                                 std::function<void(bool)> done) {
  auto it = groups_.find(group_id);
  if (it == groups_.end() || it->second->info.state() != proto::PG_PENDING) {
    done(it != groups_.end() && it->second->info.state() == proto::PG_CREATED);
    return;
  }
  auto w = std::make_shared<Waiter>();
  w->done = std::move(done);
  w->deadline = clock_.Now() + std::chrono::milliseconds(timeout_ms);
  it->second->waiters.push_back(w);
  Clock::TimePoint wake = clock_.WakeAt(w->deadline);
  if (wake == Clock::TimePoint::max()) return;  // woken by the clock's OnAdvance
  w->timer = std::make_unique<boost::asio::steady_timer>(loop_.io(), wake);
  std::weak_ptr<Waiter> weak = w;
  // Runs only while the waiter exists, so only while the manager does.
  w->timer->async_wait([this, weak](const boost::system::error_code &ec) {
    if (!ec && weak.lock()) ExpireWaiters();
  });
}

void PlacementGroupManager::ExpireWaiters() {
  const auto now = clock_.Now();
  for (auto &[id, g] : groups_) {
    auto waiters = g->waiters;  // a copy: answering must not invalidate the loop
    for (auto &w : waiters) {
      if (!w->done || now < w->deadline) continue;
      if (w->timer) w->timer->cancel();
      auto done = std::move(w->done);
      w->done = nullptr;
      done(false);
    }
    std::erase_if(g->waiters, [](const std::shared_ptr<Waiter> &w) { return !w->done; });
  }
}

bool PlacementGroupManager::Get(const proto::GetPlacementGroupRequest &req,
                                proto::PlacementGroupInfo *out) const {
  std::string id = req.group_id();
  if (id.empty()) {
    auto n = names_.find({req.ray_namespace(), req.name()});
    if (n == names_.end()) return false;
    id = n->second;
  }
  auto it = groups_.find(id);
  if (it == groups_.end()) return false;
  *out = it->second->info;
  return true;
}

void PlacementGroupManager::GetAll(proto::GetAllPlacementGroupsReply *rep) const {
  for (auto &[id, g] : groups_) *rep->add_groups() = g->info;
}

}  // namespace lumen::control
