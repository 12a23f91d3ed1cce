// The control service's sums of the user metrics every driver and worker
// records (worker/metric_recorder.h), for the dashboard's /metrics. A series
// is a metric's tag set in one job on one node: the changes processes send
// add up there (a counter's or sum's increase, a histogram's new
// observations) or replace the value (a gauge: the latest wins).
//
// Why per job and node and not per process: counters must never go down
// while their series exists, or Prometheus reads a reset. A process that
// dies has already added what it sent into its job's series on its node,
// which keeps counting with the job's other processes, so nothing vanishes
// when one dies (Ray's default since 2.53 likewise drops the WorkerId
// label). A series goes away only after its job ended plus
// `finished_job_retention_ms` (long enough for scrapes to see its final
// values), or earlier when the bound needs room for a running job's series.
//
// Bounded: at most `max_series` series in total; when full, the series of
// the job that ended first go, and if no job has ended, new series are
// refused and counted (GetMetricsReply.dropped_series), as are the changes
// of a metric whose kind (or histogram boundaries) differs from the one
// already kept under its name.
//
// Threading: not thread-safe; the control service's loop thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "protocol/control.pb.h"

namespace lumen::control {

struct MetricLimits {
  size_t max_series = 20000;
  int64_t finished_job_retention_ms = 10 * 60 * 1000;
};

class MetricStore {
 public:
  explicit MetricStore(MetricLimits limits = {});

  void Add(const proto::MetricBatch &batch);
  /// The job's series go `finished_job_retention_ms` after `now_ms`.
  void JobEnded(uint32_t job_id, int64_t now_ms);
  /// Forgets the series of jobs that ended more than the retention ago.
  void Expire(int64_t now_ms);
  /// Every series, by family name, then job, node and tags.
  proto::GetMetricsReply Get() const;

  size_t NumSeries() const { return num_series_; }
  int64_t Dropped() const { return dropped_; }

 private:
  struct Key {
    uint32_t job_id = 0;
    std::string node_id;
    std::vector<std::pair<std::string, std::string>> tags;
    bool operator<(const Key &o) const {
      return std::tie(job_id, node_id, tags) < std::tie(o.job_id, o.node_id, o.tags);
    }
  };
  struct Family {
    std::string description;
    std::string unit;
    proto::MetricKind kind = proto::METRIC_GAUGE;
    std::vector<double> boundaries;
    std::map<Key, proto::MetricSeries> series;
  };

  void AddFamily(uint32_t job_id, const std::string &node_id, const proto::MetricFamily &update);
  /// Makes room for one series: the job that ended first goes. False: none ended.
  bool EvictEndedJob();
  void RemoveJob(uint32_t job_id);

  const MetricLimits limits_;
  std::map<std::string, Family> families_;
  std::map<uint32_t, int64_t> ended_;  // job -> when it ended (ms)
  size_t num_series_ = 0;
  int64_t dropped_ = 0;
};

}  // namespace lumen::control
