#include "control/cluster_placement.h"

#include <algorithm>
#include <numeric>
#include <optional>

namespace lumen::control {
namespace {

// Steps of the exhaustive fallback search: far more than groups of a few
// dozen bundles on a few dozen nodes take, small enough to stay quick.
constexpr int kSearchBudget = 200000;

void Subtract(ResourceMap &have, const ResourceMap &need) {
  for (auto &[name, amount] : need)
    if (amount > 0) have[name] -= amount;
}

ResourceMap Sum(const std::vector<ResourceMap> &bundles) {
  ResourceMap sum;
  for (auto &b : bundles)
    for (auto &[name, amount] : b) sum[name] += amount;
  return sum;
}

double Size(const ResourceMap &r) {
  double s = 0;
  for (auto &[name, amount] : r) s += std::max(amount, 0.0);
  return s;
}

// Bundle indices, largest first (stable: equal bundles keep their order), so
// greedy passes place the hard ones while there is most room.
std::vector<int> LargestFirst(const std::vector<ResourceMap> &bundles) {
  std::vector<int> order(bundles.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return Size(bundles[a]) > Size(bundles[b]); });
  return order;
}

// Node indices by utilization, least used first (stable: ties keep the given order).
std::vector<int> LeastUsedFirst(const std::vector<PlacementNode> &nodes) {
  std::vector<int> order(nodes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return Utilization(nodes[a]) < Utilization(nodes[b]); });
  return order;
}

using Assignment = std::vector<int>;  // node index per bundle

// Any assignment of the bundles to `capacity` (one capacity per node) such
// that each node's bundles fit it; nodes tried in `node_order` (reordered by
// `prefer` before each choice when given). std::nullopt if there is none
// within the budget.
class Search {
 public:
  Search(const std::vector<ResourceMap> &bundles, std::vector<ResourceMap> capacity,
         std::vector<int> node_order)
      : bundles_(bundles),
        capacity_(std::move(capacity)),
        node_order_(std::move(node_order)),
        order_(LargestFirst(bundles)),
        assignment_(bundles.size(), -1),
        count_(capacity_.size(), 0) {}

  std::optional<Assignment> Run(bool fewest_bundles_first) {
    fewest_first_ = fewest_bundles_first;
    if (Place(0)) return assignment_;
    return std::nullopt;
  }

 private:
  bool Place(size_t k) {
    if (k == order_.size()) return true;
    if (++steps_ > kSearchBudget) return false;
    int b = order_[k];
    std::vector<int> nodes = node_order_;
    if (fewest_first_)
      std::stable_sort(nodes.begin(), nodes.end(), [&](int x, int y) { return count_[x] < count_[y]; });
    for (int n : nodes) {
      if (!Fits(capacity_[n], bundles_[b])) continue;
      ResourceMap saved = capacity_[n];
      Subtract(capacity_[n], bundles_[b]);
      assignment_[b] = n;
      ++count_[n];
      if (Place(k + 1)) return true;
      --count_[n];
      capacity_[n] = std::move(saved);
    }
    assignment_[b] = -1;
    return false;
  }

  const std::vector<ResourceMap> &bundles_;
  std::vector<ResourceMap> capacity_;
  std::vector<int> node_order_;
  std::vector<int> order_;
  Assignment assignment_;
  std::vector<int> count_;
  bool fewest_first_ = false;
  int steps_ = 0;
};

// The fullest node (best fit) whose capacity takes every bundle at once.
std::optional<Assignment> OneNode(const std::vector<PlacementNode> &nodes,
                                  const std::vector<ResourceMap> &capacity,
                                  const std::vector<ResourceMap> &bundles) {
  ResourceMap sum = Sum(bundles);
  int best = -1;
  for (int n = 0; n < static_cast<int>(nodes.size()); ++n)
    if (Fits(capacity[n], sum) && (best < 0 || Utilization(nodes[n]) > Utilization(nodes[best]))) best = n;
  if (best < 0) return std::nullopt;
  return Assignment(bundles.size(), best);
}

// Greedy PACK over several nodes: repeatedly the node that takes the most of
// the remaining bundles (first fit, largest first), fullest node on ties.
std::optional<Assignment> PackGreedy(const std::vector<PlacementNode> &nodes,
                                     std::vector<ResourceMap> capacity,
                                     const std::vector<ResourceMap> &bundles) {
  Assignment out(bundles.size(), -1);
  std::vector<int> remaining = LargestFirst(bundles);
  std::vector<bool> used(nodes.size(), false);
  while (!remaining.empty()) {
    int best = -1;
    std::vector<int> best_taken;
    for (int n = 0; n < static_cast<int>(nodes.size()); ++n) {
      if (used[n]) continue;
      ResourceMap cap = capacity[n];
      std::vector<int> taken;
      for (int b : remaining)
        if (Fits(cap, bundles[b])) {
          Subtract(cap, bundles[b]);
          taken.push_back(b);
        }
      bool better =
          taken.size() > best_taken.size() || (!taken.empty() && taken.size() == best_taken.size() &&
                                               Utilization(nodes[n]) > Utilization(nodes[best]));
      if (better) {
        best = n;
        best_taken = std::move(taken);
      }
    }
    if (best < 0) return std::nullopt;
    used[best] = true;
    for (int b : best_taken) out[b] = best;
    std::erase_if(remaining, [&](int b) { return out[b] >= 0; });
  }
  return out;
}

// STRICT_SPREAD: a bipartite matching of bundles to distinct nodes (Kuhn's
// augmenting paths), nodes tried least used first.
class Matching {
 public:
  Matching(const std::vector<ResourceMap> &capacity, const std::vector<ResourceMap> &bundles,
           std::vector<int> node_order)
      : capacity_(capacity),
        bundles_(bundles),
        node_order_(std::move(node_order)),
        bundle_of_(capacity.size(), -1) {}

  std::optional<Assignment> Run() {
    if (bundles_.size() > capacity_.size()) return std::nullopt;
    for (int b : LargestFirst(bundles_)) {
      std::vector<bool> seen(capacity_.size(), false);
      if (!Augment(b, seen)) return std::nullopt;
    }
    Assignment out(bundles_.size(), -1);
    for (size_t n = 0; n < bundle_of_.size(); ++n)
      if (bundle_of_[n] >= 0) out[bundle_of_[n]] = static_cast<int>(n);
    return out;
  }

 private:
  bool Augment(int b, std::vector<bool> &seen) {
    for (int n : node_order_) {
      if (seen[n] || !Fits(capacity_[n], bundles_[b])) continue;
      seen[n] = true;
      if (bundle_of_[n] < 0 || Augment(bundle_of_[n], seen)) {
        bundle_of_[n] = b;
        return true;
      }
    }
    return false;
  }

  const std::vector<ResourceMap> &capacity_;
  const std::vector<ResourceMap> &bundles_;
  std::vector<int> node_order_;
  std::vector<int> bundle_of_;  // per node
};

std::optional<Assignment> Assign(const std::vector<PlacementNode> &nodes,
                                 const std::vector<ResourceMap> &capacity,
                                 const std::vector<ResourceMap> &bundles, BundleStrategy strategy) {
  switch (strategy) {
    case BundleStrategy::kStrictPack:
      return OneNode(nodes, capacity, bundles);
    case BundleStrategy::kPack: {
      if (auto one = OneNode(nodes, capacity, bundles)) return one;
      if (auto greedy = PackGreedy(nodes, capacity, bundles)) return greedy;
      std::vector<int> fullest = LeastUsedFirst(nodes);
      std::reverse(fullest.begin(), fullest.end());
      return Search(bundles, capacity, fullest).Run(/*fewest_bundles_first=*/false);
    }
    case BundleStrategy::kStrictSpread:
      return Matching(capacity, bundles, LeastUsedFirst(nodes)).Run();
    case BundleStrategy::kSpread:
      // The search with "fewest bundles first" is the greedy spread itself
      // on its first path, and backtracks only when that path fails.
      return Search(bundles, capacity, LeastUsedFirst(nodes)).Run(/*fewest_bundles_first=*/true);
  }
  return std::nullopt;
}

}  // namespace

ActorPlacement PlaceActor(const std::vector<PlacementNode> &nodes, const ResourceMap &need,
                          const std::string &preferred_node) {
  std::vector<const PlacementNode *> order;
  for (auto &n : nodes)
    if (n.id == preferred_node) order.push_back(&n);
  for (auto &n : nodes)
    if (n.id != preferred_node) order.push_back(&n);
  auto choice = ChooseHybrid(order, need);
  switch (choice.outcome) {
    case HybridOutcome::kChosen:
      return {PlacementOutcome::kPlaced, choice.node->id};
    case HybridOutcome::kUnavailable:
      return {PlacementOutcome::kUnavailable, ""};
    case HybridOutcome::kInfeasible:
      break;
  }
  return {PlacementOutcome::kInfeasible, ""};
}

BundlePlacement PlaceBundles(const std::vector<PlacementNode> &nodes, const std::vector<ResourceMap> &bundles,
                             BundleStrategy strategy) {
  BundlePlacement out;
  if (bundles.empty() || nodes.empty()) return out;
  std::vector<ResourceMap> available, total;
  for (auto &n : nodes) {
    available.push_back(n.available);
    total.push_back(n.total);
  }
  if (auto a = Assign(nodes, available, bundles, strategy)) {
    out.outcome = PlacementOutcome::kPlaced;
    for (int n : *a) out.nodes.push_back(nodes[n].id);
    return out;
  }
  out.outcome = Assign(nodes, total, bundles, strategy) ? PlacementOutcome::kUnavailable
                                                        : PlacementOutcome::kInfeasible;
  return out;
}

}  // namespace lumen::control
