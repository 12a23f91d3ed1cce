// Lumen extension (not part of Ray's C++ API): Ray Tune's search spaces in C++.
//
// A search space (`Space`) is a nested map from keys to constants, value domains
// (`Uniform(0, 1)`, `Choice({...})`, `GridSearch({...})`, ...) and sub-spaces:
//
//   tune::Space space{{"lr", tune::LogUniform(1e-4, 1e-1)},
//                     {"layers", tune::Choice({1, 2, 3})},
//                     {"opt", tune::Space{{"momentum", tune::Uniform(0.1, 0.9)}}},
//                     {"batch", 64}};
//
// The factory functions carry Ray's names and Ray's bound, quantisation and
// rounding rules (python/ray/tune/search/sample.py); where those rules surprise,
// the comment at the factory says so. All randomness comes from the Rng passed
// in, so one seed reproduces a whole sequence of configs; the samplers draw
// with arithmetic of their own (not <random>'s distributions, whose output
// differs between standard libraries) so a seed gives the same configs on
// every platform. `Config` reads a sampled config with dotted paths and clear
// errors.
//
// Threading: domains and spaces are immutable once built and may be shared
// between threads; sampling mutates only the Rng passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ray/tune/types.h"

namespace ray {
namespace tune {

// ---------------------------------------------------------------------------
// Concrete domains. Build them with the factory functions below; the classes
// are public so searchers (TPE, PBT) can read their parameters.

/// A float range: uniform, log-uniform or normal, optionally quantised.
class FloatDomain : public Domain {
 public:
  enum class Sampler { kUniform, kLogUniform, kNormal };
  /// Throws TuneError on bad arguments (see the factories).
  FloatDomain(Sampler sampler, double lower, double upper, double q, double mean = 0, double sd = 1);

  Json Sample(const Json &config, Rng &rng) const override;
  bool IsNumeric() const override { return true; }
  std::string ToString() const override;

  Sampler sampler() const { return sampler_; }
  /// The bounds as given (infinite for kNormal).
  double lower() const { return lower_; }
  double upper() const { return upper_; }
  /// 0 when not quantised. Ray leaves q == 1 unquantised too (see QUniform).
  double q() const { return q_; }
  bool quantized() const { return q_ > 0 && q_ != 1; }
  /// The bounds values can take: rounded inward to multiples of q when quantised.
  double sample_lower() const { return sample_lower_; }
  double sample_upper() const { return sample_upper_; }
  double mean() const { return mean_; }
  double sd() const { return sd_; }

 private:
  Sampler sampler_;
  double lower_, upper_, q_, mean_, sd_;
  double sample_lower_, sample_upper_;
};

/// An integer range: uniform or log-uniform, optionally quantised.
class IntegerDomain : public Domain {
 public:
  enum class Sampler { kUniform, kLogUniform };
  /// Throws TuneError on bad arguments (see the factories).
  IntegerDomain(Sampler sampler, int64_t lower, int64_t upper, int64_t q);

  Json Sample(const Json &config, Rng &rng) const override;
  bool IsNumeric() const override { return true; }
  bool IsInteger() const override { return true; }
  std::string ToString() const override;

  Sampler sampler() const { return sampler_; }
  int64_t lower() const { return lower_; }
  int64_t upper() const { return upper_; }
  int64_t q() const { return q_; }
  bool quantized() const { return q_ != 1; }
  /// The smallest and largest value a sample can take (both inclusive).
  int64_t min_value() const;
  int64_t max_value() const;

 private:
  Sampler sampler_;
  int64_t lower_, upper_, q_;
  int64_t sample_lower_, sample_upper_;  // [lower, upper) handed to the raw sampler
};

/// One of a list of values, uniformly.
class CategoricalDomain : public Domain {
 public:
  explicit CategoricalDomain(std::vector<Json> categories);
  Json Sample(const Json &config, Rng &rng) const override;
  std::string ToString() const override;
  const std::vector<Json> &categories() const { return categories_; }

 private:
  std::vector<Json> categories_;
};

/// Every value is its own trial (cross product with the other grids).
class GridDomain : public Domain {
 public:
  explicit GridDomain(std::vector<Json> values);
  /// A grid is expanded, never sampled: throws TuneError.
  Json Sample(const Json &config, Rng &rng) const override;
  bool IsGrid() const override { return true; }
  std::vector<Json> GridValues() const override { return values_; }
  std::string ToString() const override;

 private:
  std::vector<Json> values_;
};

/// A value computed from the config sampled so far (Ray's sample_from).
class FunctionDomain : public Domain {
 public:
  using Fn = std::function<Json(const Json &config, Rng &rng)>;
  explicit FunctionDomain(Fn fn);
  Json Sample(const Json &config, Rng &rng) const override;
  std::string ToString() const override { return "SampleFrom(<function>)"; }

 private:
  Fn fn_;
};

// ---------------------------------------------------------------------------
// Factories, with Ray's names. Bad arguments throw TuneError here, not when a
// trial is sampled.

/// A float in [lower, upper). lower < upper.
DomainPtr Uniform(double lower, double upper);
/// Uniform, then rounded to the nearest multiple of q (ties to even, as
/// numpy). The bounds must be multiples of q (Ray's check) and the upper bound
/// becomes reachable. Ray's surprise, kept: q == 1 does not quantise at all.
DomainPtr QUniform(double lower, double upper, double q);
/// A float whose logarithm is uniform over [log lower, log upper); 0 < lower <
/// upper. `base` does not change the distribution (Ray deprecated it); it is
/// accepted for source compatibility and must be positive and not 1.
DomainPtr LogUniform(double lower, double upper, double base = 10);
/// LogUniform, then quantised as QUniform (bounds multiples of q).
DomainPtr QLogUniform(double lower, double upper, double q, double base = 10);
/// A normal float; sd > 0.
DomainPtr Randn(double mean = 0.0, double sd = 1.0);
/// Randn rounded to the nearest multiple of q (q == 1: not rounded, as Ray).
DomainPtr QRandn(double mean, double sd, double q);
/// An integer in [lower, upper): the upper bound is exclusive.
DomainPtr RandInt(int64_t lower, int64_t upper);
/// An integer multiple of q in [ceil(lower/q)*q, floor(upper/q)*q]: the upper
/// bound is inclusive. Ray's rules, surprises kept: the raw draw is uniform
/// over [ceil(lower/q)*q, floor(upper/q)*q) and then rounded to the nearest
/// multiple (ties to even), so the two end values are half as likely as the
/// others; q == 1 is RandInt (upper exclusive). The range must hold at least
/// two multiples of q (Ray fails at the first sample otherwise).
DomainPtr QRandInt(int64_t lower, int64_t upper, int64_t q = 1);
/// An integer in [lower, upper), log-uniform (floor of a log-uniform float);
/// 0 < lower < upper.
DomainPtr LogRandInt(int64_t lower, int64_t upper, double base = 10);
/// LogRandInt quantised as QRandInt: upper inclusive (q == 1: exclusive).
DomainPtr QLogRandInt(int64_t lower, int64_t upper, int64_t q, double base = 10);
/// One of `categories`, uniformly; not empty.
DomainPtr Choice(std::vector<Json> categories);
/// A value computed by `fn` from the config sampled so far: constants, grid
/// values and every other domain are already in it, and so are the SampleFrom
/// values it reads (they are resolved in passes; a cycle is a TuneError). This
/// form must be deterministic in `config`: randomness from elsewhere would
/// escape the experiment's seed. For random values take the Rng overload.
DomainPtr SampleFrom(std::function<Json(const Json &config)> fn);
/// As above, with the searcher's Rng: the values it draws are reproduced by the
/// experiment's seed.
DomainPtr SampleFrom(std::function<Json(const Json &config, Rng &rng)> fn);
/// Every value in turn, one trial each; not empty. Several grids form a cross
/// product.
DomainPtr GridSearch(std::vector<Json> values);

// ---------------------------------------------------------------------------
// Space

class Space;

/// One entry of a Space: a constant, a domain or a nested Space.
class SpaceValue {
 public:
  /// Anything nlohmann::json takes is a constant: numbers, strings, Json, ...
  template <typename T,
            typename = std::enable_if_t<std::conjunction<
                std::negation<std::is_same<std::decay_t<T>, SpaceValue>>,
                std::negation<std::is_same<std::decay_t<T>, Space>>,
                std::negation<std::is_same<std::decay_t<T>, std::nullptr_t>>,
                std::negation<std::is_convertible<T, DomainPtr>>, std::is_constructible<Json, T>>::value>>
  SpaceValue(T &&constant) : constant_(std::forward<T>(constant)) {}  // NOLINT: implicit by design
  /// nullptr is JSON null, not a missing domain.
  SpaceValue(std::nullptr_t) : constant_(nullptr) {}  // NOLINT
  SpaceValue(DomainPtr domain);                       // NOLINT
  SpaceValue(Space space);                            // NOLINT

  bool is_constant() const { return !domain_ && !space_; }
  bool is_domain() const { return domain_ != nullptr; }
  bool is_space() const { return space_ != nullptr; }
  const Json &constant() const { return constant_; }
  const DomainPtr &domain() const { return domain_; }
  const Space &space() const { return *space_; }

 private:
  Json constant_;
  DomainPtr domain_;
  std::shared_ptr<const Space> space_;
};

/// A search space (Ray's param_space): keys in the order written, each a
/// constant, a domain or a sub-space.
class Space {
 public:
  using Entry = std::pair<std::string, SpaceValue>;

  /// A leaf of the space: a constant or a domain, with its path from the top.
  struct Leaf {
    std::vector<std::string> path;
    const SpaceValue *value;
  };

  Space() = default;
  Space(std::initializer_list<Entry> entries);
  /// Only constants: every object becomes a sub-space.
  static Space FromJson(const Json &constants);

  /// Sets `key`, replacing an existing entry in place.
  Space &Set(const std::string &key, SpaceValue value);
  const std::vector<Entry> &entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  /// Constants and domains in the order written (depth first).
  std::vector<Leaf> Leaves() const;

  /// The number of grid points: the product of every GridSearch's size (1
  /// without grids). Throws TuneError if it overflows.
  uint64_t GridSize() const;
  /// One config: grid point `grid_index` (< GridSize()), every other domain
  /// sampled from `rng`. Grids are ordered by their paths, as Ray sorts them,
  /// and the first varies fastest. Non-function domains are sampled in the
  /// order written, then SampleFrom functions (see SampleFrom).
  Json Sample(Rng &rng, uint64_t grid_index = 0) const;
  /// Ray's constant_grid_search: the non-grid domains sampled once, before the
  /// grid is known (SampleFrom functions that need a grid value are left out)...
  Json SampleFixed(Rng &rng) const;
  /// ...and grid point `grid_index` with every non-grid value found in `fixed`
  /// taken from it; the rest is sampled as in Sample.
  Json Sample(Rng &rng, uint64_t grid_index, const Json &fixed) const;
  /// Ray's preset (points_to_evaluate): `point`'s values replace the entries
  /// at their paths (objects recurse into sub-spaces and constant objects), so
  /// a preset grid key is no longer a grid. A path not in the space is a
  /// TuneError, as in Ray.
  Space WithPreset(const Json &point) const;
  /// For errors and logs: constants as themselves, domains as their ToString.
  Json ToJson() const;

 private:
  std::vector<Entry> entries_;
};

// ---------------------------------------------------------------------------
// Config

/// Typed, dotted-path access to a sampled config:
///   tune::Config cfg(config);
///   double m = cfg.Get<double>("opt.momentum");
/// A missing key or a value of another type is a TuneError naming the path and
/// the type found. A numeric path segment indexes an array ("layers.0").
/// Integers read as floats; a float reads as an integer only when it holds an
/// integral value in range (QUniform(32, 256, 32) gives 64.0).
class Config {
 public:
  Config() : json_(Json::object()) {}
  Config(Json json) : json_(std::move(json)) {}  // NOLINT: a config is its Json

  bool Has(const std::string &path) const;
  /// The value at `path`; TuneError naming the first missing segment.
  const Json &At(const std::string &path) const;

  template <typename T>
  T Get(const std::string &path) const {
    return Convert<T>(path, At(path));
  }
  /// `fallback` when `path` is missing; a wrong type is still an error.
  template <typename T>
  T Get(const std::string &path, T fallback) const {
    return Has(path) ? Get<T>(path) : fallback;
  }

  const Json &json() const { return json_; }

  /// "integer", "float", "boolean", "string", "array", "object", "null".
  static std::string TypeName(const Json &value);

 private:
  [[noreturn]] static void ThrowWrongType(const std::string &path, const std::string &wanted,
                                          const Json &found);
  static int64_t ToInt64(const std::string &path, const Json &value, int64_t min, uint64_t max);

  template <typename T>
  static T Convert(const std::string &path, const Json &value) {
    if constexpr (std::is_same<T, Json>::value) {
      return value;
    } else if constexpr (std::is_same<T, bool>::value) {
      if (!value.is_boolean()) ThrowWrongType(path, "a boolean", value);
      return value.get<bool>();
    } else if constexpr (std::is_integral<T>::value) {
      if (std::is_unsigned<T>::value && value.is_number_unsigned()) {
        uint64_t v = value.get<uint64_t>();
        if (v > static_cast<uint64_t>(std::numeric_limits<T>::max()))
          ThrowWrongType(path, "an integer in range", value);
        return static_cast<T>(v);
      }
      return static_cast<T>(ToInt64(path, value, static_cast<int64_t>(std::numeric_limits<T>::min()),
                                    static_cast<uint64_t>(std::numeric_limits<T>::max())));
    } else if constexpr (std::is_floating_point<T>::value) {
      if (!value.is_number()) ThrowWrongType(path, "a number", value);
      return value.get<T>();
    } else if constexpr (std::is_same<T, std::string>::value) {
      if (!value.is_string()) ThrowWrongType(path, "a string", value);
      return value.get<std::string>();
    } else {
      try {
        return value.get<T>();
      } catch (const nlohmann::json::exception &e) {
        ThrowWrongType(path, std::string("a value convertible to the requested type (") + e.what() + ")",
                       value);
      }
    }
  }

  Json json_;
};

}  // namespace tune
}  // namespace ray
