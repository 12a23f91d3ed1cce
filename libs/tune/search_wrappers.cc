// ConcurrencyLimiter and Repeater: searchers that wrap another searcher.
#include <cmath>
#include <limits>

#include "ray/tune/searcher.h"

namespace ray {
namespace tune {

ConcurrencyLimiter::ConcurrencyLimiter(std::unique_ptr<Searcher> searcher, int max_concurrent, bool batch)
    : searcher_(std::move(searcher)), max_concurrent_(max_concurrent), batch_(batch) {
  if (!searcher_) throw TuneError("ConcurrencyLimiter: the searcher to wrap is null");
  if (max_concurrent <= 0) {
    throw TuneError("ConcurrencyLimiter: max_concurrent must be positive, got " +
                    std::to_string(max_concurrent));
  }
  limit_ = !searcher_->SetMaxConcurrency(max_concurrent_);
  metric_ = searcher_->metric();
  mode_ = searcher_->mode();
}

bool ConcurrencyLimiter::SetSearchProperties(const SearchProperties &properties) {
  limit_ = !searcher_->SetMaxConcurrency(max_concurrent_);
  const bool taken = searcher_->SetSearchProperties(properties);
  metric_ = searcher_->metric();
  mode_ = searcher_->mode();
  return taken;
}

bool ConcurrencyLimiter::SetMaxConcurrency(int max_concurrent) {
  max_concurrent_ = max_concurrent;
  return true;
}

Suggestion ConcurrencyLimiter::Suggest(const std::string &trial_id) {
  if (!limit_) return searcher_->Suggest(trial_id);
  if (live_.count(trial_id))
    throw TuneError("ConcurrencyLimiter: trial id '" + trial_id + "' is already live");
  if (live_.size() >= static_cast<size_t>(max_concurrent_)) return Suggestion::NotNow();
  Suggestion suggestion = searcher_->Suggest(trial_id);
  if (suggestion.has_config()) {
    live_.insert(trial_id);
    ++unfinished_;
  }
  return suggestion;
}

void ConcurrencyLimiter::OnTrialResult(const std::string &trial_id, const Json &result) {
  searcher_->OnTrialResult(trial_id, result);
}

void ConcurrencyLimiter::OnTrialComplete(const std::string &trial_id, const Json &result, bool error) {
  if (!limit_) return searcher_->OnTrialComplete(trial_id, result, error);
  // Ray drops completions of trials it did not hand out.
  if (!live_.count(trial_id)) return;
  if (!batch_) {
    searcher_->OnTrialComplete(trial_id, result, error);
    live_.erase(trial_id);
    --unfinished_;
    return;
  }
  cached_[trial_id] = Cached{result, error};
  if (--unfinished_ > 0) return;
  // The whole batch has ended: the wrapped searcher learns it all at once and
  // the next batch may start.
  for (const auto &[id, cached] : cached_) {
    searcher_->OnTrialComplete(id, cached.result, cached.error);
    live_.erase(id);
  }
  cached_.clear();
  unfinished_ = 0;
}

Json ConcurrencyLimiter::Save() const {
  Json cached = Json::object();
  for (const auto &[id, c] : cached_) cached[id] = Json{{"result", c.result}, {"error", c.error}};
  return Json{{"searcher", searcher_->Save()},
              {"max_concurrent", max_concurrent_},
              {"live", live_},
              {"unfinished", unfinished_},
              {"cached", cached}};
}

void ConcurrencyLimiter::Restore(const Json &state) {
  try {
    searcher_->Restore(state.at("searcher"));
    max_concurrent_ = state.at("max_concurrent").get<int>();
    live_ = state.at("live").get<std::set<std::string>>();
    unfinished_ = state.at("unfinished").get<int>();
    cached_.clear();
    for (const auto &[id, c] : state.at("cached").items()) {
      cached_[id] = Cached{c.at("result"), c.at("error").get<bool>()};
    }
  } catch (const nlohmann::json::exception &e) {
    throw TuneError(std::string("ConcurrencyLimiter: malformed saved state: ") + e.what());
  }
}

Repeater::Repeater(std::unique_ptr<Searcher> searcher, int repeat, bool set_index)
    : searcher_(std::move(searcher)), repeat_(repeat), set_index_(set_index) {
  if (!searcher_) throw TuneError("Repeater: the searcher to wrap is null");
  if (repeat < 1) throw TuneError("Repeater: repeat must be >= 1, got " + std::to_string(repeat));
  metric_ = searcher_->metric();
  mode_ = searcher_->mode();
}

bool Repeater::SetSearchProperties(const SearchProperties &properties) {
  const bool taken = searcher_->SetSearchProperties(properties);
  metric_ = searcher_->metric();
  mode_ = searcher_->mode();
  return taken;
}

Suggestion Repeater::Suggest(const std::string &trial_id) {
  if (group_of_.count(trial_id))
    throw TuneError("Repeater: trial id '" + trial_id + "' was already suggested");
  if (groups_.empty() || groups_.back().trials.size() >= static_cast<size_t>(repeat_)) {
    Suggestion suggestion = searcher_->Suggest(trial_id);
    if (!suggestion.has_config()) return suggestion;
    groups_.push_back(Group{trial_id, suggestion.config(), {}, {}});
  }
  Group &group = groups_.back();
  const size_t index = group.trials.size();
  group.trials.push_back(trial_id);
  group_of_[trial_id] = groups_.size() - 1;
  Json config = group.config;
  if (set_index_ && config.is_object()) config[kTrialIndex] = index;
  return Suggestion::Of(std::move(config));
}

void Repeater::OnTrialComplete(const std::string &trial_id, const Json &result, bool error) {
  auto it = group_of_.find(trial_id);
  if (it == group_of_.end()) return;  // not ours (Ray logs and ignores too)
  Group &group = groups_[it->second];
  if (group.scores.count(trial_id)) return;  // a second completion of the same trial
  const Json *value = nullptr;
  if (!metric_.empty() && result.is_object()) {
    auto found = result.find(metric_);
    if (found != result.end() && found->is_number()) value = &*found;
  }
  group.scores[trial_id] = value ? value->get<double>() : std::numeric_limits<double>::quiet_NaN();
  if (group.scores.size() < static_cast<size_t>(repeat_)) return;
  // Ray's np.nanmean: the mean over the repeats that reported the metric.
  double sum = 0;
  int count = 0;
  for (const auto &[id, score] : group.scores) {
    if (std::isnan(score)) continue;
    sum += score;
    ++count;
  }
  const double mean = count ? sum / count : std::numeric_limits<double>::quiet_NaN();
  searcher_->OnTrialComplete(group.primary, metric_.empty() ? Json() : Json{{metric_, mean}}, error);
}

Json Repeater::Save() const {
  Json groups = Json::array();
  for (const Group &group : groups_) {
    Json scores = Json::object();
    // NaN has no JSON spelling: a null score is a repeat without the metric.
    for (const auto &[id, score] : group.scores) scores[id] = std::isnan(score) ? Json() : Json(score);
    groups.push_back(Json{
        {"primary", group.primary}, {"config", group.config}, {"trials", group.trials}, {"scores", scores}});
  }
  return Json{{"searcher", searcher_->Save()}, {"groups", groups}};
}

void Repeater::Restore(const Json &state) {
  try {
    searcher_->Restore(state.at("searcher"));
    groups_.clear();
    group_of_.clear();
    for (const Json &g : state.at("groups")) {
      Group group{g.at("primary").get<std::string>(),
                  g.at("config"),
                  g.at("trials").get<std::vector<std::string>>(),
                  {}};
      for (const auto &[id, score] : g.at("scores").items()) {
        group.scores[id] = score.is_null() ? std::numeric_limits<double>::quiet_NaN() : score.get<double>();
      }
      for (const std::string &id : group.trials) group_of_[id] = groups_.size();
      groups_.push_back(std::move(group));
    }
  } catch (const nlohmann::json::exception &e) {
    throw TuneError(std::string("Repeater: malformed saved state: ") + e.what());
  }
}

}  // namespace tune
}  // namespace ray
