#include "ray/tune/pbt.h"

#include <algorithm>
#include <cmath>

#include "scheduler_util.h"

namespace ray {
namespace tune {
namespace {

const char *kName = "PopulationBasedTraining";

void ValidateMutations(const HyperparamMutations &mutations) {
  for (const auto &[key, mutation] : mutations) {
    switch (mutation.kind()) {
      case Mutation::Kind::kValues:
        if (mutation.values().empty()) {
          throw TuneError(std::string(kName) + ": hyperparam_mutations[\"" + key + "\"] is an empty list");
        }
        break;
      case Mutation::Kind::kDomain:
        if (!mutation.domain()) {
          throw TuneError(std::string(kName) + ": hyperparam_mutations[\"" + key + "\"] is a null domain");
        }
        break;
      case Mutation::Kind::kFunction:
        break;
      case Mutation::Kind::kNested:
        ValidateMutations(mutation.nested());
        break;
    }
  }
}

const Json &ConfigValue(const Json &config, const std::string &key) {
  if (!config.is_object() || !config.contains(key)) {
    throw TuneError(std::string(kName) + ": the config has no \"" + key + "\" to perturb");
  }
  return config.at(key);
}

}  // namespace

Mutation Mutation::Values(std::vector<Json> values) {
  Mutation m;
  m.kind_ = Kind::kValues;
  m.values_ = std::move(values);
  return m;
}

Mutation Mutation::Of(DomainPtr domain) {
  Mutation m;
  m.kind_ = Kind::kDomain;
  m.domain_ = std::move(domain);
  return m;
}

Mutation Mutation::Of(Sampler sampler) {
  Mutation m;
  m.kind_ = Kind::kFunction;
  m.sampler_ = [sampler = std::move(sampler)](Rng &) { return sampler(); };
  return m;
}

Mutation Mutation::Of(RngSampler sampler) {
  Mutation m;
  m.kind_ = Kind::kFunction;
  m.sampler_ = std::move(sampler);
  return m;
}

Mutation Mutation::Of(Nested nested) {
  Mutation m;
  m.kind_ = Kind::kNested;
  m.nested_ = std::move(nested);
  return m;
}

Json Mutation::Sample(Rng &rng) const {
  switch (kind_) {
    case Kind::kValues:
      return values_[internal::RandomIndex(rng, values_.size())];
    case Kind::kDomain:
      // Ray samples a mutation's domain without a config (sample(None)).
      return domain_->Sample(Json::object(), rng);
    case Kind::kFunction:
      return sampler_(rng);
    case Kind::kNested: {
      Json out = Json::object();
      for (const auto &[key, mutation] : nested_) out[key] = mutation.Sample(rng);
      return out;
    }
  }
  return nullptr;
}

Json PbtPolicyEntry::ToJson() const {
  return Json::array({target, donor, target_iteration, donor_iteration, donor_config, new_config});
}

PopulationBasedTraining::PopulationBasedTraining(Options options)
    : FIFOScheduler(options.metric, options.mode), options_(std::move(options)), rng_(options_.seed) {
  if (options_.hyperparam_mutations.empty() && !options_.custom_explore_fn) {
    throw TuneError(
        "You must specify at least one of `hyperparam_mutations` or `custom_explore_fn` to use PBT.");
  }
  ValidateMutations(options_.hyperparam_mutations);
  if (!(options_.quantile_fraction >= 0 && options_.quantile_fraction <= 0.5)) {
    throw TuneError(std::string(kName) + ": quantile_fraction must be between 0 and 0.5, not " +
                    std::to_string(options_.quantile_fraction));
  }
  if (!(options_.perturbation_interval > 0)) {
    throw TuneError(std::string(kName) + ": perturbation_interval must be greater than 0, not " +
                    std::to_string(options_.perturbation_interval));
  }
  if (options_.perturbation_factors.empty()) {
    throw TuneError(std::string(kName) + ": perturbation_factors must not be empty");
  }
  next_perturbation_sync_ = std::max(options_.perturbation_interval, options_.burn_in_period);
}

PopulationBasedTraining::TrialState &PopulationBasedTraining::State(const std::string &trial_id) {
  auto it = states_.find(trial_id);
  if (it == states_.end()) throw TuneError(std::string(kName) + ": unknown trial " + trial_id);
  return it->second;
}

std::optional<Json> PopulationBasedTraining::OnTrialAdd(const TrialView &, const TrialInfo &trial) {
  internal::RequireMetricAndMode(kName, metric_, mode_);
  if (states_.emplace(trial.id, TrialState{}).second) trial_order_.push_back(trial.id);
  // Keys the config lacks start from a sample of their mutation (Ray's
  // _fill_config: a missing nested key is sampled whole).
  Json config = trial.config.is_object() ? trial.config : Json::object();
  bool changed = false;
  for (const auto &[key, mutation] : options_.hyperparam_mutations) {
    if (config.contains(key)) continue;
    config[key] = mutation.Sample(rng_);
    changed = true;
  }
  if (!changed) return std::nullopt;
  return config;
}

Json PopulationBasedTraining::ExploreNested(const Json &config, const HyperparamMutations &mutations) {
  Json out = config;
  for (const auto &[key, mutation] : mutations) {
    const Json &old_value = ConfigValue(config, key);
    switch (mutation.kind()) {
      case Mutation::Kind::kNested:
        out[key] = ExploreNested(old_value, mutation.nested());
        break;
      case Mutation::Kind::kValues: {
        const std::vector<Json> &values = mutation.values();
        // Ray draws first, then checks membership (numbers compare by value,
        // so 1 and 1.0 are the same element, as in Python).
        const bool resample = internal::UniformUnit(rng_) < options_.resample_probability;
        auto pos = std::find(values.begin(), values.end(), old_value);
        if (resample || pos == values.end()) {
          out[key] = values[internal::RandomIndex(rng_, values.size())];
        } else {
          const int shift = internal::RandomIndex(rng_, 2) == 0 ? -1 : 1;
          const int64_t index = std::clamp<int64_t>(static_cast<int64_t>(pos - values.begin()) + shift, 0,
                                                    static_cast<int64_t>(values.size()) - 1);
          out[key] = values[static_cast<size_t>(index)];
        }
        break;
      }
      case Mutation::Kind::kDomain:
      case Mutation::Kind::kFunction: {
        Json value;
        if (internal::UniformUnit(rng_) < options_.resample_probability) {
          value = mutation.Sample(rng_);
        } else {
          const double factor =
              options_
                  .perturbation_factors[internal::RandomIndex(rng_, options_.perturbation_factors.size())];
          if (!old_value.is_number()) {
            throw TuneError(std::string(kName) + ": cannot perturb \"" + key + "\" = " + old_value.dump() +
                            " by a factor: it is not a number");
          }
          value = old_value.get<double>() * factor;
        }
        // A value that started as an integer (a batch size) stays one.
        if (old_value.is_number_integer() && value.is_number()) {
          value = static_cast<int64_t>(std::trunc(value.get<double>()));
        }
        out[key] = std::move(value);
        break;
      }
    }
  }
  return out;
}

Json PopulationBasedTraining::Explore(const Json &config) {
  Json out = ExploreNested(config, options_.hyperparam_mutations);
  if (options_.custom_explore_fn) out = options_.custom_explore_fn(std::move(out));
  return out;
}

std::pair<std::vector<std::string>, std::vector<std::string>> PopulationBasedTraining::Quantiles(
    const TrialView &trials) const {
  std::vector<std::string> ranked;
  for (const std::string &id : trial_order_) {
    const TrialInfo *info = trials.Find(id);
    const bool finished =
        info == nullptr || info->status == TrialStatus::kTerminated || info->status == TrialStatus::kError;
    if (!finished && states_.at(id).last_score) ranked.push_back(id);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [&](const std::string &a, const std::string &b) {
    return *states_.at(a).last_score < *states_.at(b).last_score;
  });
  if (ranked.size() <= 1) return {};
  size_t k = static_cast<size_t>(std::ceil(static_cast<double>(ranked.size()) * options_.quantile_fraction));
  if (static_cast<double>(k) > static_cast<double>(ranked.size()) / 2) k = ranked.size() / 2;
  std::vector<std::string> lower(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(k));
  // Ray slices trials[-k:], which for k == 0 is the whole list: with
  // quantile_fraction 0 every trial is "upper" (checkpointed), none exploits.
  std::vector<std::string> upper(k == 0 ? ranked.begin() : ranked.end() - static_cast<std::ptrdiff_t>(k),
                                 ranked.end());
  return {std::move(lower), std::move(upper)};
}

void PopulationBasedTraining::CheckpointOrExploit(const TrialView &trials, const std::string &trial_id,
                                                  bool reporting, const std::vector<std::string> &lower,
                                                  const std::vector<std::string> &upper, Decision &decision) {
  TrialState &state = State(trial_id);
  if (std::find(upper.begin(), upper.end(), trial_id) != upper.end()) {
    if (reporting) {
      decision.save_checkpoint = true;
      state.has_checkpoint = true;
    } else {
      // A paused trial (synch mode) keeps the checkpoint it paused with.
      const TrialInfo *info = trials.Find(trial_id);
      state.has_checkpoint = info != nullptr && info->has_checkpoint;
    }
    ++num_checkpoints_;
  } else {
    state.has_checkpoint = false;  // not a top trial
  }
  if (std::find(lower.begin(), lower.end(), trial_id) == lower.end()) return;

  const std::string donor = upper[internal::RandomIndex(rng_, upper.size())];
  const TrialState &donor_state = State(donor);
  if (!donor_state.has_checkpoint) return;  // Ray: no checkpoint, skip the exploit
  const TrialInfo *donor_info = trials.Find(donor);
  if (donor_info == nullptr) return;
  Json new_config = Explore(donor_info->config);
  if (options_.log_config) {
    policy_log_.push_back(PbtPolicyEntry{trial_id, donor, state.last_iteration, donor_state.last_iteration,
                                         donor_info->config, new_config});
    // The target's policy file becomes a copy of the donor's plus this line.
    std::vector<size_t> policy = trial_policy_[donor];
    policy.push_back(policy_log_.size() - 1);
    trial_policy_[trial_id] = std::move(policy);
  }
  Exploit exploit{donor, std::move(new_config)};
  if (reporting) {
    decision.exploit = std::move(exploit);
  } else {
    Order(trial_id, Decision{Action::kPause, false, std::move(exploit)});
  }
  ++num_perturbations_;
  state.last_perturbation_time = donor_state.last_perturbation_time;
  state.last_train_time = donor_state.last_train_time;
}

Decision PopulationBasedTraining::OnTrialResult(const TrialView &trials, const TrialInfo &trial,
                                                const Json &result) {
  TrialState &state = State(trial.id);
  const std::optional<double> iteration = internal::ResultNumber(result, fields::kTrainingIteration);
  // Ray reads a trial's iteration from its last result, which the runner
  // updates only after this call: record it on the way out.
  struct IterationUpdate {
    TrialState &state;
    std::optional<double> iteration;
    ~IterationUpdate() {
      if (iteration) state.last_iteration = static_cast<int64_t>(*iteration);
    }
  } update{state, iteration};

  const std::optional<double> time = internal::ResultNumber(result, options_.time_attr);
  const std::optional<double> value = internal::ResultNumber(result, *metric_);
  if (options_.require_attrs && !time) {
    throw TuneError(std::string(kName) + ": result has no time_attr \"" + options_.time_attr +
                    "\" (set require_attrs false to ignore such results)");
  }
  if (options_.require_attrs && !value) {
    throw TuneError(std::string(kName) + ": result has no metric \"" + *metric_ +
                    "\" (set require_attrs false to ignore such results)");
  }
  if (!time || !value) return Decision{};
  if (*time < options_.burn_in_period) return Decision{};
  if (*time - state.last_perturbation_time < options_.perturbation_interval) return Decision{};

  state.last_score = Score(*mode_, *value);
  state.last_train_time = *time;

  Decision decision;
  if (!options_.synch) {
    state.last_perturbation_time = *time;
    const auto [lower, upper] = Quantiles(trials);
    // Time-multiplexing: give way when other trials wait for resources.
    for (const TrialInfo *other : trials.Trials()) {
      if (other->id != trial.id &&
          (other->status == TrialStatus::kPending || other->status == TrialStatus::kPaused)) {
        decision.action = Action::kPause;
        break;
      }
    }
    CheckpointOrExploit(trials, trial.id, true, lower, upper, decision);
    return decision;
  }

  // Synchronous mode: every trial pauses at the boundary; the last one to
  // arrive ranks them all.
  decision.action = Action::kPause;
  for (const TrialInfo *other : trials.Trials()) {
    if (other->id == trial.id || other->status == TrialStatus::kTerminated ||
        other->status == TrialStatus::kError) {
      continue;
    }
    auto it = states_.find(other->id);
    if (it != states_.end() && it->second.last_train_time < next_perturbation_sync_) return decision;
  }
  const auto [lower, upper] = Quantiles(trials);
  // Upper quantile first, so donors hold their checkpoints before the lower
  // quantile copies them.
  std::vector<std::string> ordered = upper;
  for (const TrialInfo *other : trials.Trials()) {
    const bool ranked = std::find(lower.begin(), lower.end(), other->id) != lower.end() ||
                        std::find(upper.begin(), upper.end(), other->id) != upper.end();
    if (!ranked && states_.count(other->id) > 0) ordered.push_back(other->id);
  }
  ordered.insert(ordered.end(), lower.begin(), lower.end());
  for (const std::string &id : ordered) {
    State(id).last_perturbation_time = *time;
    CheckpointOrExploit(trials, id, id == trial.id, lower, upper, decision);
  }
  double max_train_time = next_perturbation_sync_ + options_.perturbation_interval;
  for (const TrialInfo *other : trials.Trials()) {
    auto it = states_.find(other->id);
    if (it != states_.end()) max_train_time = std::max(max_train_time, it->second.last_train_time);
  }
  next_perturbation_sync_ = max_train_time;
  return decision;
}

std::optional<std::string> PopulationBasedTraining::ChooseTrialToRun(const TrialView &trials) {
  std::optional<std::string> best;
  double best_time = 0;
  for (const TrialInfo *trial : trials.Trials()) {
    if (trial->status != TrialStatus::kPending && trial->status != TrialStatus::kPaused) continue;
    auto it = states_.find(trial->id);
    const double train_time = it == states_.end() ? 0 : it->second.last_train_time;
    if (options_.synch && train_time >= next_perturbation_sync_) continue;
    if (!best || train_time < best_time) {
      best = trial->id;
      best_time = train_time;
    }
  }
  return best;
}

std::vector<PbtPolicyEntry> PopulationBasedTraining::TrialPolicy(const std::string &trial_id) const {
  std::vector<PbtPolicyEntry> out;
  auto it = trial_policy_.find(trial_id);
  if (it == trial_policy_.end()) return out;
  for (size_t index : it->second) out.push_back(policy_log_[index]);
  return out;
}

std::string PopulationBasedTraining::DebugString() const {
  return "PopulationBasedTraining: " + std::to_string(num_checkpoints_) + " checkpoints, " +
         std::to_string(num_perturbations_) + " perturbs";
}

Json PopulationBasedTraining::Save() const {
  Json states = Json::array();
  for (const std::string &id : trial_order_) {
    const TrialState &s = states_.at(id);
    states.push_back({{"id", id},
                      {"last_score", s.last_score ? internal::DoubleToJson(*s.last_score) : Json(nullptr)},
                      {"has_checkpoint", s.has_checkpoint},
                      {"last_perturbation_time", s.last_perturbation_time},
                      {"last_train_time", s.last_train_time},
                      {"last_iteration", s.last_iteration}});
  }
  Json log = Json::array();
  for (const PbtPolicyEntry &entry : policy_log_) log.push_back(entry.ToJson());
  return {{"base", SaveBase()},
          {"states", std::move(states)},
          {"next_perturbation_sync", next_perturbation_sync_},
          {"num_checkpoints", num_checkpoints_},
          {"num_perturbations", num_perturbations_},
          {"policy_log", std::move(log)},
          {"trial_policy", trial_policy_},
          {"rng", internal::RngState(rng_)}};
}

void PopulationBasedTraining::Restore(const Json &state) {
  RestoreBase(state.at("base"));
  trial_order_.clear();
  states_.clear();
  for (const Json &entry : state.at("states")) {
    TrialState s;
    if (!entry.at("last_score").is_null()) s.last_score = internal::DoubleFromJson(entry.at("last_score"));
    s.has_checkpoint = entry.at("has_checkpoint").get<bool>();
    s.last_perturbation_time = entry.at("last_perturbation_time").get<double>();
    s.last_train_time = entry.at("last_train_time").get<double>();
    s.last_iteration = entry.at("last_iteration").get<int64_t>();
    const std::string id = entry.at("id").get<std::string>();
    states_[id] = s;
    trial_order_.push_back(id);
  }
  next_perturbation_sync_ = state.at("next_perturbation_sync").get<double>();
  num_checkpoints_ = state.at("num_checkpoints").get<int>();
  num_perturbations_ = state.at("num_perturbations").get<int>();
  policy_log_.clear();
  for (const Json &row : state.at("policy_log")) {
    policy_log_.push_back(PbtPolicyEntry{row.at(0).get<std::string>(), row.at(1).get<std::string>(),
                                         row.at(2).get<int64_t>(), row.at(3).get<int64_t>(), row.at(4),
                                         row.at(5)});
  }
  trial_policy_ = state.at("trial_policy").get<std::map<std::string, std::vector<size_t>>>();
  internal::SetRngState(rng_, state.at("rng").get<std::string>());
}

}  // namespace tune
}  // namespace ray
