#include "ray/tune/trial_scheduler.h"

#include "scheduler_util.h"

namespace ray {
namespace tune {

TrialScheduler::TrialScheduler(const std::optional<std::string> &metric,
                               const std::optional<std::string> &mode) {
  if (metric && !metric->empty()) metric_ = *metric;
  if (mode && !mode->empty()) mode_ = ParseMode(*mode);
}

bool TrialScheduler::SetSearchProperties(const std::optional<std::string> &metric,
                                         const std::optional<std::string> &mode) {
  const bool has_metric = metric && !metric->empty();
  const bool has_mode = mode && !mode->empty();
  if (metric_ && has_metric) return false;
  if (mode_ && has_mode) return false;
  if (has_mode) mode_ = ParseMode(*mode);
  if (has_metric) metric_ = *metric;
  // Ray: a mode without a metric optimises the anonymous metric.
  if (!metric_ && mode_) metric_ = kDefaultMetric;
  return true;
}

std::vector<TrialOrder> TrialScheduler::TakeOrders() {
  std::vector<TrialOrder> orders;
  orders.swap(orders_);
  return orders;
}

void TrialScheduler::Order(const std::string &trial_id, Decision decision) {
  orders_.push_back(TrialOrder{trial_id, std::move(decision)});
}

Json TrialScheduler::SaveBase() const {
  Json orders = Json::array();
  for (const TrialOrder &order : orders_) {
    Json entry = {{"trial_id", order.trial_id},
                  {"action", ActionName(order.decision.action)},
                  {"save_checkpoint", order.decision.save_checkpoint}};
    if (order.decision.exploit) {
      entry["donor_id"] = order.decision.exploit->donor_id;
      entry["new_config"] = order.decision.exploit->new_config;
    }
    orders.push_back(std::move(entry));
  }
  return {{"metric", internal::OptionalToJson(metric_)},
          {"mode", mode_ ? Json(ModeName(*mode_)) : Json(nullptr)},
          {"orders", std::move(orders)}};
}

void TrialScheduler::RestoreBase(const Json &state) {
  metric_ = internal::OptionalStringFromJson(state.at("metric"));
  mode_.reset();
  if (!state.at("mode").is_null()) mode_ = ParseMode(state.at("mode").get<std::string>());
  orders_.clear();
  for (const Json &entry : state.at("orders")) {
    TrialOrder order;
    order.trial_id = entry.at("trial_id").get<std::string>();
    const std::string action = entry.at("action").get<std::string>();
    order.decision.action = action == "STOP"    ? Action::kStop
                            : action == "PAUSE" ? Action::kPause
                                                : Action::kContinue;
    order.decision.save_checkpoint = entry.at("save_checkpoint").get<bool>();
    if (entry.contains("donor_id")) {
      order.decision.exploit = Exploit{entry.at("donor_id").get<std::string>(), entry.at("new_config")};
    }
    orders_.push_back(std::move(order));
  }
}

std::optional<Json> FIFOScheduler::OnTrialAdd(const TrialView &, const TrialInfo &) { return std::nullopt; }

Decision FIFOScheduler::OnTrialResult(const TrialView &, const TrialInfo &, const Json &) {
  return Decision{};
}

void FIFOScheduler::OnTrialComplete(const TrialView &, const TrialInfo &, const Json &) {}

void FIFOScheduler::OnTrialError(const TrialView &, const TrialInfo &) {}

void FIFOScheduler::OnTrialRemove(const TrialView &, const TrialInfo &) {}

std::optional<std::string> FIFOScheduler::FirstPendingThenPaused(const TrialView &trials) {
  const std::vector<const TrialInfo *> all = trials.Trials();
  for (const TrialInfo *trial : all) {
    if (trial->status == TrialStatus::kPending) return trial->id;
  }
  for (const TrialInfo *trial : all) {
    if (trial->status == TrialStatus::kPaused) return trial->id;
  }
  return std::nullopt;
}

std::optional<std::string> FIFOScheduler::ChooseTrialToRun(const TrialView &trials) {
  return FirstPendingThenPaused(trials);
}

std::string FIFOScheduler::DebugString() const { return "Using FIFO scheduling algorithm."; }

Json FIFOScheduler::Save() const { return {{"base", SaveBase()}}; }

void FIFOScheduler::Restore(const Json &state) { RestoreBase(state.at("base")); }

}  // namespace tune
}  // namespace ray
