// Metrics: ray::Gauge, ray::Histogram, ray::Counter, ray::Sum.
//
// NOT included by <ray/api.h> (ray::Counter would clash with user classes
// named Counter under `using namespace ray`); include it explicitly.
//
// Each process keeps what it records per tag set: Gauge the last value,
// Counter and Sum the running total (they only go up: a negative increase is
// ignored), Histogram its bucket counts, sum and count (and the last value,
// for GetRecordedValue). In a cluster (not in local mode, where they stay in
// the process) the changes leave about once a second, off the recording
// thread, for the control service, which adds them up over every driver and
// worker of the cluster; the head's dashboard serves the result on /metrics
// with Ray's names: `ray_<name>` (characters Prometheus does not allow become
// '_'), Counter and Sum as counters `ray_<name>_total`, Histogram with its
// buckets, `_sum` and `_count`, the tags as labels plus Ray's SessionName,
// Component, JobId and NodeId (docs/dashboard.md, "Metrics"). Recording is a
// lookup and an addition under the metric's own lock: no I/O. All methods
// are thread-safe.
//
// Public header: must stay valid C++17.
#pragma once

#include <cstdint>
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
  /// How values combine (and how they are exported).
  enum class Kind { kGauge, kCounter, kSum, kHistogram };
  Metric(const std::string &name, const std::string &description, const std::string &unit,
         const std::vector<std::string> &tag_keys, Kind kind, const std::vector<double> &boundaries = {});

 private:
  friend class Histogram;  // its bucket counts
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
  /// The bucket boundaries, ascending (duplicates and non-finite ones dropped).
  const std::vector<double> &GetBoundaries() const { return boundaries_; }

  /// Lumen extension: the observations of a tag set so far: per bucket (not
  /// cumulative; GetBoundaries().size() + 1 of them, the last above every
  /// boundary), their sum and their number. False if none was observed.
  bool GetRecordedCounts(const std::unordered_map<std::string, std::string> &tags,
                         std::vector<uint64_t> *bucket_counts, double *sum, uint64_t *count) const;

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
