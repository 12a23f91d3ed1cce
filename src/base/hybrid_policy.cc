#include "base/hybrid_policy.h"

#include <algorithm>

namespace lumen {
namespace {
constexpr double kEpsilon = 1e-9;
}  // namespace

bool Fits(const ResourceMap &have, const ResourceMap &need) {
  for (auto &[name, amount] : need) {
    if (amount <= 0) continue;
    auto it = have.find(name);
    if (it == have.end() || it->second + kEpsilon < amount) return false;
  }
  return true;
}

double Utilization(const ResourceNode &node) {
  double worst = 0;
  for (auto &[name, total] : node.total) {
    if (total <= 0) continue;
    auto it = node.available.find(name);
    double available = it == node.available.end() ? 0 : it->second;
    worst = std::max(worst, (total - available) / total);
  }
  return worst;
}

HybridChoice ChooseHybrid(const std::vector<const ResourceNode *> &order, const ResourceMap &need,
                          double threshold) {
  const ResourceNode *least_used = nullptr;
  double least = 0;
  bool feasible = false;
  for (const ResourceNode *n : order) {
    feasible = feasible || Fits(n->total, need);
    if (!Fits(n->available, need)) continue;
    double used = Utilization(*n);
    if (used < threshold) return {HybridOutcome::kChosen, n};
    if (!least_used || used < least) {
      least_used = n;
      least = used;
    }
  }
  if (least_used) return {HybridOutcome::kChosen, least_used};
  return {feasible ? HybridOutcome::kUnavailable : HybridOutcome::kInfeasible, nullptr};
}

}  // namespace lumen
