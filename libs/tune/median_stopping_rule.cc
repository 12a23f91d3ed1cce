#include "ray/tune/median_stopping_rule.h"

#include <cmath>
#include <limits>

#include "scheduler_util.h"

namespace ray {
namespace tune {
namespace {

const char *kName = "MedianStoppingRule";

}  // namespace

MedianStoppingRule::MedianStoppingRule() : MedianStoppingRule(Options{}) {}

MedianStoppingRule::MedianStoppingRule(Options options)
    : FIFOScheduler(options.metric, options.mode), options_(std::move(options)) {}

std::optional<Json> MedianStoppingRule::OnTrialAdd(const TrialView &, const TrialInfo &) {
  internal::RequireMetricAndMode(kName, metric_, mode_);
  return std::nullopt;
}

void MedianStoppingRule::Record(const std::string &trial_id, const Json &result) {
  const std::optional<double> time = internal::ResultNumber(result, options_.time_attr);
  const std::optional<double> value = metric_ ? internal::ResultNumber(result, *metric_) : std::nullopt;
  if (!time || !value) return;
  auto [it, inserted] = results_.try_emplace(trial_id);
  if (inserted) trial_order_.push_back(trial_id);
  it->second.emplace_back(*time, *value);
}

double MedianStoppingRule::RunningMean(const std::vector<Sample> &samples, double time) const {
  // Ray assumes evenly spaced results and takes a plain mean over the window.
  double sum = 0;
  int count = 0;
  for (const auto &[t, value] : samples) {
    if (options_.grace_period <= t && t <= time) {
      sum += value;
      ++count;
    }
  }
  // numpy's mean of nothing is NaN.
  return count == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / count;
}

double MedianStoppingRule::BestResult(const std::vector<Sample> &samples) const {
  double best = samples.front().second;
  for (const auto &[t, value] : samples) {
    if (Score(*mode_, value) > Score(*mode_, best)) best = value;
  }
  return best;
}

Decision MedianStoppingRule::OnTrialResult(const TrialView &trials, const TrialInfo &trial,
                                           const Json &result) {
  const std::optional<double> time = internal::ResultNumber(result, options_.time_attr);
  const std::optional<double> value = metric_ ? internal::ResultNumber(result, *metric_) : std::nullopt;
  if (!time || !value) return Decision{};
  // A trial paused below the median (hard_stop false) runs on FIFO.
  if (stopped_trials_.count(trial.id) > 0) return Decision{};
  Record(trial.id, result);
  if (*time < options_.grace_period) return Decision{};

  // The other trials whose latest result is at or beyond this time.
  std::vector<const std::vector<Sample> *> others;
  for (const std::string &id : trial_order_) {
    if (id == trial.id) continue;
    const std::vector<Sample> &samples = results_.at(id);
    if (samples.back().first >= *time) others.push_back(&samples);
  }

  if (static_cast<int>(others.size()) < options_.min_samples_required) {
    // Too few to judge: yield to waiting trials, at most once per time slice.
    auto last = last_pause_.find(trial.id);
    const double last_pause =
        last == last_pause_.end() ? -std::numeric_limits<double>::infinity() : last->second;
    bool pause = *time - last_pause > options_.min_time_slice;
    if (pause) {
      pause = false;
      for (const TrialInfo *other : trials.Trials()) {
        if (other->status == TrialStatus::kPending || other->status == TrialStatus::kPaused) {
          pause = true;
          break;
        }
      }
    }
    if (!pause) return Decision{};
    last_pause_[trial.id] = *time;
    return Decision{Action::kPause, false, std::nullopt};
  }

  std::vector<double> means;
  means.reserve(others.size());
  for (const std::vector<Sample> *samples : others) means.push_back(RunningMean(*samples, *time));
  const double median = internal::Median(std::move(means));
  const double best = BestResult(results_.at(trial.id));
  // Ray tests `compare_op(median, best) != best`: strictly worse than the
  // median stops, a tie continues, and a NaN median (another trial with no
  // result inside [grace_period, t]) stops too, since max/min then return the
  // NaN. Matched on purpose.
  const bool worse = std::isnan(median) || Score(*mode_, median) > Score(*mode_, best);
  if (!worse) return Decision{};
  stopped_trials_.insert(trial.id);
  return Decision{options_.hard_stop ? Action::kStop : Action::kPause, false, std::nullopt};
}

void MedianStoppingRule::OnTrialComplete(const TrialView &, const TrialInfo &trial, const Json &result) {
  Record(trial.id, result);
}

std::string MedianStoppingRule::DebugString() const {
  return "Using MedianStoppingRule: num_stopped=" + std::to_string(stopped_trials_.size()) + ".";
}

Json MedianStoppingRule::Save() const {
  Json results = Json::array();
  for (const std::string &id : trial_order_) {
    Json samples = Json::array();
    for (const auto &[t, value] : results_.at(id)) {
      samples.push_back({internal::DoubleToJson(t), internal::DoubleToJson(value)});
    }
    results.push_back({{"id", id}, {"samples", std::move(samples)}});
  }
  return {{"base", SaveBase()},
          {"results", std::move(results)},
          {"last_pause", last_pause_},
          {"stopped", stopped_trials_}};
}

void MedianStoppingRule::Restore(const Json &state) {
  RestoreBase(state.at("base"));
  trial_order_.clear();
  results_.clear();
  for (const Json &entry : state.at("results")) {
    const std::string id = entry.at("id").get<std::string>();
    std::vector<Sample> &samples = results_[id];
    for (const Json &sample : entry.at("samples")) {
      samples.emplace_back(internal::DoubleFromJson(sample.at(0)), internal::DoubleFromJson(sample.at(1)));
    }
    trial_order_.push_back(id);
  }
  last_pause_ = state.at("last_pause").get<std::unordered_map<std::string, double>>();
  stopped_trials_ = state.at("stopped").get<std::set<std::string>>();
}

}  // namespace tune
}  // namespace ray
