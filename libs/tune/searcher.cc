// The Searcher base and BasicVariantGenerator (random and grid search).
#include "ray/tune/searcher.h"

#include "sampling.h"

namespace ray {
namespace tune {

const Json &Suggestion::config() const {
  if (kind_ != Kind::kConfig)
    throw TuneError(is_finished() ? "the searcher has finished" : "no suggestion now");
  return config_;
}

void Searcher::TakeMetricAndMode(const SearchProperties &properties) {
  if (!properties.mode.empty()) mode_ = ParseMode(properties.mode);
  if (!properties.metric.empty()) metric_ = properties.metric;
}

BasicVariantGenerator::BasicVariantGenerator(BasicVariantOptions options)
    : options_(std::move(options)), rng_(options_.seed ? *options_.seed : internal::RandomSeed()) {
  if (options_.max_concurrent < 0) {
    throw TuneError("BasicVariantGenerator: max_concurrent must be >= 0 (0: no limit), got " +
                    std::to_string(options_.max_concurrent));
  }
  presets_.resize(options_.points_to_evaluate.size());
}

bool BasicVariantGenerator::SetSearchProperties(const SearchProperties &properties) {
  TakeMetricAndMode(properties);
  if (properties.num_samples < -1) {
    throw TuneError("num_samples must be -1 (unlimited) or >= 0, got " +
                    std::to_string(properties.num_samples));
  }
  // Everything that can go wrong with the space goes wrong here, before any
  // trial: an empty grid, a preset key that is not in the space.
  std::vector<Space> presets;
  for (size_t i = 0; i < options_.points_to_evaluate.size(); ++i) {
    try {
      presets.push_back(properties.space.WithPreset(options_.points_to_evaluate[i]));
      presets.back().GridSize();
    } catch (const TuneError &e) {
      throw TuneError("points_to_evaluate[" + std::to_string(i) + "]: " + e.what());
    }
  }
  properties.space.GridSize();
  space_ = properties.space;
  presets_ = std::move(presets);
  num_samples_ = properties.num_samples;
  return true;
}

int64_t BasicVariantGenerator::TotalSamples() const {
  if (num_samples_ < 0) return -1;
  int64_t total = 0;
  for (const Space &preset : presets_) total += static_cast<int64_t>(preset.GridSize());
  const int64_t plain = num_samples_ - static_cast<int64_t>(presets_.size());
  if (plain > 0) total += plain * static_cast<int64_t>(space_.GridSize());
  return total;
}

Suggestion BasicVariantGenerator::Suggest(const std::string &trial_id) {
  const int64_t num_presets = static_cast<int64_t>(presets_.size());
  // Each preset takes the place of one sample; presets beyond num_samples
  // still run (Ray counts its samples left down past zero).
  const int64_t slots = std::max(num_presets, num_samples_);
  while (true) {
    if (num_samples_ >= 0 && sample_ >= slots) return Suggestion::Finished();
    if (options_.max_concurrent > 0 && live_.size() >= static_cast<size_t>(options_.max_concurrent)) {
      return Suggestion::NotNow();
    }
    const Space &space = sample_ < num_presets ? presets_[sample_] : space_;
    if (grid_index_ >= space.GridSize()) {
      ++sample_;
      grid_index_ = 0;
      continue;
    }
    if (grid_index_ == 0 && options_.constant_grid_search) fixed_ = space.SampleFixed(rng_);
    Json config = space.Sample(rng_, grid_index_++, fixed_);
    live_.insert(trial_id);
    return Suggestion::Of(std::move(config));
  }
}

void BasicVariantGenerator::OnTrialComplete(const std::string &trial_id, const Json &, bool) {
  live_.erase(trial_id);
}

bool BasicVariantGenerator::SetMaxConcurrency(int max_concurrent) {
  options_.max_concurrent = max_concurrent;
  return true;
}

Json BasicVariantGenerator::Save() const {
  return Json{{"rng", internal::RngState(rng_)},
              {"sample", sample_},
              {"grid_index", grid_index_},
              {"fixed", fixed_},
              {"live", live_},
              {"max_concurrent", options_.max_concurrent}};
}

void BasicVariantGenerator::Restore(const Json &state) {
  try {
    internal::SetRngState(rng_, state.at("rng").get<std::string>());
    sample_ = state.at("sample").get<int64_t>();
    grid_index_ = state.at("grid_index").get<uint64_t>();
    fixed_ = state.at("fixed");
    live_ = state.at("live").get<std::set<std::string>>();
    options_.max_concurrent = state.at("max_concurrent").get<int>();
  } catch (const nlohmann::json::exception &e) {
    throw TuneError(std::string("BasicVariantGenerator: malformed saved state: ") + e.what());
  }
}

}  // namespace tune
}  // namespace ray
