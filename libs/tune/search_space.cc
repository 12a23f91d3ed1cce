// The concrete domains and their factories (Ray's sample.py rules).
#include "ray/tune/search_space.h"

#include <cmath>
#include <limits>

#include "sampling.h"

namespace ray {
namespace tune {
namespace {

using internal::RoundHalfEven;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Shortest text that reads back as the same number ("0.1", not "0.100000").
std::string Num(double x) { return Json(x).dump(); }

// Python's math.isclose with its default tolerance, which Ray's bound check uses.
bool IsClose(double a, double b) {
  return a == b || std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t CeilDiv(int64_t a, int64_t b) { return -FloorDiv(-a, b); }

void CheckBase(const std::string &what, double base) {
  if (!(base > 0) || base == 1) throw TuneError(what + ": base must be positive and not 1, got " + Num(base));
}

std::string FloatName(FloatDomain::Sampler sampler, bool quantized) {
  switch (sampler) {
    case FloatDomain::Sampler::kUniform:
      return quantized ? "QUniform" : "Uniform";
    case FloatDomain::Sampler::kLogUniform:
      return quantized ? "QLogUniform" : "LogUniform";
    case FloatDomain::Sampler::kNormal:
      return quantized ? "QRandn" : "Randn";
  }
  return "Float";
}

std::string IntName(IntegerDomain::Sampler sampler, int64_t q) {
  if (sampler == IntegerDomain::Sampler::kUniform) return q != 1 ? "QRandInt" : "RandInt";
  return q != 1 ? "QLogRandInt" : "LogRandInt";
}

}  // namespace

FloatDomain::FloatDomain(Sampler sampler, double lower, double upper, double q, double mean, double sd)
    : sampler_(sampler), lower_(lower), upper_(upper), q_(q), mean_(mean), sd_(sd) {
  const bool has_q = q != 0;
  const std::string what = FloatName(sampler, has_q);
  if (has_q && !(q > 0 && std::isfinite(q))) throw TuneError(what + ": q must be positive, got " + Num(q));
  if (sampler == Sampler::kNormal) {
    if (!(sd > 0 && std::isfinite(sd))) throw TuneError(what + ": sd must be positive, got " + Num(sd));
    if (!std::isfinite(mean)) throw TuneError(what + ": mean must be finite, got " + Num(mean));
    lower_ = -kInf;
    upper_ = kInf;
  } else {
    if (!std::isfinite(lower) || !std::isfinite(upper) || !(lower < upper)) {
      throw TuneError(what + "(" + Num(lower) + ", " + Num(upper) +
                      "): needs finite bounds with lower < upper");
    }
    if (sampler == Sampler::kLogUniform && !(lower > 0)) {
      throw TuneError(what + "(" + Num(lower) + ", " + Num(upper) + "): log sampling needs lower > 0");
    }
    // Ray refuses bounds that are not multiples of q (Float.quantized).
    if (has_q && (!IsClose(lower / q, std::round(lower / q)) || !IsClose(upper / q, std::round(upper / q)))) {
      throw TuneError(what + "(" + Num(lower) + ", " + Num(upper) + ", " + Num(q) +
                      "): the bounds must be multiples of q");
    }
  }
  sample_lower_ = lower_;
  sample_upper_ = upper_;
  if (quantized() && sampler != Sampler::kNormal) {
    sample_lower_ = std::ceil(lower_ / q_) * q_;
    sample_upper_ = std::floor(upper_ / q_) * q_;
  }
}

Json FloatDomain::Sample(const Json &, Rng &rng) const {
  double value = 0;
  switch (sampler_) {
    case Sampler::kUniform:
      value = internal::UniformReal(rng, sample_lower_, sample_upper_);
      break;
    case Sampler::kLogUniform:
      value = std::exp(internal::UniformReal(rng, std::log(sample_lower_), std::log(sample_upper_)));
      break;
    case Sampler::kNormal:
      value = mean_ + sd_ * internal::StandardNormal(rng);
      break;
  }
  // Quantising after the draw is what makes the upper bound reachable.
  if (quantized()) value = RoundHalfEven(value / q_) * q_;
  return value;
}

std::string FloatDomain::ToString() const {
  std::string name = FloatName(sampler_, q_ != 0);
  std::string args =
      sampler_ == Sampler::kNormal ? Num(mean_) + ", " + Num(sd_) : Num(lower_) + ", " + Num(upper_);
  if (q_ != 0) args += ", " + Num(q_);
  return name + "(" + args + ")";
}

IntegerDomain::IntegerDomain(Sampler sampler, int64_t lower, int64_t upper, int64_t q)
    : sampler_(sampler), lower_(lower), upper_(upper), q_(q) {
  const std::string what = IntName(sampler, q);
  const std::string args = "(" + std::to_string(lower) + ", " + std::to_string(upper) +
                           (q != 1 ? ", " + std::to_string(q) : "") + ")";
  if (q <= 0) throw TuneError(what + args + ": q must be positive");
  if (lower >= upper) throw TuneError(what + args + ": needs lower < upper");
  if (sampler == Sampler::kLogUniform && lower <= 0)
    throw TuneError(what + args + ": log sampling needs lower > 0");
  sample_lower_ = lower;
  sample_upper_ = upper;
  if (q != 1) {
    sample_lower_ = CeilDiv(lower, q) * q;
    sample_upper_ = FloorDiv(upper, q) * q;
    // Ray draws from [ceil(lower/q)*q, floor(upper/q)*q) and numpy refuses an
    // empty range at the first sample; refuse it here, before any trial.
    if (sample_lower_ >= sample_upper_) {
      throw TuneError(what + args + ": the range must hold two multiples of q");
    }
  }
}

int64_t IntegerDomain::min_value() const { return sample_lower_; }
int64_t IntegerDomain::max_value() const { return q_ != 1 ? sample_upper_ : sample_upper_ - 1; }

Json IntegerDomain::Sample(const Json &, Rng &rng) const {
  int64_t value = 0;
  if (sampler_ == Sampler::kUniform) {
    value = internal::UniformInt(rng, sample_lower_, sample_upper_);
  } else {
    double x = std::exp(internal::UniformReal(rng, std::log(static_cast<double>(sample_lower_)),
                                              std::log(static_cast<double>(sample_upper_))));
    value = static_cast<int64_t>(std::floor(x));
    // exp(log(upper) - tiny) can round to upper; the bound is exclusive.
    if (value >= sample_upper_) value = sample_upper_ - 1;
    if (value < sample_lower_) value = sample_lower_;
  }
  if (q_ != 1) {
    value = static_cast<int64_t>(RoundHalfEven(static_cast<double>(value) / static_cast<double>(q_))) * q_;
  }
  return value;
}

std::string IntegerDomain::ToString() const {
  return IntName(sampler_, q_) + "(" + std::to_string(lower_) + ", " + std::to_string(upper_) +
         (q_ != 1 ? ", " + std::to_string(q_) : "") + ")";
}

CategoricalDomain::CategoricalDomain(std::vector<Json> categories) : categories_(std::move(categories)) {
  if (categories_.empty()) throw TuneError("Choice([]): needs at least one category");
}

Json CategoricalDomain::Sample(const Json &, Rng &rng) const {
  return categories_[internal::UniformInt(rng, 0, static_cast<int64_t>(categories_.size()))];
}

std::string CategoricalDomain::ToString() const { return "Choice(" + Json(categories_).dump() + ")"; }

GridDomain::GridDomain(std::vector<Json> values) : values_(std::move(values)) {
  if (values_.empty()) throw TuneError("GridSearch([]): an empty grid has no trials");
}

Json GridDomain::Sample(const Json &, Rng &) const {
  throw TuneError(ToString() +
                  " is expanded into trials, never sampled; this searcher does not support grids");
}

std::string GridDomain::ToString() const { return "GridSearch(" + Json(values_).dump() + ")"; }

FunctionDomain::FunctionDomain(Fn fn) : fn_(std::move(fn)) {
  if (!fn_) throw TuneError("SampleFrom: the function is empty");
}

Json FunctionDomain::Sample(const Json &config, Rng &rng) const { return fn_(config, rng); }

DomainPtr Uniform(double lower, double upper) {
  return std::make_shared<FloatDomain>(FloatDomain::Sampler::kUniform, lower, upper, 0);
}

DomainPtr QUniform(double lower, double upper, double q) {
  if (!(q > 0)) throw TuneError("QUniform: q must be positive, got " + Num(q));
  return std::make_shared<FloatDomain>(FloatDomain::Sampler::kUniform, lower, upper, q);
}

DomainPtr LogUniform(double lower, double upper, double base) {
  CheckBase("LogUniform", base);
  return std::make_shared<FloatDomain>(FloatDomain::Sampler::kLogUniform, lower, upper, 0);
}

DomainPtr QLogUniform(double lower, double upper, double q, double base) {
  CheckBase("QLogUniform", base);
  if (!(q > 0)) throw TuneError("QLogUniform: q must be positive, got " + Num(q));
  return std::make_shared<FloatDomain>(FloatDomain::Sampler::kLogUniform, lower, upper, q);
}

DomainPtr Randn(double mean, double sd) {
  return std::make_shared<FloatDomain>(FloatDomain::Sampler::kNormal, -kInf, kInf, 0, mean, sd);
}

DomainPtr QRandn(double mean, double sd, double q) {
  if (!(q > 0)) throw TuneError("QRandn: q must be positive, got " + Num(q));
  return std::make_shared<FloatDomain>(FloatDomain::Sampler::kNormal, -kInf, kInf, q, mean, sd);
}

DomainPtr RandInt(int64_t lower, int64_t upper) {
  return std::make_shared<IntegerDomain>(IntegerDomain::Sampler::kUniform, lower, upper, 1);
}

DomainPtr QRandInt(int64_t lower, int64_t upper, int64_t q) {
  return std::make_shared<IntegerDomain>(IntegerDomain::Sampler::kUniform, lower, upper, q);
}

DomainPtr LogRandInt(int64_t lower, int64_t upper, double base) {
  CheckBase("LogRandInt", base);
  return std::make_shared<IntegerDomain>(IntegerDomain::Sampler::kLogUniform, lower, upper, 1);
}

DomainPtr QLogRandInt(int64_t lower, int64_t upper, int64_t q, double base) {
  CheckBase("QLogRandInt", base);
  return std::make_shared<IntegerDomain>(IntegerDomain::Sampler::kLogUniform, lower, upper, q);
}

DomainPtr Choice(std::vector<Json> categories) {
  return std::make_shared<CategoricalDomain>(std::move(categories));
}

DomainPtr SampleFrom(std::function<Json(const Json &config)> fn) {
  if (!fn) throw TuneError("SampleFrom: the function is empty");
  return std::make_shared<FunctionDomain>(
      [fn = std::move(fn)](const Json &config, Rng &) { return fn(config); });
}

DomainPtr SampleFrom(std::function<Json(const Json &config, Rng &rng)> fn) {
  return std::make_shared<FunctionDomain>(std::move(fn));
}

DomainPtr GridSearch(std::vector<Json> values) { return std::make_shared<GridDomain>(std::move(values)); }

}  // namespace tune
}  // namespace ray
