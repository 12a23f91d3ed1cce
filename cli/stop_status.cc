// `lumen stop` (from the records `lumen start` left, never by process name)
// and `lumen status` (Ray's `ray status` layout, from the control service's
// node table and each node's NODE_STATS).
#include <cmath>
#include <ctime>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "api_runtime/runtime_daemons.h"
#include "api_runtime/runtime_head.h"
#include "base/encoding.h"
#include "base/settings.h"
#include "cli/commands.h"
#include "protocol/node.pb.h"
#include "rpc/rpc.h"

namespace lumen::cli {
namespace {

constexpr char kRule[] = "---------------------------------------------------------------";

// Ray's byte amounts: "1.00GiB", "512.00MiB", "0B".
std::string Bytes(double bytes) {
  if (bytes <= 0) return "0B";
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f}B", bytes) : fmt::format("{:.2f}{}", bytes, units[unit]);
}

// "{'CPU': 1.0, 'disk': 2.0}", as Ray prints a demand.
std::string Shape(const proto::ResourceSet &set) {
  std::map<std::string, double> sorted(set.amounts().begin(), set.amounts().end());
  std::string out = "{";
  for (auto &[name, amount] : sorted) {
    if (out.size() > 1) out += ", ";
    out += fmt::format("'{}': {:.1f}", name, amount);
  }
  return out + "}";
}

struct NodeView {
  proto::NodeInfo info;
  bool has_stats = false;
  proto::NodeStatsReply stats;
  std::string stats_error;
};

// Resource lines ("used/total name"), CPU and GPU first as Ray prints them.
void PrintUsage(const std::map<std::string, std::pair<double, double>> &usage, double store_used,
                double store_total, bool has_store, const char *indent) {
  std::vector<std::string> names;
  for (const char *first : {"CPU", "GPU"})
    if (usage.count(first)) names.push_back(first);
  for (auto &[name, amounts] : usage)
    if (name != "CPU" && name != "GPU") names.push_back(name);
  for (const std::string &name : names) {
    auto [used, total] = usage.at(name);
    std::cout << indent << fmt::format("{:.1f}/{:.1f} {}", used, total, name) << "\n";
  }
  if (has_store)
    std::cout << indent << Bytes(store_used) << "/" << Bytes(store_total) << " object_store_memory\n";
}

void AddUsage(std::map<std::string, std::pair<double, double>> &usage, const NodeView &node) {
  for (auto &[name, total] : node.info.total().amounts()) {
    double used = 0;
    if (node.has_stats) {
      auto it = node.stats.available().amounts().find(name);
      used = total - (it == node.stats.available().amounts().end() ? 0 : it->second);
    }
    usage[name].first += std::max(0.0, used);
    usage[name].second += total;
  }
}

void PrintStatus(const std::vector<NodeView> &nodes) {
  char stamp[64];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::cout << "======== Cluster status: " << stamp << " ========\n"
            << "Node status\n"
            << kRule << "\n";
  std::vector<const NodeView *> alive, dead;
  for (const NodeView &n : nodes) (n.info.alive() ? alive : dead).push_back(&n);
  auto list = [](const char *title, const std::vector<const NodeView *> &of, const char *none) {
    std::cout << title << "\n";
    if (of.empty()) std::cout << " " << none << "\n";
    for (const NodeView *n : of) {
      std::cout << " 1 node_" << ToHex(n->info.node_id()) << " (" << n->info.node_ip() << ", pid "
                << n->info.pid() << (n->info.for_driver() ? ", a driver's" : "") << ")";
      // Why a dead node died (Ray lists it under "Recent failures").
      if (!n->info.alive() && !n->info.death_reason().empty()) std::cout << ": " << n->info.death_reason();
      std::cout << "\n";
    }
  };
  list("Active:", alive, "(no active nodes)");
  list("Dead:", dead, "(no dead nodes)");

  std::map<std::string, std::pair<double, double>> usage;
  double store_used = 0, store_total = 0;
  bool has_store = false;
  std::map<std::string, int> tasks, actors;  // demand shape -> count
  for (const NodeView *n : alive) {
    AddUsage(usage, *n);
    if (!n->has_stats) continue;
    has_store = true;
    store_used += static_cast<double>(n->stats.store_used());
    store_total += static_cast<double>(n->stats.store_capacity());
    for (auto &d : n->stats.pending()) ++(d.for_actor() ? actors : tasks)[Shape(d.shape())];
  }
  std::cout << "\nResources\n" << kRule << "\nUsage:\n";
  PrintUsage(usage, store_used, store_total, has_store, " ");
  std::cout << "\nDemands:\n";
  if (tasks.empty() && actors.empty()) std::cout << " (no resource demands)\n";
  for (auto &[shape, count] : tasks) std::cout << " " << shape << ": " << count << "+ pending tasks\n";
  for (auto &[shape, count] : actors) std::cout << " " << shape << ": " << count << "+ pending actors\n";

  std::cout << "\nNode usage\n" << kRule << "\n";
  for (const NodeView *n : alive) {
    std::cout << "node_" << ToHex(n->info.node_id()) << " (" << n->info.node_ip() << ")\n";
    std::map<std::string, std::pair<double, double>> own;
    AddUsage(own, *n);
    PrintUsage(own, n->has_stats ? static_cast<double>(n->stats.store_used()) : 0,
               n->has_stats ? static_cast<double>(n->stats.store_capacity()) : 0, n->has_stats, " ");
    if (n->has_stats) {
      std::cout << " " << n->stats.store_objects() << " objects in the store, " << n->stats.num_workers()
                << " workers (" << n->stats.num_idle_workers() << " idle)\n";
    } else {
      std::cout << " (no usage: " << n->stats_error << ")\n";
    }
  }
}

// The node's own figures, over its Unix socket (a node on this machine).
void AddStats(NodeView &node, rpc::EventLoop &loop, const std::string &token) {
  const std::string &address = node.info.raylet_address();
  if (address.rfind("tcp:", 0) == 0) {
    node.stats_error = "the node is on another machine";
    return;
  }
  auto conn =
      rpc::Connect(loop, address.rfind("unix:", 0) == 0 ? address : "unix:" + address, token, nullptr);
  if (!conn.ok()) {
    node.stats_error = conn.status().message();
    return;
  }
  Status st = conn.value()->CallSync(proto::NODE_STATS, proto::NodeStatsRequest(), &node.stats);
  conn.value()->Close();
  if (st.ok()) {
    node.has_stats = true;
  } else {
    node.stats_error = st.message();
  }
}

}  // namespace

StatusOr<std::string> TokenFor(const std::string &address, const std::string &token) {
  if (!token.empty()) return token;
  if (const std::string &t = CurrentSettings().join_token; !t.empty()) return t;
  auto found = api::TokenForAddress("tcp:" + address);
  if (found.ok()) return found;
  return Status::NotFound("no token for the cluster at " + address +
                          ": pass --token or set LUMEN_TOKEN (the head's token is in <its session>/token on "
                          "its machine)");
}

StatusOr<rpc::ConnectionPtr> ConnectControl(rpc::EventLoop &loop, const std::string &address,
                                            const std::string &token) {
  auto conn = rpc::Connect(loop, "tcp:" + address, token, nullptr);
  if (!conn.ok()) {
    const Status &st = conn.status();
    // The handshake tells a peer that speaks another protocol from one that
    // speaks Lumen's but holds another token.
    if (st.message().find("protocol error") != std::string::npos)
      return Status::Unauthenticated("the server at " + address + " is not a Lumen control service (" +
                                     st.message() + ")");
    if (st.code() == StatusCode::kUnauthenticated)
      return Status::Unauthenticated("the server at " + address +
                                     " did not prove it holds this token: the token is wrong (or it is not a "
                                     "Lumen control service)");
    return Status::IoError("cannot reach a Lumen control service at " + address + ": " + st.message());
  }
  return conn;
}

StatusOr<proto::GetAllNodesReply> QueryNodes(const std::string &address, const std::string &token) {
  rpc::EventLoop loop("lumen-cli");
  auto conn = ConnectControl(loop, address, token);
  if (!conn.ok()) return conn.status();
  proto::GetAllNodesReply nodes;
  Status st = conn.value()->CallSync(proto::GET_ALL_NODES, proto::GetAllNodesRequest(), &nodes);
  conn.value()->Close();
  if (!st.ok())
    return Status::IoError("the control service at " + address + " did not answer: " + st.message());
  return nodes;
}

int RunStop(const std::string &temp_dir, bool force) {
  const std::vector<std::string> sessions = api::StartedSessions(temp_dir);
  int stopped = 0, failed = 0;
  for (const std::string &session : sessions) {
    auto record = api::ReadDaemonRecord(session);
    if (!record.ok()) continue;
    for (const api::DaemonProcess &p : record->processes) stopped += api::DaemonRunning(p) ? 1 : 0;
    if (Status st = api::StopDaemons(*record, force); !st.ok()) {
      Fail("stop", st.message());
      ++failed;
    }
  }
  if (failed) return 1;
  if (stopped == 0) {
    std::cout << "Did not find any active Lumen processes"
              << (temp_dir.empty() ? "" : " started with --temp-dir=" + temp_dir) << ".\n";
  } else {
    std::cout << "Stopped all " << stopped << " Lumen processes" << (force ? " (SIGKILL)" : "") << ".\n";
  }
  return 0;
}

StatusOr<std::string> ClusterAddress(const std::string &address_flag) {
  std::string address = address_flag;
  if (address.empty())
    if (const char *env = std::getenv("RAY_ADDRESS")) address = env;
  if (address.empty() || address == "auto") return api::LocalClusterAddress();
  return address;
}

int RunStatus(const std::string &address_flag, const std::string &token_flag) {
  auto cluster = ClusterAddress(address_flag);
  if (!cluster.ok()) return Fail("status", cluster.status().message());
  const std::string &address = *cluster;
  auto token = TokenFor(address, token_flag);
  if (!token.ok()) return Fail("status", token.status().message());
  auto nodes = QueryNodes(address, *token);
  if (!nodes.ok()) return Fail("status", nodes.status().message());
  std::vector<NodeView> views;
  rpc::EventLoop loop("lumen-cli");
  for (const proto::NodeInfo &info : nodes->nodes()) {
    NodeView view;
    view.info = info;
    if (info.alive()) AddStats(view, loop, *token);
    views.push_back(std::move(view));
  }
  PrintStatus(views);
  return 0;
}

}  // namespace lumen::cli
