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

LeaseDecision DecideLease(const ResourceNode &local, bool fits_now, const ClusterSnapshot &view,
                          const LeaseQuery &query, Clock::TimePoint now, const LeasePolicyOptions &options) {
  if (GrantsLocally(Utilization(local), fits_now, options)) return {LeaseAction::kLocal};
  const ResourceMap &need = query.need;
  const int hops = query.hops;
  const bool fits_here_ever = Fits(local.total, need);
  if (hops >= options.max_spills) return {fits_here_ever ? LeaseAction::kLocal : LeaseAction::kInfeasible};
  if (!view.valid || now - view.as_of > options.max_view_age)
    return {fits_now ? LeaseAction::kLocal : LeaseAction::kRefreshView, nullptr, /*refresh_view=*/true};

  // The nodes that may take it to spread load: this one first.
  std::vector<const ResourceNode *> order{&local};
  for (auto &n : view.nodes)
    if (n.alive && (query.portable || n.startable_jobs.count(query.job_id))) order.push_back(&n.resources);
  // `fits_now` is the exact answer for this node (GPU devices, bundles):
  // the hybrid choice must not pick it when that says no.
  ResourceNode local_now = local;
  if (!fits_now) local_now.available.clear();
  order[0] = &local_now;
  auto spill_to = [&](const ResourceNode *chosen) -> LeaseDecision {
    for (auto &n : view.nodes)
      if (&n.resources == chosen) return {LeaseAction::kSpill, &n};
    return {LeaseAction::kLocal};  // this node
  };
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
