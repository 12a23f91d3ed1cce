#include "control/placement_group_manager.h"

#include <set>

#include "base/id.h"
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
  for (auto &[id, g] : groups_) {
    g->refused = false;  // a node refused it: the new one may not
    if (g->info.state() == proto::PG_PENDING && !g->requested) Schedule(*g);
    if (g->info.state() == proto::PG_RESCHEDULING && !g->requested) Reschedule(*g);
  }
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

// One reservation across nodes: the node chosen for each bundle, and the
// answers of the phase in progress.
struct PlacementGroupManager::Attempt {
  uint64_t id = 0;
  std::vector<std::string> bundle_nodes;            // per bundle
  std::map<std::string, std::vector<int>> by_node;  // node -> its bundles' indices
  size_t outstanding = 0;
  std::string failure;  // the first failed node's answer, empty while all succeed
};

rpc::ConnectionPtr PlacementGroupManager::NodeConn(const std::string &node_id) const {
  auto it = nodes_.find(node_id);
  auto conn = it == nodes_.end() ? nullptr : it->second.conn.lock();
  return conn && conn->IsOpen() ? conn : nullptr;
}

bool PlacementGroupManager::Placing(const Group &g) {
  return g.info.state() == proto::PG_PENDING || g.info.state() == proto::PG_RESCHEDULING;
}

void PlacementGroupManager::OnNodeDead(const std::string &node_id) {
  nodes_.erase(node_id);
  for (auto &[id, gp] : groups_) {
    Group &g = *gp;
    // A group still PENDING there: its reservation's calls fail with the
    // node's connection, and it is tried again (Abandon, ReserveOnOne).
    if (g.info.state() != proto::PG_CREATED && g.info.state() != proto::PG_RESCHEDULING) continue;
    int lost = 0;
    for (auto &n : *g.info.mutable_bundle_node_ids())
      if (n == node_id) {
        n.clear();
        ++lost;
      }
    if (lost == 0) continue;
    LUMEN_LOG_WARN("placement group {}: {} bundle(s) were on node {}, which died; placing them again", id,
                   lost, ToHex(node_id));
    g.info.set_state(proto::PG_RESCHEDULING);
    g.reported = false;
    if (!g.requested) Reschedule(g);
  }
}

void PlacementGroupManager::Reschedule(Group &g) {
  std::set<std::string> holders;
  for (auto &n : g.info.bundle_node_ids())
    if (!n.empty()) holders.insert(n);
  std::vector<NodeLink> links;
  for (auto &[id, n] : nodes_)
    if (!holders.count(id) && NodeConn(id)) links.push_back(NodeLink{id, n.conn});
  if (links.empty()) {  // tried again when a node registers
    if (!g.reported)
      LUMEN_LOG_INFO("placement group {} waits for a node that holds none of its bundles", g.info.group_id());
    g.reported = true;
    return;
  }
  g.requested = true;
  uint64_t attempt = ++g.attempt;
  std::string id = g.info.group_id();
  FetchNodeResources(links, [this, id, attempt](std::vector<PlacementNode> nodes) {
    OnRescheduleResources(id, attempt, std::move(nodes));
  });
}

void PlacementGroupManager::OnRescheduleResources(const std::string &group_id, uint64_t attempt,
                                                  std::vector<PlacementNode> nodes) {
  auto it = groups_.find(group_id);
  if (it == groups_.end() || it->second->attempt != attempt) return;
  auto &g = *it->second;
  if (g.info.state() != proto::PG_RESCHEDULING) {
    g.requested = false;
    return;
  }
  std::vector<int> lost;
  std::vector<ResourceMap> bundles;
  for (int i = 0; i < g.info.bundles_size(); ++i)
    if (g.info.bundle_node_ids(i).empty()) {
      lost.push_back(i);
      bundles.push_back(ToResourceMap(g.info.bundles(i)));
    }
  BundlePlacement placed = PlaceBundles(nodes, bundles, static_cast<BundleStrategy>(g.info.strategy()));
  if (placed.outcome != PlacementOutcome::kPlaced) {
    g.requested = false;
    if (!g.reported)
      LUMEN_LOG_INFO("placement group {} waits: its lost bundles fit on no other node now", group_id);
    g.reported = true;
    RetryLater();
    return;
  }
  auto a = std::make_shared<Attempt>();
  a->id = attempt;
  a->bundle_nodes = placed.nodes;
  for (size_t k = 0; k < placed.nodes.size(); ++k) {
    a->by_node[placed.nodes[k]].push_back(lost[k]);
    g.info.set_bundle_node_ids(lost[k], placed.nodes[k]);  // so a Remove meanwhile returns them
  }
  Prepare(g, a);
}

void PlacementGroupManager::Schedule(Group &g) {
  std::vector<std::pair<std::string, rpc::ConnectionPtr>> alive;
  for (auto &[id, n] : nodes_)
    if (auto conn = NodeConn(id)) alive.emplace_back(id, conn);
  if (alive.empty()) return;  // scheduled when a node registers
  if (g.info.strategy() == kStrictSpread && static_cast<size_t>(g.info.bundles_size()) > alive.size()) {
    if (!g.reported)
      LUMEN_LOG_INFO("placement group {} (STRICT_SPREAD, {} bundles) waits for as many nodes ({} now)",
                     g.info.group_id(), g.info.bundles_size(), alive.size());
    g.reported = true;
    return;
  }
  if (alive.size() == 1) {
    ReserveOnOne(g, alive.front().first, alive.front().second);
  } else {
    PlaceAcross(g);
  }
}

void PlacementGroupManager::ReserveOnOne(Group &g, const std::string &node_id,
                                         const rpc::ConnectionPtr &conn) {
  g.requested = true;
  g.info.set_node_id(node_id);
  g.info.clear_bundle_node_ids();
  for (int i = 0; i < g.info.bundles_size(); ++i) g.info.add_bundle_node_ids(node_id);
  proto::ReserveBundlesRequest req;
  req.set_group_id(g.info.group_id());
  for (auto &b : g.info.bundles()) *req.add_bundles() = b;
  std::string id = g.info.group_id();
  std::weak_ptr<rpc::Connection> node = conn;
  conn->Call(
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
            g.refused = true;
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

void PlacementGroupManager::PlaceAcross(Group &g) {
  g.requested = true;
  uint64_t attempt = ++g.attempt;
  std::vector<NodeLink> links;
  for (auto &[id, n] : nodes_) links.push_back(NodeLink{id, n.conn});
  std::string id = g.info.group_id();
  FetchNodeResources(links, [this, id, attempt](std::vector<PlacementNode> nodes) {
    OnNodeResources(id, attempt, std::move(nodes));
  });
}

void PlacementGroupManager::OnNodeResources(const std::string &group_id, uint64_t attempt,
                                            std::vector<PlacementNode> nodes) {
  auto it = groups_.find(group_id);
  if (it == groups_.end() || it->second->attempt != attempt) return;
  auto &g = *it->second;
  if (g.info.state() != proto::PG_PENDING) {
    g.requested = false;
    return;
  }
  std::vector<ResourceMap> bundles;
  for (auto &b : g.info.bundles()) bundles.push_back(ToResourceMap(b));
  BundlePlacement placed = PlaceBundles(nodes, bundles, static_cast<BundleStrategy>(g.info.strategy()));
  if (placed.outcome != PlacementOutcome::kPlaced) {
    g.requested = false;
    if (!g.reported)
      LUMEN_LOG_INFO("placement group {} waits: {}", group_id,
                     placed.outcome == PlacementOutcome::kInfeasible
                         ? "no set of nodes could ever hold its bundles (it waits for more nodes)"
                         : "its bundles do not fit in what the nodes have free now");
    g.reported = true;
    RetryLater();
    return;
  }
  auto a = std::make_shared<Attempt>();
  a->id = attempt;
  a->bundle_nodes = placed.nodes;
  for (size_t i = 0; i < placed.nodes.size(); ++i) a->by_node[placed.nodes[i]].push_back(static_cast<int>(i));
  // Recorded now, so that a Remove while the reservation is in flight
  // returns the bundles on every chosen node.
  g.info.clear_bundle_node_ids();
  for (auto &n : placed.nodes) g.info.add_bundle_node_ids(n);
  Prepare(g, a);
}

void PlacementGroupManager::Prepare(Group &g, const std::shared_ptr<Attempt> &a) {
  a->outstanding = a->by_node.size() + 1;  // +1: released once every request is sent
  std::string id = g.info.group_id();
  auto answered = [this, id, a] {
    if (--a->outstanding > 0) return;
    auto it = groups_.find(id);
    if (it == groups_.end() || it->second->attempt != a->id) return;
    auto &g = *it->second;
    if (!Placing(g)) {
      g.requested = false;  // removed meanwhile: Remove returned the bundles
      return;
    }
    if (!a->failure.empty()) {
      Abandon(g, *a, a->failure);
      return;
    }
    Commit(g, a);
  };
  for (auto &[node_id, indices] : a->by_node) {
    auto conn = NodeConn(node_id);
    if (!conn) {
      if (a->failure.empty()) a->failure = "node " + ToHex(node_id) + " is gone";
      --a->outstanding;
      continue;
    }
    proto::PrepareBundlesRequest req;
    req.set_group_id(id);
    for (int i : indices) {
      auto *b = req.add_bundles();
      b->set_index(i);
      *b->mutable_resources() = g.info.bundles(i);
    }
    std::string node_hex = ToHex(node_id);
    conn->Call(
        proto::PREPARE_BUNDLES, req,
        [a, answered, node_hex](Status st, std::string_view body) {
          proto::PrepareBundlesReply rep;
          if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("malformed prepare reply");
          if (a->failure.empty() && !st.ok()) a->failure = "node " + node_hex + ": " + st.ToString();
          if (a->failure.empty() && !rep.prepared()) a->failure = "node " + node_hex + " no longer has room";
          answered();
        },
        kDefaultCallTimeout);
  }
  answered();
}

void PlacementGroupManager::Commit(Group &g, const std::shared_ptr<Attempt> &a) {
  a->outstanding = a->by_node.size() + 1;
  std::string id = g.info.group_id();
  auto answered = [this, id, a] {
    if (--a->outstanding > 0) return;
    auto it = groups_.find(id);
    if (it == groups_.end() || it->second->attempt != a->id) return;
    auto &g = *it->second;
    g.requested = false;
    if (!Placing(g)) return;  // removed meanwhile: Remove returned the bundles
    if (!a->failure.empty()) {
      Abandon(g, *a, a->failure);
      return;
    }
    for (auto &n : g.info.bundle_node_ids())
      if (n.empty()) {  // another node died while these were reserved: place the rest
        Reschedule(g);
        return;
      }
    g.info.set_node_id(g.info.bundle_node_ids(0));
    LUMEN_LOG_INFO("placement group {} {} on {} node(s)", id,
                   g.info.state() == proto::PG_RESCHEDULING ? "created again" : "created", a->by_node.size());
    g.info.set_state(proto::PG_CREATED);
    Finish(g, true);
  };
  for (auto &[node_id, indices] : a->by_node) {
    auto conn = NodeConn(node_id);
    if (!conn) {
      if (a->failure.empty()) a->failure = "node " + ToHex(node_id) + " is gone";
      --a->outstanding;
      continue;
    }
    proto::CommitBundlesRequest req;
    req.set_group_id(id);
    std::string node_hex = ToHex(node_id);
    conn->Call(
        proto::COMMIT_BUNDLES, req,
        [a, answered, node_hex](Status st, std::string_view) {
          if (a->failure.empty() && !st.ok()) a->failure = "node " + node_hex + ": " + st.ToString();
          answered();
        },
        kDefaultCallTimeout);
  }
  answered();
}

void PlacementGroupManager::Abandon(Group &g, const Attempt &a, const std::string &why) {
  if (!g.reported)  // once per group: a node that keeps refusing is retried quietly
    LUMEN_LOG_WARN(
        "placement group {}: reservation failed ({}); cancelled on every chosen node, trying again",
        g.info.group_id(), why);
  g.reported = true;
  proto::ReturnBundlesRequest req;
  req.set_group_id(g.info.group_id());
  for (auto &[node_id, indices] : a.by_node)
    if (auto conn = NodeConn(node_id)) conn->Notify(proto::RETURN_BUNDLES, req);
  if (g.info.state() == proto::PG_RESCHEDULING) {
    // Only this attempt's bundles: the others stay reserved where they are
    // (the attempt chose none of their nodes).
    for (auto &[node_id, indices] : a.by_node)
      for (int i : indices) g.info.set_bundle_node_ids(i, "");
  } else {
    g.info.clear_bundle_node_ids();
  }
  g.requested = false;
  RetryLater();
}

void PlacementGroupManager::RetryLater() {
  if (retry_timer_) return;  // armed already
  retry_timer_ = std::make_unique<boost::asio::steady_timer>(loop_.io(), kPlacementRetryInterval);
  retry_timer_->async_wait([this](const boost::system::error_code &ec) {
    if (ec) return;  // cancelled: the manager is going away
    retry_timer_.reset();
    for (auto &[id, g] : groups_) {
      if (g->info.state() == proto::PG_PENDING && !g->requested && !g->refused) Schedule(*g);
      if (g->info.state() == proto::PG_RESCHEDULING && !g->requested) Reschedule(*g);
    }
  });
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
  // Every node chosen for a bundle, whether the group was created or its
  // reservation is still in flight (a node that has not prepared ignores it).
  std::set<std::string> holders(g.info.bundle_node_ids().begin(), g.info.bundle_node_ids().end());
  proto::ReturnBundlesRequest req;
  req.set_group_id(group_id);
  for (auto &node_id : holders)
    if (auto conn = NodeConn(node_id)) conn->Notify(proto::RETURN_BUNDLES, req);
  LUMEN_LOG_INFO("placement group {} removed", group_id);
  Finish(g, false);
}

void PlacementGroupManager::Wait(const std::string &group_id, int64_t timeout_ms,
                                 std::function<void(bool)> done) {
  auto it = groups_.find(group_id);
  if (it == groups_.end() || !Placing(*it->second)) {
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
