#include "ray/tune/stoppers.h"

#include <algorithm>
#include <chrono>

#include "scheduler_util.h"

namespace ray {
namespace tune {

MetricThresholdStopper::MetricThresholdStopper(Json criteria) : criteria_(std::move(criteria)) {
  if (!criteria_.is_object()) throw TuneError("stop criteria must be an object of metric -> threshold");
  for (const auto &[key, value] : criteria_.items()) {
    if (!value.is_number()) {
      throw TuneError("stop criterion \"" + key + "\" must be a number, not " + value.dump() +
                      " (nested criteria are written as \"a/b\")");
    }
  }
}

bool MetricThresholdStopper::ShouldStop(const std::string &, const Json &result) {
  for (const auto &[key, threshold] : criteria_.items()) {
    const Json *value = internal::FindResultValue(result, key);
    if (value == nullptr) {
      std::string keys;
      if (result.is_object()) {
        for (const auto &[name, unused] : result.items()) keys += (keys.empty() ? "" : ", ") + name;
      }
      throw TuneError("Stopping criterion \"" + key + "\" is not in the result; its keys are [" + keys + "]");
    }
    const std::optional<double> number = internal::ResultNumber(result, key);
    if (number && *number >= threshold.get<double>()) return true;
  }
  return false;
}

FunctionStopper::FunctionStopper(Function function) : function_(std::move(function)) {
  if (!function_) throw TuneError("FunctionStopper needs a function");
}

bool FunctionStopper::ShouldStop(const std::string &trial_id, const Json &result) {
  return function_(trial_id, result);
}

MaximumIterationStopper::MaximumIterationStopper(int64_t max_iter) : max_iter_(max_iter) {}

bool MaximumIterationStopper::ShouldStop(const std::string &trial_id, const Json &) {
  return ++iterations_[trial_id] >= max_iter_;
}

Json MaximumIterationStopper::Save() const { return {{"iterations", iterations_}}; }

void MaximumIterationStopper::Restore(const Json &state) {
  iterations_ = state.at("iterations").get<std::map<std::string, int64_t>>();
}

TrialPlateauStopper::TrialPlateauStopper(Options options) : options_(std::move(options)) {
  if (options_.mode) mode_ = ParseMode(*options_.mode);
  // Ray checks the mode only for a non-zero threshold (Python's truthiness);
  // any threshold needs one to be read, so Lumen asks for it with every one.
  if (options_.metric_threshold && !mode_) {
    throw TuneError("TrialPlateauStopper: a metric_threshold needs mode \"min\" or \"max\"");
  }
  if (options_.num_results < 1) throw TuneError("TrialPlateauStopper: num_results must be positive");
}

bool TrialPlateauStopper::ShouldStop(const std::string &trial_id, const Json &result) {
  std::optional<double> value;
  const Json *raw = internal::FindResultValue(result, options_.metric);
  if (raw != nullptr && raw->is_number()) value = raw->get<double>();
  std::deque<std::optional<double>> &window = results_[trial_id];
  window.push_back(value);
  while (static_cast<int>(window.size()) > options_.num_results) window.pop_front();
  if (++iterations_[trial_id] < options_.grace_period) return false;
  if (static_cast<int>(window.size()) < options_.num_results) return false;
  if (options_.metric_threshold) {
    if (!value) return false;
    if (*mode_ == Mode::kMin && *value > *options_.metric_threshold) return false;
    if (*mode_ == Mode::kMax && *value < *options_.metric_threshold) return false;
  }
  // A missing value makes Ray's np.std fail, which it reads as an infinite
  // deviation: no plateau.
  std::vector<double> values;
  for (const std::optional<double> &v : window) {
    if (!v) return false;
    values.push_back(*v);
  }
  return internal::PopulationStd(values) < options_.std;
}

Json TrialPlateauStopper::Save() const {
  Json windows = Json::object();
  for (const auto &[id, window] : results_) {
    Json values = Json::array();
    for (const std::optional<double> &v : window)
      values.push_back(v ? internal::DoubleToJson(*v) : Json(nullptr));
    windows[id] = std::move(values);
  }
  return {{"iterations", iterations_}, {"results", std::move(windows)}};
}

void TrialPlateauStopper::Restore(const Json &state) {
  iterations_ = state.at("iterations").get<std::map<std::string, int64_t>>();
  results_.clear();
  for (const auto &[id, values] : state.at("results").items()) {
    std::deque<std::optional<double>> &window = results_[id];
    for (const Json &v : values) {
      window.push_back(v.is_null() ? std::nullopt : std::optional<double>(internal::DoubleFromJson(v)));
    }
  }
}

ExperimentPlateauStopper::ExperimentPlateauStopper(Options options) : options_(std::move(options)) {
  if (options_.mode != "min" && options_.mode != "max") {
    throw TuneError("ExperimentPlateauStopper: the mode parameter can only be either min or max");
  }
  mode_ = ParseMode(options_.mode);
  if (options_.top <= 1) {
    throw TuneError("ExperimentPlateauStopper: top results to consider must be an integer greater than one");
  }
  if (options_.patience < 0)
    throw TuneError("ExperimentPlateauStopper: patience must be a non-negative integer");
  if (!(options_.std > 0)) {
    throw TuneError("ExperimentPlateauStopper: the standard deviation must be a strictly positive number");
  }
}

bool ExperimentPlateauStopper::ShouldStop(const std::string &, const Json &result) {
  const std::optional<double> value = internal::ResultNumber(result, options_.metric);
  if (!value) throw TuneError("ExperimentPlateauStopper: result has no metric \"" + options_.metric + "\"");
  top_values_.insert(std::upper_bound(top_values_.begin(), top_values_.end(), *value), *value);
  const size_t top = static_cast<size_t>(options_.top);
  if (top_values_.size() > top) {
    if (mode_ == Mode::kMin) {
      top_values_.resize(top);  // the smallest
    } else {
      top_values_.erase(top_values_.begin(), top_values_.end() - static_cast<std::ptrdiff_t>(top));
    }
  }
  iterations_ = HasPlateaued() ? iterations_ + 1 : 0;
  return StopAll();
}

bool ExperimentPlateauStopper::HasPlateaued() const {
  return top_values_.size() == static_cast<size_t>(options_.top) &&
         internal::PopulationStd(top_values_) <= options_.std;
}

bool ExperimentPlateauStopper::StopAll() { return HasPlateaued() && iterations_ >= options_.patience; }

Json ExperimentPlateauStopper::Save() const {
  return {{"iterations", iterations_}, {"top_values", top_values_}};
}

void ExperimentPlateauStopper::Restore(const Json &state) {
  iterations_ = state.at("iterations").get<int64_t>();
  top_values_ = state.at("top_values").get<std::vector<double>>();
}

TimeoutStopper::TimeoutStopper(double timeout_s, Clock clock)
    : timeout_s_(timeout_s), budget_s_(timeout_s), clock_(std::move(clock)) {
  if (!clock_) {
    clock_ = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
  }
}

bool TimeoutStopper::StopAll() {
  const double now = clock_();
  if (last_check_) budget_s_ -= now - *last_check_;
  last_check_ = now;
  return budget_s_ <= 0;
}

Json TimeoutStopper::Save() const { return {{"timeout_s", timeout_s_}, {"budget_s", budget_s_}}; }

void TimeoutStopper::Restore(const Json &state) {
  budget_s_ = state.at("budget_s").get<double>();
  // Time between the save and the resume is not charged (Ray drops the last
  // check when unpickling).
  last_check_.reset();
}

CombinedStopper::CombinedStopper(std::vector<StopperPtr> stoppers) : stoppers_(std::move(stoppers)) {
  for (const StopperPtr &s : stoppers_) {
    if (!s) throw TuneError("CombinedStopper: null stopper");
  }
}

bool CombinedStopper::ShouldStop(const std::string &trial_id, const Json &result) {
  for (const StopperPtr &s : stoppers_) {
    if (s->ShouldStop(trial_id, result)) return true;
  }
  return false;
}

bool CombinedStopper::StopAll() {
  for (const StopperPtr &s : stoppers_) {
    if (s->StopAll()) return true;
  }
  return false;
}

Json CombinedStopper::Save() const {
  Json states = Json::array();
  for (const StopperPtr &s : stoppers_) states.push_back(s->Save());
  return {{"stoppers", std::move(states)}};
}

void CombinedStopper::Restore(const Json &state) {
  const Json &states = state.at("stoppers");
  if (states.size() != stoppers_.size())
    throw TuneError("CombinedStopper: saved state has a different stopper count");
  for (size_t i = 0; i < stoppers_.size(); ++i) stoppers_[i]->Restore(states[i]);
}

}  // namespace tune
}  // namespace ray
