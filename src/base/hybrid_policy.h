// Ray's hybrid scheduling choice, shared by the control service (where an
// actor goes: control/cluster_placement) and the node service (where a
// normal task's lease goes: scheduler/lease_policy): among the nodes where a
// request fits what is free now, in the order given (the preferred node
// first), the first whose critical-resource utilization is below the spread
// threshold; when every such node is busier, the least utilized one. So work
// stays where it is asked for until that node is about half used, then
// spreads. Pure functions over resource maps, no I/O.
//
// Threading: stateless; call from any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace lumen {

using ResourceMap = std::map<std::string, double>;

/// One node's resources as a decision sees them.
struct ResourceNode {
  std::string id;
  ResourceMap total;
  ResourceMap available;
};

/// Ray's hybrid-policy threshold (scheduler_spread_threshold).
inline constexpr double kSpreadThreshold = 0.5;

/// `need` fits in `have` (amounts of zero or less need nothing).
bool Fits(const ResourceMap &have, const ResourceMap &need);

/// The largest used/total fraction over the node's resources (0 for none).
double Utilization(const ResourceNode &node);

enum class HybridOutcome {
  kChosen,       // `node` takes it now
  kUnavailable,  // it fits some node's total: resources must be freed first
  kInfeasible,   // it fits no node even when idle
};

struct HybridChoice {
  HybridOutcome outcome = HybridOutcome::kInfeasible;
  const ResourceNode *node = nullptr;  // when kChosen: one of `order`
};

/// The hybrid choice among `order` (preferred nodes first; ties keep this
/// order) for a request of `need`.
HybridChoice ChooseHybrid(const std::vector<const ResourceNode *> &order, const ResourceMap &need,
                          double threshold = kSpreadThreshold);

}  // namespace lumen
