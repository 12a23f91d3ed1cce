// Summaries of repeated measurements, shared by the benchmark programs
// (microbenchmarks, floors). Plain functions; no state.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

namespace bench {

/// Mean and sample standard deviation (0 for a single value).
inline std::pair<double, double> MeanSd(const std::vector<double> &v) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  return {mean, v.size() > 1 ? std::sqrt(var / (v.size() - 1)) : 0.0};
}

/// Median and sample standard deviation. The median, not the mean, where one
/// run hit by a noisy machine should not move the figure.
inline std::pair<double, double> MedianSd(std::vector<double> v) {
  double sd = MeanSd(v).second;
  std::sort(v.begin(), v.end());
  double median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return {median, sd};
}

/// p-th percentile (0..1) of sorted samples.
inline double Percentile(const std::vector<double> &sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

}  // namespace bench
