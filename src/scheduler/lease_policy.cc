#include "scheduler/lease_policy.h"

#include <algorithm>

namespace lumen::scheduler {

ResourceMap ToResourceMap(const ResourceSet &r) {
  ResourceMap out;
  for (auto &[name, amount] : r.fixed()) out.emplace(name, static_cast<double>(amount) / ResourceSet::kUnit);
  return out;
}

double FixedUtilization(const ResourceSet &total, const ResourceSet &available) {
  double worst = 0;
  for (auto &[name, amount] : total.fixed()) {
    if (amount <= 0) continue;
    worst =
        std::max(worst, static_cast<double>(amount - available.GetFixed(name)) / static_cast<double>(amount));
  }
  return worst;
}

void BookOnNode(ClusterSnapshot &view, const std::string &node_id, const ResourceMap &need) {
  for (auto &n : view.nodes) {
    if (n.resources.id != node_id) continue;
    for (auto &[name, amount] : need) {
      auto it = n.resources.available.find(name);
      if (it != n.resources.available.end()) it->second = std::max(0.0, it->second - amount);
    }
  }
}

LeaseDecision DecideLease(const ResourceNode &local, bool fits_now, const ClusterSnapshot &view,
                          const LeaseQuery &query, Clock::TimePoint now, const LeasePolicyOptions &options) {
  if (GrantsLocally(Utilization(local), fits_now, options, query.hops)) return {LeaseAction::kLocal};
  const ResourceMap &need = query.need;
  const int hops = query.hops;
  const bool fits_here_ever = Fits(local.total, need);
  const LeaseDecision stay{fits_here_ever ? LeaseAction::kLocal : LeaseAction::kInfeasible};
  if (hops >= options.max_moves) return stay;
  if (!view.valid || now - view.as_of > options.max_view_age) {
    // At the spreading bound a request that fits here is queued here while
    // no view says better; it asks for one all the same (step 3).
    if (hops >= options.max_spills && fits_here_ever) return {LeaseAction::kLocal, nullptr, true};
    return {fits_now ? LeaseAction::kLocal : LeaseAction::kRefreshView, nullptr, /*refresh_view=*/true};
  }
  auto spill_to = [&](const ResourceNode *chosen) -> LeaseDecision {
    for (auto &n : view.nodes)
      if (&n.resources == chosen) return {LeaseAction::kSpill, &n};
    return {LeaseAction::kLocal};  // this node
  };
  if (hops >= options.max_spills) {
    // Only to a node that has it free now (fits_now is false here: step 2).
    std::vector<const ResourceNode *> free_now;
    for (auto &n : view.nodes)
      if (n.alive && (query.portable || n.startable_jobs.count(query.job_id) || !fits_here_ever) &&
          Fits(n.resources.available, need))
        free_now.push_back(&n.resources);
    auto choice = ChooseHybrid(free_now, need, options.spread_threshold);
    return choice.outcome == HybridOutcome::kChosen ? spill_to(choice.node) : stay;
  }

  // The nodes that may take it to spread load: this one first.
  std::vector<const ResourceNode *> order{&local};
  for (auto &n : view.nodes)
    if (n.alive && (query.portable || n.startable_jobs.count(query.job_id))) order.push_back(&n.resources);
  // `fits_now` is the exact answer for this node (GPU devices, bundles):
  // the hybrid choice must not pick it when that says no.
  ResourceNode local_now = local;
  if (!fits_now) local_now.available.clear();
  order[0] = &local_now;
  auto choice = ChooseHybrid(order, need, options.spread_threshold);
  if (choice.outcome == HybridOutcome::kChosen) return spill_to(choice.node);
  if (fits_here_ever) return {LeaseAction::kLocal};

  // Only another node could run it: any live one, first one with it free now.
  std::vector<const ResourceNode *> others;
  for (auto &n : view.nodes)
    if (n.alive) others.push_back(&n.resources);
  choice = ChooseHybrid(others, need, options.spread_threshold);
  if (choice.outcome == HybridOutcome::kChosen) return spill_to(choice.node);
  const ResourceNode *least_used = nullptr;
  for (const ResourceNode *n : others)
    if (Fits(n->total, need) && (!least_used || Utilization(*n) < Utilization(*least_used))) least_used = n;
  if (least_used) return spill_to(least_used);
  return {LeaseAction::kInfeasible};
}

}  // namespace lumen::scheduler
