#include "ray/tune/async_hyperband.h"

#include <cmath>
#include <sstream>

#include "scheduler_util.h"

namespace ray {
namespace tune {
namespace {

const char *kName = "AsyncHyperBandScheduler";

std::string FormatNumber(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

AsyncHyperBandScheduler::AsyncHyperBandScheduler() : AsyncHyperBandScheduler(Options{}) {}

AsyncHyperBandScheduler::AsyncHyperBandScheduler(Options options)
    : FIFOScheduler(options.metric, options.mode), options_(std::move(options)), rng_(options_.seed) {
  if (!(options_.max_t > 0)) throw TuneError("AsyncHyperBandScheduler: max_t must be positive");
  if (!(options_.grace_period > 0)) throw TuneError("AsyncHyperBandScheduler: grace_period must be positive");
  if (options_.max_t < options_.grace_period) {
    throw TuneError("AsyncHyperBandScheduler: grace_period must be <= max_t");
  }
  if (!(options_.reduction_factor > 1)) {
    throw TuneError("AsyncHyperBandScheduler: reduction_factor must be greater than 1");
  }
  if (options_.brackets < 1) throw TuneError("AsyncHyperBandScheduler: brackets must be positive");
  const double rf = options_.reduction_factor;
  for (int s = 0; s < options_.brackets; ++s) {
    // Ray: int(log(max_t / grace) / log(rf) - s + 1) rungs (truncated toward
    // zero; a bracket past the last possible one has none).
    const double count = std::trunc(std::log(options_.max_t / options_.grace_period) / std::log(rf) - s + 1);
    Bracket bracket;
    for (int k = static_cast<int>(count) - 1; k >= 0; --k) {
      bracket.rungs.push_back(Rung{options_.grace_period * std::pow(rf, k + s), {}});
    }
    brackets_.push_back(std::move(bracket));
  }
}

std::optional<Json> AsyncHyperBandScheduler::OnTrialAdd(const TrialView &, const TrialInfo &trial) {
  internal::RequireMetricAndMode(kName, metric_, mode_);
  int chosen = 0;
  if (brackets_.size() > 1) {
    // Softmax over the rung counts: brackets with more rungs (more early
    // stopping) get more trials.
    double max_size = 0;
    for (const Bracket &b : brackets_) max_size = std::max(max_size, static_cast<double>(b.rungs.size()));
    std::vector<double> weights;
    double total = 0;
    for (const Bracket &b : brackets_) {
      weights.push_back(std::exp(static_cast<double>(b.rungs.size()) - max_size));
      total += weights.back();
    }
    const double u = internal::UniformUnit(rng_);
    double cumulative = 0;
    chosen = static_cast<int>(brackets_.size()) - 1;
    for (size_t i = 0; i < weights.size(); ++i) {
      cumulative += weights[i] / total;
      if (u < cumulative) {
        chosen = static_cast<int>(i);
        break;
      }
    }
  }
  trial_bracket_[trial.id] = chosen;
  return std::nullopt;
}

std::optional<double> AsyncHyperBandScheduler::Cutoff(const Rung &rung) const {
  if (rung.recorded.empty()) return std::nullopt;
  std::vector<double> values;
  values.reserve(rung.recorded.size());
  for (const auto &[id, score] : rung.recorded) values.push_back(score);
  return internal::NanPercentile(std::move(values), (1 - 1 / options_.reduction_factor) * 100);
}

Action AsyncHyperBandScheduler::OnBracketResult(Bracket &bracket, const std::string &trial_id, double time,
                                                double score) const {
  for (Rung &rung : bracket.rungs) {
    const bool recorded = rung.recorded.count(trial_id) > 0;
    // Without stop_last_trials a trial past max_t keeps reporting; once it is
    // recorded at the highest rung it has reached, the decision to let it go
    // on was made already.
    if (time >= rung.milestone && recorded && !options_.stop_last_trials) break;
    if (time < rung.milestone || recorded) continue;
    const std::optional<double> cutoff = Cutoff(rung);
    // A NaN score compares false, so it is never stopped (as in Ray).
    const Action action = cutoff && score < *cutoff ? Action::kStop : Action::kContinue;
    rung.recorded[trial_id] = score;
    return action;
  }
  return Action::kContinue;
}

Decision AsyncHyperBandScheduler::OnTrialResult(const TrialView &, const TrialInfo &trial,
                                                const Json &result) {
  Decision decision;
  const std::optional<double> time = internal::ResultNumber(result, options_.time_attr);
  const std::optional<double> value = metric_ ? internal::ResultNumber(result, *metric_) : std::nullopt;
  if (!time || !value) return decision;
  if (*time >= options_.max_t && options_.stop_last_trials) {
    decision.action = Action::kStop;
  } else {
    auto it = trial_bracket_.find(trial.id);
    if (it == trial_bracket_.end()) throw TuneError("AsyncHyperBandScheduler: unknown trial " + trial.id);
    decision.action = OnBracketResult(brackets_[it->second], trial.id, *time, Score(*mode_, *value));
  }
  if (decision.action == Action::kStop) ++num_stopped_;
  return decision;
}

void AsyncHyperBandScheduler::OnTrialComplete(const TrialView &, const TrialInfo &trial, const Json &result) {
  const std::optional<double> time = internal::ResultNumber(result, options_.time_attr);
  const std::optional<double> value = metric_ ? internal::ResultNumber(result, *metric_) : std::nullopt;
  if (!time || !value) return;
  auto it = trial_bracket_.find(trial.id);
  if (it == trial_bracket_.end()) return;
  OnBracketResult(brackets_[it->second], trial.id, *time, Score(*mode_, *value));
  trial_bracket_.erase(it);
}

void AsyncHyperBandScheduler::OnTrialRemove(const TrialView &, const TrialInfo &trial) {
  trial_bracket_.erase(trial.id);
}

std::optional<int> AsyncHyperBandScheduler::BracketOf(const std::string &trial_id) const {
  auto it = trial_bracket_.find(trial_id);
  if (it == trial_bracket_.end()) return std::nullopt;
  return it->second;
}

std::string AsyncHyperBandScheduler::DebugString() const {
  std::string out = "Using AsyncHyperBand: num_stopped=" + std::to_string(num_stopped_);
  for (const Bracket &bracket : brackets_) {
    out += "\nBracket: ";
    for (size_t i = 0; i < bracket.rungs.size(); ++i) {
      if (i > 0) out += " | ";
      const std::optional<double> cutoff = Cutoff(bracket.rungs[i]);
      out += "Iter " + FormatNumber(bracket.rungs[i].milestone) + ": " +
             (cutoff ? FormatNumber(*cutoff) : std::string("None"));
    }
  }
  return out;
}

Json AsyncHyperBandScheduler::Save() const {
  Json brackets = Json::array();
  for (const Bracket &bracket : brackets_) {
    Json rungs = Json::array();
    for (const Rung &rung : bracket.rungs) {
      Json recorded = Json::object();
      for (const auto &[id, score] : rung.recorded) recorded[id] = internal::DoubleToJson(score);
      rungs.push_back({{"milestone", rung.milestone}, {"recorded", std::move(recorded)}});
    }
    brackets.push_back(std::move(rungs));
  }
  return {{"base", SaveBase()},
          {"brackets", std::move(brackets)},
          {"trial_bracket", trial_bracket_},
          {"num_stopped", num_stopped_},
          {"rng", internal::RngState(rng_)}};
}

void AsyncHyperBandScheduler::Restore(const Json &state) {
  RestoreBase(state.at("base"));
  const Json &brackets = state.at("brackets");
  if (brackets.size() != brackets_.size()) {
    throw TuneError("AsyncHyperBandScheduler: saved state has a different number of brackets");
  }
  for (size_t b = 0; b < brackets_.size(); ++b) {
    if (brackets[b].size() != brackets_[b].rungs.size()) {
      throw TuneError("AsyncHyperBandScheduler: saved state has different rungs");
    }
    for (size_t r = 0; r < brackets_[b].rungs.size(); ++r) {
      std::map<std::string, double> &recorded = brackets_[b].rungs[r].recorded;
      recorded.clear();
      for (const auto &[id, score] : brackets[b][r].at("recorded").items()) {
        recorded[id] = internal::DoubleFromJson(score);
      }
    }
  }
  trial_bracket_ = state.at("trial_bracket").get<std::unordered_map<std::string, int>>();
  num_stopped_ = state.at("num_stopped").get<int>();
  internal::SetRngState(rng_, state.at("rng").get<std::string>());
}

}  // namespace tune
}  // namespace ray
