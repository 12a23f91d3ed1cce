// What ray::Gauge, ray::Counter, ray::Sum and ray::Histogram record in a
// process (<ray/api/metric.h>: each metric's state is a MetricCell), and the
// changes that leave it for the control service (control/metric_store.h),
// which adds them up over the cluster's processes for the dashboard's
// /metrics.
//
// Per tag set a cell keeps the value the public accessors read (a gauge's
// and a histogram's latest, a counter's or a sum's total), a histogram's
// bucket counts, sum and count, and what changed since the last batch: a
// counter's increase, the new observations' buckets, a gauge's new value.
// Changes leave as deltas, so a process that dies has already added what it
// sent to the cluster's totals, and those never go down.
//
// Cheap on the hot path: Record takes the cell's own lock for a lookup by
// the caller's tags (no copy of them unless the tag set is new) and a few
// additions; no I/O, nothing allocated for a known tag set. A cell keeps at
// most kMaxSeries tag sets; values for more are dropped and counted.
// MetricRegistry::TakeBatch (the core worker's flush timer, off the per-call
// path) collects the changes of every cell of the process.
//
// No protobuf here: the public API's own tests build this file without the
// runtime (tests/api); the core worker makes the message (core_worker_events.cc).
//
// Threading: every method of both classes is safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lumen::worker {

using MetricTags = std::map<std::string, std::string>;

/// How values combine: a gauge keeps the latest, the others add up.
enum class MetricKind { kGauge, kCounter, kSum, kHistogram };

/// One tag set's changes since the last batch.
struct MetricSeriesChange {
  MetricTags tags;
  double value = 0;               // gauge: the latest value; counter, sum: the increase
  std::vector<uint64_t> buckets;  // histogram: new observations per bucket (not cumulative)
  double sum = 0;                 // histogram: their sum
  uint64_t count = 0;             // histogram: how many
};

/// A metric's facts and its changed tag sets.
struct MetricChanges {
  std::string name, description, unit;
  MetricKind kind = MetricKind::kGauge;
  std::vector<double> boundaries;
  std::vector<MetricSeriesChange> series;
};

/// Everything a process's metrics changed since the last batch.
struct MetricBatchChanges {
  std::vector<MetricChanges> metrics;
  int64_t dropped_series = 0;  // tag sets refused (kMaxSeries)
};

class MetricCell {
 public:
  /// Tag sets kept per metric in a process.
  static constexpr size_t kMaxSeries = 10000;

  /// `boundaries` (histograms): bucket upper bounds; sorted here.
  MetricCell(std::string name, std::string description, std::string unit, MetricKind kind,
             std::vector<double> boundaries = {});
  ~MetricCell();

  /// Ascending, without duplicates or non-finite values.
  static std::vector<double> SortedBoundaries(std::vector<double> boundaries);

  const std::string &name() const { return name_; }
  MetricKind kind() const { return kind_; }
  const std::vector<double> &boundaries() const { return boundaries_; }

  /// A gauge's new value, a counter's or sum's increase (negative or NaN
  /// ignored: counters only go up), a histogram's observation.
  void Record(double value, const std::unordered_map<std::string, std::string> &tags);

  /// The value kept for a tag set (see the header comment), if any.
  bool Value(const std::unordered_map<std::string, std::string> &tags, double *value) const;
  std::map<MetricTags, double> Values() const;

  struct HistogramCounts {
    std::vector<uint64_t> buckets;  // per bucket (boundaries + 1, the last +Inf), not cumulative
    double sum = 0;
    uint64_t count = 0;
  };
  /// A histogram's counts for a tag set, if any was observed.
  bool Histogram(const std::unordered_map<std::string, std::string> &tags, HistogramCounts *out) const;

  /// Moves the changes since the last call into `out` (this metric's facts
  /// and one entry per changed tag set). False: none.
  bool TakeChanges(MetricChanges *out);
  /// Forgets the changes not yet taken (a forked worker's inherited ones).
  void DiscardChanges();
  bool HasChanges() const;
  /// Tag sets refused since the last call (over kMaxSeries).
  int64_t TakeDropped();

 private:
  struct Series {
    double value = 0;
    std::vector<uint64_t> buckets;
    double sum = 0;
    uint64_t count = 0;
    // Not yet taken.
    bool changed = false;
    double pending = 0;
    std::vector<uint64_t> pending_buckets;
    double pending_sum = 0;
    uint64_t pending_count = 0;
  };
  struct Less;  // MetricTags against the caller's tags without copying them
  using SeriesMap = std::map<MetricTags, Series, Less>;
  using SeriesEntry = std::pair<const MetricTags, Series>;  // SeriesMap's value_type

  Series *FindLocked(const std::unordered_map<std::string, std::string> &tags) const;

  const std::string name_;
  const std::string description_;
  const std::string unit_;
  const MetricKind kind_;
  const std::vector<double> boundaries_;
  mutable std::mutex mu_;
  std::unique_ptr<SeriesMap> series_;   // mu_
  std::vector<SeriesEntry *> changed_;  // mu_: series with changes not yet taken
  int64_t dropped_ = 0;                 // mu_
};

/// The process's cells: every metric constructed registers its cell here.
class MetricRegistry {
 public:
  static MetricRegistry &Instance();

  /// Registers a cell. Now and then (as the list doubles) it also lets go of
  /// cells whose metric is gone and that have nothing left to send, or
  /// anything at all while nobody sends (local mode): metrics made and
  /// dropped in a loop must not pile up.
  void Add(std::shared_ptr<MetricCell> cell);
  /// A core worker that sends batches starts or stops doing so.
  void AddExporter();
  void RemoveExporter();
  /// The changes of every cell since the last batch; cells whose metric is
  /// gone leave after their last changes. No metrics: nothing changed.
  MetricBatchChanges TakeBatch();
  /// Forgets every change not yet sent: a worker forked from a process that
  /// recorded (the fork server, or the driver before ray::Init) must not
  /// send its parent's values again.
  void DiscardChanges();
  size_t NumCells();

 private:
  /// Drops the cells nobody else holds (see Add). mu_ held.
  void PruneLocked();

  std::mutex mu_;
  std::vector<std::shared_ptr<MetricCell>> cells_;
  size_t prune_at_ = 64;  // mu_: the next size at which Add prunes
  int exporters_ = 0;     // mu_
};

}  // namespace lumen::worker
