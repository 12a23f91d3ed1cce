// Lumen extension (not part of Ray's C++ API): helpers the trial schedulers and
// stoppers share -- reading numbers out of a reported result, numpy's
// percentile and standard deviation, and portable draws from the Rng.
//
// Internal to lumen_tune (not installed). Plain functions, no state; callers
// are the driver-thread schedulers, so nothing here is synchronised.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ray/tune/types.h"
#include "sampling.h"  // UniformUnit, RngState, SetRngState

namespace ray {
namespace tune {
namespace internal {

/// The value a result holds for `key`. Ray hands schedulers and stoppers the
/// flattened result ("a/b" for {"a": {"b": ...}}), so a key with slashes is
/// looked up literally first and then as a path into nested objects.
const Json *FindResultValue(const Json &result, const std::string &key);

/// The number a result holds for `key`; nullopt when the key is missing or
/// null (Ray's schedulers then skip the result). A value that is not a number
/// is a TuneError naming the key.
std::optional<double> ResultNumber(const Json &result, const std::string &key);

/// numpy.nanpercentile(values, percent) with the default linear method: NaNs
/// are ignored; NaN when nothing is left. Computed in numpy's order of
/// operations so cutoffs agree with Ray's to the last bit.
double NanPercentile(std::vector<double> values, double percent);

/// numpy.median (NaN as soon as one value is NaN, like numpy).
double Median(std::vector<double> values);

/// numpy.std with ddof 0 (population standard deviation).
double PopulationStd(const std::vector<double> &values);

/// A uniform index in [0, n); n must be positive.
size_t RandomIndex(Rng &rng, size_t n);

/// Metric and mode as a scheduler holds them once set_search_properties ran.
/// Throws TuneError naming `scheduler` when either is missing (Ray raises the
/// same in on_trial_add, before the trial starts).
void RequireMetricAndMode(const char *scheduler, const std::optional<std::string> &metric,
                          const std::optional<Mode> &mode);

/// Json for an optional string / mode (null when unset) and back.
Json OptionalToJson(const std::optional<std::string> &value);
std::optional<std::string> OptionalStringFromJson(const Json &value);

/// A double as Json that survives NaN and infinities (nlohmann writes them as
/// null): non-finite values become the strings "nan", "inf", "-inf".
Json DoubleToJson(double value);
double DoubleFromJson(const Json &value);

}  // namespace internal
}  // namespace tune
}  // namespace ray
