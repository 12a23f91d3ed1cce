#include "scheduler_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace ray {
namespace tune {
namespace internal {

const Json *FindResultValue(const Json &result, const std::string &key) {
  if (!result.is_object()) return nullptr;
  auto it = result.find(key);
  if (it != result.end()) return &*it;
  const Json *node = &result;
  size_t start = 0;
  while (start <= key.size()) {
    size_t slash = key.find('/', start);
    std::string part = key.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!node->is_object()) return nullptr;
    auto child = node->find(part);
    if (child == node->end()) return nullptr;
    node = &*child;
    if (slash == std::string::npos) return node;
    start = slash + 1;
  }
  return nullptr;
}

std::optional<double> ResultNumber(const Json &result, const std::string &key) {
  const Json *value = FindResultValue(result, key);
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (value->is_boolean()) return value->get<bool>() ? 1.0 : 0.0;  // Python's bool is an int
  if (!value->is_number()) {
    throw TuneError("result field \"" + key + "\" must be a number, not " + value->dump());
  }
  return value->get<double>();
}

double NanPercentile(std::vector<double> values, double percent) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double quantile = percent / 100.0;
  const double virtual_index = static_cast<double>(values.size() - 1) * quantile;
  if (virtual_index >= static_cast<double>(values.size() - 1)) return values.back();
  if (virtual_index <= 0) return values.front();
  const double below = std::floor(virtual_index);
  const double gamma = virtual_index - below;
  const double a = values[static_cast<size_t>(below)];
  const double b = values[static_cast<size_t>(below) + 1];
  // numpy's _lerp: from the nearer end, so the result is exact at both ends.
  const double diff = b - a;
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

double Median(std::vector<double> values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  for (double v : values) {
    if (std::isnan(v)) return v;
  }
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  if (n % 2 == 1) return values[n / 2];
  return (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

double PopulationStd(const std::vector<double> &values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double sum_sq = 0;
  for (double v : values) sum_sq += (v - mean) * (v - mean);
  return std::sqrt(sum_sq / static_cast<double>(values.size()));
}

size_t RandomIndex(Rng &rng, size_t n) {
  size_t index = static_cast<size_t>(UniformUnit(rng) * static_cast<double>(n));
  return std::min(index, n - 1);
}

void RequireMetricAndMode(const char *scheduler, const std::optional<std::string> &metric,
                          const std::optional<Mode> &mode) {
  if (metric && !metric->empty() && mode) return;
  throw TuneError(std::string(scheduler) + " has no valid metric (" + (metric ? *metric : "None") +
                  ") or mode (" + (mode ? ModeName(*mode) : "None") +
                  "): pass them to the scheduler or once at the top level (TuneConfig / Run)");
}

Json OptionalToJson(const std::optional<std::string> &value) { return value ? Json(*value) : Json(nullptr); }

std::optional<std::string> OptionalStringFromJson(const Json &value) {
  if (value.is_null()) return std::nullopt;
  return value.get<std::string>();
}

Json DoubleToJson(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

double DoubleFromJson(const Json &value) {
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (text == "inf") return std::numeric_limits<double>::infinity();
    if (text == "-inf") return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  return value.get<double>();
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
