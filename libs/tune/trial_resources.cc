#include "trial_resources.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

namespace ray {
namespace tune {
namespace internal {
namespace {

using Amounts = std::map<std::string, double>;

bool Fits(const Amounts &wanted, const std::unordered_map<std::string, double> &have) {
  for (const auto &[name, amount] : wanted) {
    auto it = have.find(name);
    if (it == have.end() || it->second + 1e-9 < amount) return false;
  }
  return true;
}

// STRICT_SPREAD: can every bundle get a node of its own? A matching of
// bundles to nodes (Kuhn's augmenting paths; a few bundles, a few nodes).
bool SpreadsOverNodes(const std::vector<Amounts> &bundles, const std::vector<const ray::NodeInfo *> &nodes) {
  std::vector<int> bundle_of(nodes.size(), -1);
  std::function<bool(size_t, std::vector<bool> &)> place = [&](size_t b, std::vector<bool> &seen) {
    for (size_t n = 0; n < nodes.size(); ++n) {
      if (seen[n] || !Fits(bundles[b], nodes[n]->resources)) continue;
      seen[n] = true;
      if (bundle_of[n] < 0 || place(static_cast<size_t>(bundle_of[n]), seen)) {
        bundle_of[n] = static_cast<int>(b);
        return true;
      }
    }
    return false;
  };
  for (size_t b = 0; b < bundles.size(); ++b) {
    std::vector<bool> seen(nodes.size(), false);
    if (!place(b, seen)) return false;
  }
  return true;
}

// "{CPU: 1, GPU: 0.5}": a request or a node's resources in an error.
std::string DescribeResources(const std::map<std::string, double> &resources) {
  std::ostringstream out;
  out << "{";
  const char *sep = "";
  for (const auto &entry : resources) {
    out << sep << entry.first << ": " << entry.second;
    sep = ", ";
  }
  out << "}";
  return out.str();
}

const char *StrategyName(ray::PlacementStrategy s) {
  switch (s) {
    case ray::PlacementStrategy::PACK:
      return "PACK";
    case ray::PlacementStrategy::SPREAD:
      return "SPREAD";
    case ray::PlacementStrategy::STRICT_PACK:
      return "STRICT_PACK";
    case ray::PlacementStrategy::STRICT_SPREAD:
      return "STRICT_SPREAD";
    default:
      return "UNRECOGNIZED";
  }
}

std::string DescribeRequest(const Resources &r) {
  if (!r.UsesPlacementGroup()) return DescribeResources(r.Total());
  std::string out = "placement group [";
  for (size_t i = 0; i < r.bundles.size(); ++i) out += (i ? ", " : "") + DescribeResources(r.bundles[i]);
  return out + "] with strategy " + StrategyName(r.strategy);
}

}  // namespace

void CheckTrialResources(const Resources &resources, const std::vector<ray::NodeInfo> &nodes) {
  std::vector<Amounts> bundles;
  if (resources.UsesPlacementGroup()) {
    if (resources.strategy == ray::PlacementStrategy::UNRECOGNIZED)
      throw TuneError("bad trial resources: the placement strategy is UNRECOGNIZED");
    for (size_t i = 0; i < resources.bundles.size(); ++i) {
      Amounts bundle;
      for (const auto &entry : resources.bundles[i])
        if (entry.second != 0) bundle.insert(entry);
      if (bundle.empty())
        throw TuneError("bad trial resources: bundle " + std::to_string(i) +
                        " asks for nothing (every bundle of a trial's placement group must hold something; "
                        "the first is the trial's own)");
      bundles.push_back(std::move(bundle));
    }
  } else {
    bundles.push_back(resources.Total());
  }
  for (const Amounts &bundle : bundles) {
    try {
      ray::internal::CheckTaskOptions(std::unordered_map<std::string, double>(bundle.begin(), bundle.end()));
    } catch (const ray::internal::RayException &e) {
      throw TuneError(std::string("bad trial resources: ") + e.what());
    }
  }

  std::vector<const ray::NodeInfo *> alive;
  std::unordered_map<std::string, double> cluster;
  for (const ray::NodeInfo &node : nodes) {
    if (!node.alive) continue;
    alive.push_back(&node);
    for (const auto &[name, amount] : node.resources) cluster[name] += amount;
  }
  auto some_node_fits = [&](const Amounts &wanted) {
    return std::any_of(alive.begin(), alive.end(),
                       [&](const ray::NodeInfo *n) { return Fits(wanted, n->resources); });
  };
  bool ok = false;
  if (!resources.UsesPlacementGroup() || resources.strategy == ray::PlacementStrategy::STRICT_PACK) {
    ok = some_node_fits(resources.Total());
  } else if (resources.strategy == ray::PlacementStrategy::STRICT_SPREAD) {
    ok = SpreadsOverNodes(bundles, alive);
  } else {
    ok = std::all_of(bundles.begin(), bundles.end(), some_node_fits) && Fits(resources.Total(), cluster);
  }
  if (ok) return;
  std::ostringstream listing;
  for (const ray::NodeInfo *node : alive)
    listing << "\n  node " << node->node_id << ": "
            << DescribeResources(Amounts(node->resources.begin(), node->resources.end()));
  const std::string nodes_text =
      "; the alive nodes have:" + (alive.empty() ? std::string(" none") : listing.str());
  if (!resources.UsesPlacementGroup())
    throw TuneError("no node of the cluster can run a trial that needs " + DescribeRequest(resources) +
                    " (a trial runs on one node)" + nodes_text);
  throw TuneError("the cluster cannot hold a trial's " + DescribeRequest(resources) + nodes_text);
}

Json ResourcesToJson(const Resources &r) {
  return Json{{"cpu", r.cpu},
              {"gpu", r.gpu},
              {"custom", r.custom},
              {"bundles", r.bundles},
              {"strategy", static_cast<int>(r.strategy)}};
}

Resources ResourcesFromJson(const Json &json) {
  Resources r;
  r.cpu = json.at("cpu").get<double>();
  r.gpu = json.at("gpu").get<double>();
  r.custom = json.at("custom").get<std::map<std::string, double>>();
  r.bundles = json.at("bundles").get<std::vector<Resources::Bundle>>();
  r.strategy = static_cast<ray::PlacementStrategy>(json.at("strategy").get<int>());
  return r;
}

ray::PlacementGroupCreationOptions GroupOptions(const Resources &resources) {
  ray::PlacementGroupCreationOptions options{"", {}, resources.strategy};
  for (const auto &bundle : resources.bundles) options.bundles.emplace_back(bundle.begin(), bundle.end());
  return options;
}

int TrialsThatFit(const Resources &resources, const std::unordered_map<std::string, double> &cluster_total) {
  double fit = std::numeric_limits<double>::infinity();
  for (const auto &[name, amount] : resources.Total()) {
    if (amount <= 0) continue;
    auto it = cluster_total.find(name);
    fit = std::min(fit, it == cluster_total.end() ? 0.0 : std::floor(it->second / amount + 1e-9));
  }
  return std::isinf(fit) ? 64 : static_cast<int>(std::max(1.0, fit));
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
