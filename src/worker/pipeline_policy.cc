#include "worker/pipeline_policy.h"

#include <algorithm>
#include <chrono>

namespace lumen::worker {

namespace {
// Exponential moving averages: a task's time weighs 1/5 against the past.
double Blend(double avg, double us) { return 0.8 * avg + 0.2 * us; }
}  // namespace

void PipelinePolicy::RecordTask(const std::string &function, double us) {
  avg_us_ = avg_us_ < 0 ? us : Blend(avg_us_, us);
  auto [it, first] = function_avg_us_.try_emplace(function, us);
  if (!first) it->second = Blend(it->second, us);
}

bool PipelinePolicy::MaybeLong(const std::string &function) const {
  auto it = function_avg_us_.find(function);
  return it == function_avg_us_.end() || it->second >= kBudgetUs;
}

int PipelinePolicy::Depth() const {
  if (avg_us_ < 0) return 1;
  return static_cast<int>(
      std::clamp(kBudgetUs / std::max(avg_us_, 1.0), 1.0, static_cast<double>(kMaxDepth)));
}

Clock::Duration PipelinePolicy::StalledAfter() const {
  return std::chrono::duration_cast<Clock::Duration>(
      std::chrono::duration<double, std::micro>(std::max(kStalledFloorUs, kStalledFactor * avg_us_)));
}

bool PipelinePolicy::TakesMore(int in_flight, int maybe_long, Clock::Duration silent) const {
  if (in_flight == 0) return true;
  return in_flight < Depth() && maybe_long == 0 && silent <= StalledAfter();
}

}  // namespace lumen::worker
