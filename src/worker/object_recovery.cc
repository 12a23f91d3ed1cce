#include "worker/object_recovery.h"

#include <algorithm>

namespace lumen::worker {

void ObjectRecovery::AddLineage(const ObjectID &id, const proto::TaskSpec &spec, int retries_left) {
  auto [it, added] = kept_.try_emplace(id);
  Kept &k = it->second;
  bytes_ -= k.bytes;
  k.spec = spec;
  k.retries_left = retries_left;
  k.bytes = spec.ByteSizeLong();
  bytes_ += k.bytes;
  if (added) {
    k.seq = next_seq_++;
    by_age_[k.seq] = id;
    // Its kept arguments stay kept while it is: re-running it may need them made again.
    for (auto &arg : spec.args()) {
      if (!arg.is_ref() || arg.object_id().empty()) continue;
      ObjectID arg_id = ObjectID::FromBinary(arg.object_id());
      auto a = kept_.find(arg_id);
      if (a == kept_.end() || arg_id == id) continue;
      a->second.dependents++;
      k.args.push_back(arg_id);
    }
  }
  EvictOverBudget();
}

void ObjectRecovery::OnObjectFreed(const ObjectID &id) {
  auto it = kept_.find(id);
  if (it == kept_.end()) return;
  it->second.freed = true;
  ReleaseIfUnneeded(id);
}

void ObjectRecovery::ReleaseIfUnneeded(const ObjectID &id) {
  auto it = kept_.find(id);
  if (it != kept_.end() && it->second.freed && it->second.dependents == 0) Erase(id);
}

void ObjectRecovery::Erase(const ObjectID &id) {
  auto it = kept_.find(id);
  if (it == kept_.end()) return;
  std::vector<ObjectID> args = std::move(it->second.args);
  bytes_ -= it->second.bytes;
  by_age_.erase(it->second.seq);
  kept_.erase(it);
  for (auto &arg : args) {
    auto a = kept_.find(arg);
    if (a == kept_.end()) continue;
    if (a->second.dependents > 0) a->second.dependents--;
    ReleaseIfUnneeded(arg);
  }
}

void ObjectRecovery::EvictOverBudget() {
  while (bytes_ > max_bytes_ && !by_age_.empty()) Erase(by_age_.begin()->second);
}

ObjectRecovery::Plan ObjectRecovery::PlanRecovery(const ObjectID &id, const std::string &why,
                                                  const StateFn &state) {
  Plan plan;
  std::vector<ObjectID> planned;
  PlanOne(id, why, state, &plan, &planned);
  return plan;
}

void ObjectRecovery::PlanOne(const ObjectID &id, const std::string &why, const StateFn &state, Plan *plan,
                             std::vector<ObjectID> *planned) {
  if (std::find(planned->begin(), planned->end(), id) != planned->end()) return;
  planned->push_back(id);
  const std::string lost = "Object " + id.Hex() + " is lost (" + why + ") and cannot be reconstructed: ";
  auto it = kept_.find(id);
  if (it == kept_.end()) {
    plan->fail.push_back(
        {id, lost + (id.Index() == 0 ? "it was made by ray::Put, and only a task's return can be made again "
                                       "by re-running the task"
                                     : "the task that made it is not kept (lineage is kept for tasks with "
                                       "retries, up to " +
                                           std::to_string(max_bytes_) + " bytes of task specs per owner)")});
    return;
  }
  Kept &k = it->second;
  if (k.retries_left <= 0) {
    plan->fail.push_back(
        {id, lost + "the task that made it ('" + k.spec.function().function_name() +
                 "') has no retries left (max_retries=" + std::to_string(k.spec.max_retries()) + ")"});
    return;
  }
  for (auto &arg : k.spec.args()) {
    if (!arg.is_ref() || arg.object_id().empty()) continue;
    ObjectID arg_id = ObjectID::FromBinary(arg.object_id());
    ObjectState s = state(arg_id);
    if (s == ObjectState::kLost || (s == ObjectState::kFreed && kept_.count(arg_id))) {
      PlanOne(arg_id, why, state, plan, planned);
    } else if (s == ObjectState::kFreed) {
      plan->fail.push_back({id, lost + "its argument " + arg_id.Hex() + " was freed and is not kept"});
      return;
    }
  }
  // `k` is still valid: planning arguments adds and removes nothing.
  k.retries_left--;
  plan->resubmit.push_back({id, k.spec, k.retries_left});
}

}  // namespace lumen::worker
