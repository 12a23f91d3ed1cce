// Metrics: ray::Gauge, ray::Histogram, ray::Counter, ray::Sum.
//
// NOT included by <ray/api.h> (ray::Counter would clash with user classes
// named Counter under `using namespace ray`); include it explicitly.
//
// Lumen records metrics in-process (there is no exporter yet): Gauge and
// Histogram keep the last value per tag set, Counter and Sum keep the running
// total per tag set. All methods are thread-safe.
//
// Public header: must stay valid C++17.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ray {

class Metric {
 public:
  virtual ~Metric() = 0;

  std::string GetName() const;

  /// Records one value under the given tags (tag key -> tag value).
  void Record(double value, const std::unordered_map<std::string, std::string> &tags);

  /// Lumen extension: the value kept for a tag set, if any was recorded.
  bool GetRecordedValue(const std::unordered_map<std::string, std::string> &tags, double *value) const;

  /// Lumen extension: every tag set recorded so far with its value.
  std::map<std::map<std::string, std::string>, double> GetRecordedValues() const;

 protected:
  Metric(const std::string &name, const std::string &description, const std::string &unit,
         const std::vector<std::string> &tag_keys, bool accumulate);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

class Gauge : public Metric {
 public:
  Gauge(const std::string &name, const std::string &description, const std::string &unit,
        const std::vector<std::string> &tag_keys = {});
  void Set(double value, const std::unordered_map<std::string, std::string> &tags = {});
};

class Histogram : public Metric {
 public:
  Histogram(const std::string &name, const std::string &description, const std::string &unit,
            const std::vector<double> boundaries, const std::vector<std::string> &tag_keys = {});
  void Observe(double value, const std::unordered_map<std::string, std::string> &tags = {});
  const std::vector<double> &GetBoundaries() const { return boundaries_; }

 private:
  std::vector<double> boundaries_;
};

class Counter : public Metric {
 public:
  Counter(const std::string &name, const std::string &description, const std::string &unit,
          const std::vector<std::string> &tag_keys = {});
  void Inc(double value = 1.0, const std::unordered_map<std::string, std::string> &tags = {});
};

class Sum : public Metric {
 public:
  Sum(const std::string &name, const std::string &description, const std::string &unit,
      const std::vector<std::string> &tag_keys = {});
};

}  // namespace ray
