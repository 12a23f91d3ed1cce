// See runtime_nodes.h.
#include "api_runtime/runtime_nodes.h"

#include "base/encoding.h"

namespace lumen::api {
namespace {

void AddTo(const proto::ResourceSet &amounts, ResourceMap *sum) {
  for (auto &[name, amount] : amounts.amounts()) (*sum)[name] += amount;
}

}  // namespace

std::string JobIdHex(uint32_t job_id) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((job_id >> (8 * i)) & 0xff);
  return ToHex(bytes);
}

std::vector<ray::NodeInfo> ToPublicNodes(const proto::GetAllNodesReply &reply) {
  std::vector<ray::NodeInfo> nodes;
  nodes.reserve(reply.nodes_size());
  for (auto &n : reply.nodes()) {
    ray::NodeInfo info;
    info.node_id = ToHex(n.node_id());
    info.alive = n.alive();
    info.address = n.node_ip();
    // As ray.nodes(): what the node has now, its reserved placement-group
    // bundles included, when it said; else what it registered with.
    const auto &total = n.has_usage() ? n.usage().total() : n.total();
    for (auto &[name, amount] : total.amounts()) info.resources[name] = amount;
    nodes.push_back(std::move(info));
  }
  return nodes;
}

ResourceMap SumTotals(const proto::GetAllNodesReply &reply) {
  ResourceMap sum;
  for (auto &n : reply.nodes()) {
    if (!n.alive()) continue;
    AddTo(n.has_usage() ? n.usage().total() : n.total(), &sum);
  }
  return sum;
}

ResourceMap SumAvailable(const proto::GetAllNodesReply &reply) {
  ResourceMap sum;
  for (auto &n : reply.nodes()) {
    if (n.alive() && n.has_usage()) AddTo(n.usage().available(), &sum);
  }
  for (auto it = sum.begin(); it != sum.end();) {
    it = it->second > 0 ? std::next(it) : sum.erase(it);
  }
  return sum;
}

}  // namespace lumen::api
