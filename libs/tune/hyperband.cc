#include "ray/tune/hyperband.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "scheduler_util.h"

namespace ray {
namespace tune {
namespace {

const char *kName = "HyperBandScheduler";

}  // namespace

HyperBandScheduler::HyperBandScheduler() : HyperBandScheduler(Options{}) {}

HyperBandScheduler::HyperBandScheduler(Options options)
    : FIFOScheduler(options.metric, options.mode), options_(std::move(options)) {
  if (!(options_.max_t > 0)) throw TuneError("HyperBandScheduler: max_t must be positive");
  if (!(options_.reduction_factor > 1)) {
    throw TuneError("HyperBandScheduler: reduction_factor must be greater than 1");
  }
  // np.round rounds half to even, as nearbyint does in the default mode.
  s_max_1_ =
      static_cast<int>(std::nearbyint(std::log(options_.max_t) / std::log(options_.reduction_factor))) + 1;
}

int HyperBandScheduler::BracketSize(int s) const {
  return static_cast<int>(
      std::ceil(static_cast<double>(s_max_1_) / (s + 1) * std::pow(options_.reduction_factor, s)));
}

int HyperBandScheduler::BracketInitialBudget(int s) const {
  return static_cast<int>(options_.max_t * std::pow(options_.reduction_factor, -s));
}

double HyperBandScheduler::TotalWork(double n, double r, int s) const {
  // Ray's estimate for the completion percentage; it caps r by
  // max_t - r0 (not max_t as the halving does), so it is only approximate.
  const double cumulative_r = r;
  double work = 0;
  for (int i = 0; i <= s; ++i) {
    work += std::trunc(n) * std::trunc(r);
    n = std::ceil(n / options_.reduction_factor);
    r *= options_.reduction_factor;
    r = std::trunc(std::min(r, options_.max_t - cumulative_r));
  }
  return work;
}

HyperBandScheduler::Bracket HyperBandScheduler::CreateBracket(int band, int s) const {
  Bracket bracket;
  bracket.band = band;
  bracket.s = s;
  bracket.n = BracketSize(s);
  bracket.r = BracketInitialBudget(s);
  bracket.cumul_r = bracket.r;
  bracket.halves = s;
  bracket.total_work = TotalWork(bracket.n, bracket.r, s);
  return bracket;
}

std::optional<Json> HyperBandScheduler::OnTrialAdd(const TrialView &, const TrialInfo &trial) {
  internal::RequireMetricAndMode(kName, metric_, mode_);
  const bool filled = current_bracket_ && static_cast<int>(brackets_[*current_bracket_].live.size()) ==
                                              brackets_[*current_bracket_].n;
  if (!current_bracket_ || filled) {
    while (true) {
      if (static_cast<int>(bands_.back().size()) == s_max_1_) bands_.emplace_back();
      const int band = static_cast<int>(bands_.size()) - 1;
      const int s = static_cast<int>(bands_.back().size());
      if (BracketInitialBudget(s) == 0) {
        // Ray: a bracket whose first budget rounds to 0 is skipped ("Bracket
        // too small") and its place in the band stays empty.
        bands_.back().push_back(std::nullopt);
        current_bracket_.reset();
        continue;
      }
      brackets_.push_back(CreateBracket(band, s));
      current_bracket_ = static_cast<int>(brackets_.size()) - 1;
      bands_.back().push_back(current_bracket_);
      break;
    }
  }
  Bracket &bracket = brackets_[*current_bracket_];
  bracket.live.emplace(trial.id, LiveResult{});
  bracket.live_order.push_back(trial.id);
  bracket.all_trials.push_back(trial.id);
  trial_bracket_[trial.id] = *current_bracket_;
  return std::nullopt;
}

bool HyperBandScheduler::CurIterDone(const Bracket &bracket) const {
  for (const auto &[id, result] : bracket.live) {
    if (result.time < bracket.cumul_r) return false;
  }
  return true;
}

bool HyperBandScheduler::Finished(const Bracket &bracket) const {
  if (!options_.stop_last_trials) return false;
  return bracket.halves == 0 && CurIterDone(bracket);
}

bool HyperBandScheduler::ContinueTrial(const Bracket &bracket, const std::string &trial_id) const {
  if (!options_.stop_last_trials && bracket.halves == 0) return true;
  auto it = bracket.live.find(trial_id);
  return it != bracket.live.end() && it->second.time < bracket.cumul_r;
}

double HyperBandScheduler::Completion(const Bracket &bracket) const {
  if (Finished(bracket)) return 1.0;
  return std::min(bracket.completed_progress / bracket.total_work, 1.0);
}

void HyperBandScheduler::CleanupTrial(Bracket &bracket, const std::string &trial_id) {
  if (bracket.live.erase(trial_id) == 0) return;
  bracket.live_order.erase(std::find(bracket.live_order.begin(), bracket.live_order.end(), trial_id));
}

void HyperBandScheduler::StopOther(Bracket &bracket, const std::string &trial_id) {
  // Ray stops such a trial on the spot, which calls on_trial_remove while the
  // bracket is being processed; here the runner applies the order afterwards,
  // and the bracket forgets the trial now, as that nested call would.
  CleanupTrial(bracket, trial_id);
  ordered_stop_.insert(trial_id);
  Order(trial_id, Decision{Action::kStop, false, std::nullopt});
}

Action HyperBandScheduler::ProcessBracket(Bracket &bracket, const std::optional<std::string> &reporting) {
  Action action = Action::kPause;
  if (!CurIterDone(bracket)) return action;
  if (Finished(bracket)) {
    // Ray's cleanup_full: every other trial left is paused at max_t.
    const std::vector<std::string> others = bracket.live_order;
    for (const std::string &id : others) {
      if (id != reporting) StopOther(bracket, id);
    }
    return Action::kStop;
  }

  // Successive halving.
  std::vector<std::string> good;
  std::vector<std::string> bad;
  if (bracket.halves == 0 && !options_.stop_last_trials) {
    good = bracket.live_order;
  } else {
    --bracket.halves;
    bracket.n = static_cast<int>(std::ceil(bracket.n / options_.reduction_factor));
    bracket.r = std::trunc(std::min(bracket.r * options_.reduction_factor, options_.max_t));
    bracket.cumul_r = bracket.r;
    std::vector<std::string> sorted = bracket.live_order;
    for (const std::string &id : sorted) {
      if (!bracket.live.at(id).score) {
        throw TuneError(std::string(kName) + ": trial " + id + " reported no \"" + *metric_ +
                        "\" to compare at the milestone");
      }
    }
    std::stable_sort(sorted.begin(), sorted.end(), [&](const std::string &a, const std::string &b) {
      return *bracket.live.at(a).score < *bracket.live.at(b).score;
    });
    const size_t keep = std::min(sorted.size(), static_cast<size_t>(std::max(bracket.n, 0)));
    bad.assign(sorted.begin(), sorted.end() - keep);
    good.assign(sorted.end() - keep, sorted.end());
  }

  num_stopped_ += static_cast<int>(bad.size());
  for (const std::string &id : bad) {
    if (id == reporting) {
      CleanupTrial(bracket, id);
      action = Action::kStop;
    } else {
      // A paused trial (Ray's case), or one running without having reported
      // since the milestone, which Ray would drop from the bracket and leave
      // running: stopping it is what the halving decided.
      StopOther(bracket, id);
    }
  }
  // Ready the good trials, unless a trial is already past the new milestone.
  for (const std::string &id : good) {
    if (ContinueTrial(bracket, id)) {
      if (id == reporting) {
        action = Action::kContinue;
      } else {
        bracket.to_unpause.insert(id);
      }
    } else if (Finished(bracket) && options_.stop_last_trials) {
      if (id == reporting) {
        CleanupTrial(bracket, id);
        action = Action::kStop;
      } else {
        StopOther(bracket, id);
      }
    }
  }
  return action;
}

Decision HyperBandScheduler::OnTrialResult(const TrialView &, const TrialInfo &trial, const Json &result) {
  auto it = trial_bracket_.find(trial.id);
  if (it == trial_bracket_.end()) throw TuneError(std::string(kName) + ": unknown trial " + trial.id);
  Bracket &bracket = brackets_[it->second];
  auto live = bracket.live.find(trial.id);
  // Dropped from its bracket already (stopped by a halving): stop it.
  if (live == bracket.live.end()) return Decision{Action::kStop, false, std::nullopt};

  const std::optional<double> time = internal::ResultNumber(result, options_.time_attr);
  if (!time) {
    throw TuneError(std::string(kName) + ": result has no \"" + options_.time_attr + "\" (the time_attr)");
  }
  const std::optional<double> value = internal::ResultNumber(result, *metric_);
  // Ray's update_trial_stats: progress counts towards the completion estimate.
  bracket.completed_progress += *time - live->second.time;
  live->second.time = *time;
  live->second.score = value ? std::optional<double>(Score(*mode_, *value)) : std::nullopt;
  bracket.to_unpause.erase(trial.id);

  if (ContinueTrial(bracket, trial.id)) return Decision{};
  return Decision{ProcessBracket(bracket, trial.id), false, std::nullopt};
}

void HyperBandScheduler::Forget(const TrialInfo &trial) {
  auto it = trial_bracket_.find(trial.id);
  if (it == trial_bracket_.end()) return;
  Bracket &bracket = brackets_[it->second];
  CleanupTrial(bracket, trial.id);
  bracket.to_unpause.erase(trial.id);
  if (ordered_stop_.erase(trial.id) > 0) return;
  // Ray (since 2.7) processes the bracket on a removal only until its first
  // halving (its is_being_processed flag is never reset), which leaves the
  // paused rest of a bracket waiting forever when a trial fails later on.
  // Lumen processes on every removal it did not order itself.
  if (!Finished(bracket)) ProcessBracket(bracket, std::nullopt);
}

void HyperBandScheduler::OnTrialComplete(const TrialView &, const TrialInfo &trial, const Json &) {
  Forget(trial);
}

void HyperBandScheduler::OnTrialError(const TrialView &, const TrialInfo &trial) { Forget(trial); }

void HyperBandScheduler::OnTrialRemove(const TrialView &, const TrialInfo &trial) { Forget(trial); }

std::optional<std::string> HyperBandScheduler::ChooseTrialToRun(const TrialView &trials) {
  for (const std::vector<std::optional<int>> &band : bands_) {
    std::vector<int> order;
    for (const std::optional<int> &index : band) {
      if (index) order.push_back(*index);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return Completion(brackets_[a]) < Completion(brackets_[b]); });
    for (int index : order) {
      const Bracket &bracket = brackets_[index];
      for (const std::string &id : bracket.live_order) {
        const TrialInfo *info = trials.Find(id);
        if (info == nullptr) continue;
        if (info->status == TrialStatus::kPending ||
            (info->status == TrialStatus::kPaused && bracket.to_unpause.count(id) > 0)) {
          return id;
        }
      }
    }
  }
  return std::nullopt;
}

std::vector<HyperBandScheduler::BracketStatus> HyperBandScheduler::Brackets() const {
  std::vector<BracketStatus> out;
  for (const std::vector<std::optional<int>> &band : bands_) {
    for (const std::optional<int> &index : band) {
      if (!index) continue;
      const Bracket &b = brackets_[*index];
      out.push_back(BracketStatus{b.band, b.s, b.n, b.cumul_r, b.halves, b.live_order, Completion(b)});
    }
  }
  return out;
}

std::string HyperBandScheduler::DebugString() const {
  size_t total = 0;
  for (const auto &band : bands_) total += band.size();
  std::string out = "Using HyperBand: num_stopped=" + std::to_string(num_stopped_) +
                    " total_brackets=" + std::to_string(total);
  for (size_t i = 0; i < bands_.size(); ++i) {
    out += "\nRound #" + std::to_string(i) + ":";
    for (const std::optional<int> &index : bands_[i]) {
      if (!index) continue;
      const Bracket &b = brackets_[*index];
      char line[160];
      std::snprintf(line, sizeof(line),
                    "\n  Bracket(Max Size (n)=%d, Milestone (r)=%g, completed=%.1f%%): ", b.n, b.cumul_r,
                    100 * Completion(b));
      out += line;
      out +=
          "{live: " + std::to_string(b.live.size()) + ", added: " + std::to_string(b.all_trials.size()) + "}";
    }
  }
  return out;
}

Json HyperBandScheduler::Save() const {
  Json brackets = Json::array();
  for (const Bracket &b : brackets_) {
    Json live = Json::array();
    for (const std::string &id : b.live_order) {
      const LiveResult &result = b.live.at(id);
      live.push_back({{"id", id},
                      {"time", result.time},
                      {"score", result.score ? internal::DoubleToJson(*result.score) : Json(nullptr)}});
    }
    brackets.push_back({{"band", b.band},
                        {"s", b.s},
                        {"n", b.n},
                        {"r", b.r},
                        {"cumul_r", b.cumul_r},
                        {"halves", b.halves},
                        {"total_work", b.total_work},
                        {"completed_progress", b.completed_progress},
                        {"all_trials", b.all_trials},
                        {"live", std::move(live)},
                        {"to_unpause", b.to_unpause}});
  }
  Json bands = Json::array();
  for (const auto &band : bands_) {
    Json entries = Json::array();
    for (const std::optional<int> &index : band) entries.push_back(index ? Json(*index) : Json(nullptr));
    bands.push_back(std::move(entries));
  }
  return {{"base", SaveBase()},
          {"brackets", std::move(brackets)},
          {"bands", std::move(bands)},
          {"current_bracket", current_bracket_ ? Json(*current_bracket_) : Json(nullptr)},
          {"trial_bracket", trial_bracket_},
          {"ordered_stop", ordered_stop_},
          {"num_stopped", num_stopped_}};
}

void HyperBandScheduler::Restore(const Json &state) {
  RestoreBase(state.at("base"));
  brackets_.clear();
  for (const Json &saved : state.at("brackets")) {
    Bracket b;
    b.band = saved.at("band").get<int>();
    b.s = saved.at("s").get<int>();
    b.n = saved.at("n").get<int>();
    b.r = saved.at("r").get<double>();
    b.cumul_r = saved.at("cumul_r").get<double>();
    b.halves = saved.at("halves").get<int>();
    b.total_work = saved.at("total_work").get<double>();
    b.completed_progress = saved.at("completed_progress").get<double>();
    b.all_trials = saved.at("all_trials").get<std::vector<std::string>>();
    for (const Json &entry : saved.at("live")) {
      const std::string id = entry.at("id").get<std::string>();
      LiveResult result;
      result.time = entry.at("time").get<double>();
      if (!entry.at("score").is_null()) result.score = internal::DoubleFromJson(entry.at("score"));
      b.live.emplace(id, result);
      b.live_order.push_back(id);
    }
    b.to_unpause = saved.at("to_unpause").get<std::set<std::string>>();
    brackets_.push_back(std::move(b));
  }
  bands_.clear();
  for (const Json &band : state.at("bands")) {
    std::vector<std::optional<int>> entries;
    for (const Json &index : band)
      entries.push_back(index.is_null() ? std::nullopt : std::optional<int>(index.get<int>()));
    bands_.push_back(std::move(entries));
  }
  if (bands_.empty()) bands_.emplace_back();
  current_bracket_.reset();
  if (!state.at("current_bracket").is_null()) current_bracket_ = state.at("current_bracket").get<int>();
  trial_bracket_ = state.at("trial_bracket").get<std::unordered_map<std::string, int>>();
  ordered_stop_ = state.at("ordered_stop").get<std::set<std::string>>();
  num_stopped_ = state.at("num_stopped").get<int>();
}

}  // namespace tune
}  // namespace ray
