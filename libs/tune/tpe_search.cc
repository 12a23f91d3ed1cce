// TpeSearch: Optuna-style univariate TPE (see tpe_search.h).
#include "ray/tune/tpe_search.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "sampling.h"

namespace ray {
namespace tune {

/// A numeric parameter is modelled in "model coordinates": the value itself, or
/// its logarithm for log domains. A discrete one (integer or quantised) takes
/// the values vmin, vmin + step, ..., vmax; its model range reaches half a step
/// past both ends so every value owns an equal share, as Optuna does.
struct TpeSearch::Param {
  std::vector<std::string> path;
  DomainPtr domain;
  bool categorical = false;
  size_t num_categories = 0;
  bool log = false;
  bool integer = false;
  double vmin = 0, vmax = 0, step = 0;  // value range (inclusive) and grid step; step 0: continuous
  bool upper_exclusive = false;         // continuous Uniform/LogUniform never reach vmax
  double low = 0, high = 0;             // model range

  double ToModel(double value) const { return log ? std::log(value) : value; }

  // A model coordinate to the value the domain could have produced.
  double ToValue(double x) const {
    double v = log ? std::exp(x) : x;
    if (step > 0) v = internal::RoundHalfEven(v / step) * step;  // as the domain's own rounding
    v = std::clamp(v, vmin, vmax);
    if (upper_exclusive && v >= vmax) v = std::nextafter(vmax, vmin);
    return v;
  }
};

namespace {

constexpr double kEps = 1e-12;

using Param = TpeSearch::Param;

std::string JoinPath(const std::vector<std::string> &path) {
  std::string out;
  for (const auto &key : path) out += (out.empty() ? "" : ".") + key;
  return out;
}

Param MakeParam(std::vector<std::string> path, const DomainPtr &domain) {
  Param p;
  p.path = std::move(path);
  p.domain = domain;
  const std::string where = "TpeSearch: '" + JoinPath(p.path) + "' is " + domain->ToString();
  if (auto *c = dynamic_cast<const CategoricalDomain *>(domain.get())) {
    p.categorical = true;
    p.num_categories = c->categories().size();
  } else if (auto *f = dynamic_cast<const FloatDomain *>(domain.get())) {
    if (f->sampler() == FloatDomain::Sampler::kNormal) {
      throw TuneError(where + ": TPE needs bounded ranges; Randn/QRandn are not supported");
    }
    p.log = f->sampler() == FloatDomain::Sampler::kLogUniform;
    p.vmin = f->sample_lower();
    p.vmax = f->sample_upper();
    p.step = f->quantized() ? f->q() : 0;
    p.upper_exclusive = !f->quantized();
  } else if (auto *i = dynamic_cast<const IntegerDomain *>(domain.get())) {
    p.log = i->sampler() == IntegerDomain::Sampler::kLogUniform;
    p.integer = true;
    p.vmin = static_cast<double>(i->min_value());
    p.vmax = static_cast<double>(i->max_value());
    p.step = static_cast<double>(i->q());
  } else if (domain->IsGrid()) {
    throw TuneError(where + ": TPE cannot search a grid; use BasicVariantGenerator or Choice");
  } else if (dynamic_cast<const FunctionDomain *>(domain.get())) {
    throw TuneError(where + ": TPE cannot model SampleFrom functions");
  } else {
    throw TuneError(where + ": TPE does not know this kind of domain");
  }
  if (!p.categorical) {
    p.low = p.ToModel(p.vmin - p.step / 2);
    p.high = p.ToModel(p.vmax + p.step / 2);
  }
  return p;
}

void BuildSkeleton(const Space &space, Json &out) {
  for (const auto &[key, value] : space.entries()) {
    if (value.is_space()) {
      BuildSkeleton(value.space(), out[key] = Json::object());
    } else if (value.is_constant()) {
      out[key] = value.constant();
    }
  }
}

// Optuna's default weights: equal for the last 25 observations, ramping up
// linearly from 1/n for older ones.
std::vector<double> ObservationWeights(size_t n) {
  std::vector<double> w(n, 1.0);
  if (n < 25) return w;
  const size_t ramp = n - 25;
  for (size_t i = 0; i < ramp; ++i) {
    w[i] = ramp == 1 ? 1.0 / n : 1.0 / n + (1.0 - 1.0 / n) * static_cast<double>(i) / (ramp - 1);
  }
  return w;
}

// Mixture weights: the observations' then the prior's, normalised.
std::vector<double> MixtureWeights(size_t n, double prior_weight) {
  std::vector<double> w = ObservationWeights(n);
  w.push_back(prior_weight);
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  for (double &x : w) x /= sum;
  return w;
}

size_t PickIndex(Rng &rng, const std::vector<double> &probabilities) {
  double u = internal::UniformUnit(rng);
  for (size_t i = 0; i + 1 < probabilities.size(); ++i) {
    if (u < probabilities[i]) return i;
    u -= probabilities[i];
  }
  return probabilities.size() - 1;
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double LogSumExp(const std::vector<double> &terms) {
  const double top = *std::max_element(terms.begin(), terms.end());
  if (!std::isfinite(top)) return top;
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum);
}

// A mixture of normals truncated to [low, high] (Optuna's univariate Parzen estimator).
class NumericEstimator {
 public:
  NumericEstimator(const std::vector<double> &obs, const Param &p, const TpeOptions &o)
      : low_(p.low), high_(p.high), weights_(MixtureWeights(obs.size(), o.prior_weight)) {
    const double range = high_ - low_;
    mus_ = obs;
    sigmas_.assign(obs.size(), 0.0);
    // Each kernel is as wide as the larger gap to its neighbours (the range's
    // ends count as neighbours).
    std::vector<size_t> order(obs.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return obs[a] < obs[b]; });
    for (size_t r = 0; r < order.size(); ++r) {
      const double left = r == 0 ? low_ : obs[order[r - 1]];
      const double right = r + 1 == order.size() ? high_ : obs[order[r + 1]];
      const double x = obs[order[r]];
      sigmas_[order[r]] = std::max(x - left, right - x);
    }
    if (!o.consider_endpoints && order.size() >= 2) {
      sigmas_[order.front()] = obs[order[1]] - obs[order[0]];
      sigmas_[order.back()] = obs[order.back()] - obs[order[order.size() - 2]];
    }
    const double min_sigma =
        o.consider_magic_clip ? range / std::min(100.0, 1.0 + static_cast<double>(obs.size() + 1)) : kEps;
    for (double &s : sigmas_) s = std::clamp(s, min_sigma, range);
    mus_.push_back(0.5 * (low_ + high_));
    sigmas_.push_back(range);
    for (size_t k = 0; k < mus_.size(); ++k) {
      const double mass =
          NormalCdf((high_ - mus_[k]) / sigmas_[k]) - NormalCdf((low_ - mus_[k]) / sigmas_[k]);
      log_norm_.push_back(std::log(std::max(mass, kEps)) + std::log(sigmas_[k]) + 0.5 * std::log(2 * M_PI));
    }
  }

  double Sample(Rng &rng) const {
    const size_t k = PickIndex(rng, weights_);
    // Rejection: every kernel's centre lies in the range and its width is at
    // most the range, so at least about a third of its mass is inside.
    for (int attempt = 0; attempt < 1000; ++attempt) {
      const double x = mus_[k] + sigmas_[k] * internal::StandardNormal(rng);
      if (x >= low_ && x <= high_) return x;
    }
    return std::clamp(mus_[k], low_, high_);
  }

  double LogPdf(double x) const {
    std::vector<double> terms(mus_.size());
    for (size_t k = 0; k < mus_.size(); ++k) {
      const double z = (x - mus_[k]) / sigmas_[k];
      terms[k] = std::log(weights_[k]) - 0.5 * z * z - log_norm_[k];
    }
    return LogSumExp(terms);
  }

 private:
  double low_, high_;
  std::vector<double> weights_, mus_, sigmas_, log_norm_;
};

// Optuna's categorical estimator: each kernel puts prior_weight / kernels on
// every category and 1 more on its observation; the prior kernel is uniform.
class CategoricalEstimator {
 public:
  CategoricalEstimator(const std::vector<double> &obs, size_t n, const TpeOptions &o) : probs_(n, 0.0) {
    const std::vector<double> weights = MixtureWeights(obs.size(), o.prior_weight);
    const double base = o.prior_weight / static_cast<double>(obs.size() + 1);
    for (size_t k = 0; k <= obs.size(); ++k) {
      const double row_sum = base * n + (k < obs.size() ? 1.0 : 0.0);
      for (size_t c = 0; c < n; ++c) {
        const bool hit = k < obs.size() && static_cast<size_t>(obs[k]) == c;
        probs_[c] += weights[k] * (base + (hit ? 1.0 : 0.0)) / row_sum;
      }
    }
  }
  double Sample(Rng &rng) const { return static_cast<double>(PickIndex(rng, probs_)); }
  double LogPdf(double index) const { return std::log(std::max(probs_[static_cast<size_t>(index)], kEps)); }

 private:
  std::vector<double> probs_;
};

template <typename Estimator>
double BestCandidate(const Estimator &good, const Estimator &bad, int candidates, Rng &rng,
                     const std::function<double(double)> &snap) {
  double best = 0, best_score = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < candidates; ++i) {
    const double x = snap(good.Sample(rng));
    const double score = good.LogPdf(x) - bad.LogPdf(x);
    if (i == 0 || score > best_score) {
      best = x;
      best_score = score;
    }
  }
  return best;
}

}  // namespace

TpeSearch::TpeSearch(TpeOptions options)
    : options_(std::move(options)), rng_(options_.seed ? *options_.seed : internal::RandomSeed()) {
  if (options_.n_startup_trials < 0) throw TuneError("TpeSearch: n_startup_trials must be >= 0");
  if (options_.n_ei_candidates < 1) throw TuneError("TpeSearch: n_ei_candidates must be >= 1");
  if (!(options_.gamma_fraction > 0 && options_.gamma_fraction <= 1)) {
    throw TuneError("TpeSearch: gamma_fraction must be in (0, 1]");
  }
  if (options_.gamma_max < 1) throw TuneError("TpeSearch: gamma_max must be >= 1");
  if (!(options_.prior_weight > 0)) throw TuneError("TpeSearch: prior_weight must be positive");
  metric_ = options_.metric;
  if (!options_.mode.empty()) mode_ = ParseMode(options_.mode);
}

TpeSearch::~TpeSearch() = default;

bool TpeSearch::SetSearchProperties(const SearchProperties &properties) {
  TakeMetricAndMode(properties);
  if (metric_.empty()) throw TuneError("TpeSearch needs a metric: set it in TuneConfig or TpeOptions");
  if (!mode_)
    throw TuneError("TpeSearch needs a mode (\"min\" or \"max\"): set it in TuneConfig or TpeOptions");
  std::vector<Param> params;
  for (const Space::Leaf &leaf : properties.space.Leaves()) {
    if (leaf.value->is_domain()) params.push_back(MakeParam(leaf.path, leaf.value->domain()));
  }
  params_ = std::move(params);
  skeleton_ = Json::object();
  BuildSkeleton(properties.space, skeleton_);
  ready_ = true;
  return true;
}

std::vector<double> TpeSearch::SampleRandom() {
  std::vector<double> x;
  for (const Param &p : params_) {
    if (p.categorical) {
      x.push_back(static_cast<double>(internal::UniformInt(rng_, 0, static_cast<int64_t>(p.num_categories))));
    } else {
      x.push_back(p.ToModel(p.domain->Sample(skeleton_, rng_).get<double>()));
    }
  }
  return x;
}

std::vector<double> TpeSearch::SampleModel() {
  // The best gamma(n) observations are "good"; both sets keep completion order
  // so the weights favour recent trials, as Optuna's.
  std::vector<size_t> order(observations_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return observations_[a].score > observations_[b].score; });
  const size_t n_good = std::min<size_t>(
      static_cast<size_t>(std::ceil(options_.gamma_fraction * static_cast<double>(observations_.size()))),
      static_cast<size_t>(options_.gamma_max));
  std::vector<size_t> good(order.begin(), order.begin() + std::min(n_good, order.size()));
  std::vector<size_t> bad(order.begin() + good.size(), order.end());
  std::sort(good.begin(), good.end());
  std::sort(bad.begin(), bad.end());

  std::vector<double> x;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param &p = params_[i];
    std::vector<double> good_x, bad_x;
    for (size_t k : good) good_x.push_back(observations_[k].x[i]);
    for (size_t k : bad) bad_x.push_back(observations_[k].x[i]);
    if (p.categorical) {
      x.push_back(BestCandidate(CategoricalEstimator(good_x, p.num_categories, options_),
                                CategoricalEstimator(bad_x, p.num_categories, options_),
                                options_.n_ei_candidates, rng_, [](double c) { return c; }));
    } else {
      // Candidates are scored where they land on the domain's grid, so l/g
      // compares the values that would actually be tried.
      x.push_back(BestCandidate(NumericEstimator(good_x, p, options_), NumericEstimator(bad_x, p, options_),
                                options_.n_ei_candidates, rng_,
                                [&p](double m) { return p.ToModel(p.ToValue(m)); }));
    }
  }
  return x;
}

Json TpeSearch::MakeConfig(const std::vector<double> &x) const {
  Json config = skeleton_;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param &p = params_[i];
    Json value;
    if (p.categorical) {
      value = static_cast<const CategoricalDomain &>(*p.domain).categories()[static_cast<size_t>(x[i])];
    } else if (p.integer) {
      value = static_cast<int64_t>(std::llround(p.ToValue(x[i])));
    } else {
      value = p.ToValue(x[i]);
    }
    Json *node = &config;
    for (size_t k = 0; k + 1 < p.path.size(); ++k) node = &(*node)[p.path[k]];
    (*node)[p.path.back()] = std::move(value);
  }
  return config;
}

Suggestion TpeSearch::Suggest(const std::string &trial_id) {
  if (!ready_) throw TuneError("TpeSearch: SetSearchProperties must come before Suggest");
  if (live_.count(trial_id)) throw TuneError("TpeSearch: trial id '" + trial_id + "' was already suggested");
  const bool startup = observations_.size() < static_cast<size_t>(options_.n_startup_trials);
  std::vector<double> x = startup ? SampleRandom() : SampleModel();
  Json config = MakeConfig(x);
  live_[trial_id] = std::move(x);
  return Suggestion::Of(std::move(config));
}

void TpeSearch::OnTrialComplete(const std::string &trial_id, const Json &result, bool error) {
  auto it = live_.find(trial_id);
  if (it == live_.end()) return;
  std::vector<double> x = std::move(it->second);
  live_.erase(it);
  if (error || !result.is_object()) return;
  auto value = result.find(metric_);
  if (value == result.end() || !value->is_number()) return;
  const double v = value->get<double>();
  if (!std::isfinite(v)) return;
  observations_.push_back(Observation{std::move(x), Score(*mode_, v)});
}

Json TpeSearch::Save() const {
  Json observations = Json::array();
  for (const Observation &o : observations_) observations.push_back(Json{{"x", o.x}, {"score", o.score}});
  Json live = Json::object();
  for (const auto &[id, x] : live_) live[id] = x;
  return Json{{"rng", internal::RngState(rng_)}, {"observations", observations}, {"live", live}};
}

void TpeSearch::Restore(const Json &state) {
  try {
    std::vector<Observation> observations;
    for (const Json &o : state.at("observations")) {
      observations.push_back(Observation{o.at("x").get<std::vector<double>>(), o.at("score").get<double>()});
    }
    std::map<std::string, std::vector<double>> live;
    for (const auto &[id, x] : state.at("live").items()) live[id] = x.get<std::vector<double>>();
    if (ready_) {
      for (const Observation &o : observations) {
        if (o.x.size() != params_.size())
          throw TuneError("TpeSearch: saved state is for another search space");
      }
    }
    internal::SetRngState(rng_, state.at("rng").get<std::string>());
    observations_ = std::move(observations);
    live_ = std::move(live);
  } catch (const nlohmann::json::exception &e) {
    throw TuneError(std::string("TpeSearch: malformed saved state: ") + e.what());
  }
}

}  // namespace tune
}  // namespace ray
