// MetricCell and MetricRegistry: what a process keeps per tag set, and the
// changes that leave it in batches (deltas for counters and histograms, the
// latest value for gauges), taken once each.
#include "worker/metric_recorder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace lumen::worker {
namespace {

const MetricSeriesChange *FindSeries(const MetricChanges &m, const std::string &key,
                                     const std::string &value) {
  for (const MetricSeriesChange &s : m.series) {
    auto it = s.tags.find(key);
    if (it != s.tags.end() && it->second == value) return &s;
  }
  return nullptr;
}

TEST(MetricCellTest, CounterKeepsTotalsAndSendsIncreasesOnce) {
  MetricCell cell("requests", "served", "1", MetricKind::kCounter);
  cell.Record(2, {{"route", "/a"}, {"code", "200"}});
  cell.Record(3, {{"code", "200"}, {"route", "/a"}});  // the same tag set in another order
  cell.Record(1, {{"route", "/b"}});
  cell.Record(-5, {{"route", "/a"}, {"code", "200"}});  // counters only go up
  double value = 0;
  ASSERT_TRUE(cell.Value({{"route", "/a"}, {"code", "200"}}, &value));
  EXPECT_EQ(value, 5);

  MetricChanges family;
  ASSERT_TRUE(cell.TakeChanges(&family));
  EXPECT_EQ(family.name, "requests");
  EXPECT_EQ(family.description, "served");
  EXPECT_EQ(family.kind, MetricKind::kCounter);
  ASSERT_EQ(family.series.size(), 2u);
  const MetricSeriesChange *a = FindSeries(family, "route", "/a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->value, 5);
  ASSERT_EQ(a->tags.size(), 2u);
  EXPECT_EQ(a->tags.begin()->first, "code");

  MetricChanges again;
  EXPECT_FALSE(cell.TakeChanges(&again));  // nothing new
  cell.Record(4, {{"route", "/b"}});
  ASSERT_TRUE(cell.TakeChanges(&again));
  ASSERT_EQ(again.series.size(), 1u);
  EXPECT_EQ(again.series[0].value, 4);  // the increase since, not the total
  ASSERT_TRUE(cell.Value({{"route", "/b"}}, &value));
  EXPECT_EQ(value, 5);
}

TEST(MetricCellTest, GaugeSendsItsLatestValue) {
  MetricCell cell("queue", "", "", MetricKind::kGauge);
  cell.Record(5, {});
  cell.Record(3, {});
  MetricChanges family;
  ASSERT_TRUE(cell.TakeChanges(&family));
  ASSERT_EQ(family.series.size(), 1u);
  EXPECT_EQ(family.series[0].value, 3);
  EXPECT_TRUE(family.series[0].tags.empty());
  cell.Record(-2, {});  // a gauge may go down and below zero
  family = MetricChanges();
  ASSERT_TRUE(cell.TakeChanges(&family));
  EXPECT_EQ(family.series[0].value, -2);
}

TEST(MetricCellTest, HistogramCountsPerBucketWithBoundsInclusive) {
  MetricCell cell("latency", "", "ms", MetricKind::kHistogram, {10, 1, 100, 10});
  EXPECT_EQ(cell.boundaries(), (std::vector<double>{1, 10, 100}));  // sorted, no duplicates
  for (double v : {0.5, 1.0, 7.0, 10.0, 50.0, 1000.0}) cell.Record(v, {{"k", "v"}});
  MetricCell::HistogramCounts counts;
  ASSERT_TRUE(cell.Histogram({{"k", "v"}}, &counts));
  // le=1: 0.5, 1; le=10: 7, 10; le=100: 50; +Inf: 1000.
  EXPECT_EQ(counts.buckets, (std::vector<uint64_t>{2, 2, 1, 1}));
  EXPECT_EQ(counts.count, 6u);
  EXPECT_DOUBLE_EQ(counts.sum, 1068.5);
  double last = 0;
  ASSERT_TRUE(cell.Value({{"k", "v"}}, &last));
  EXPECT_EQ(last, 1000);  // the accessor's latest value, as before

  MetricChanges family;
  ASSERT_TRUE(cell.TakeChanges(&family));
  ASSERT_EQ(family.boundaries.size(), 3u);
  ASSERT_EQ(family.series.size(), 1u);
  EXPECT_EQ(family.series[0].buckets.size(), 4u);
  EXPECT_EQ(family.series[0].count, 6u);
  cell.Record(5, {{"k", "v"}});
  family = MetricChanges();
  ASSERT_TRUE(cell.TakeChanges(&family));
  const MetricSeriesChange &s = family.series[0];
  EXPECT_EQ(s.buckets, (std::vector<uint64_t>{0, 1, 0, 0}));
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.sum, 5);
  EXPECT_FALSE(cell.Histogram({{"k", "other"}}, &counts));
}

TEST(MetricCellTest, TagSetsBeyondTheBoundAreDroppedAndCounted) {
  MetricCell cell("wide", "", "", MetricKind::kCounter);
  for (size_t i = 0; i < MetricCell::kMaxSeries + 5; ++i) cell.Record(1, {{"id", std::to_string(i)}});
  EXPECT_EQ(cell.Values().size(), MetricCell::kMaxSeries);
  EXPECT_EQ(cell.TakeDropped(), 5);
  EXPECT_EQ(cell.TakeDropped(), 0);
  cell.Record(1, {{"id", "0"}});  // a known tag set still counts
  double v = 0;
  ASSERT_TRUE(cell.Value({{"id", "0"}}, &v));
  EXPECT_EQ(v, 2);
}

TEST(MetricCellTest, DiscardedChangesNeverLeave) {
  MetricCell cell("inherited", "", "", MetricKind::kCounter);
  cell.Record(3, {});
  cell.DiscardChanges();
  MetricChanges family;
  EXPECT_FALSE(cell.TakeChanges(&family));
  cell.Record(1, {});
  ASSERT_TRUE(cell.TakeChanges(&family));
  EXPECT_EQ(family.series[0].value, 1);
}

TEST(MetricCellTest, ConcurrentRecordsAllCount) {
  MetricCell cell("hits", "", "", MetricKind::kCounter);
  constexpr int kThreads = 4, kEach = 20000;
  double sent = 0;
  std::atomic<bool> done{false};
  std::thread taker([&] {  // batches taken while the others record
    while (!done) {
      MetricChanges f;
      if (cell.TakeChanges(&f))
        for (const auto &s : f.series) sent += s.value;
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) cell.Record(1, {{"shard", std::to_string(t % 2)}});
    });
  for (auto &t : threads) t.join();
  done = true;
  taker.join();
  MetricChanges rest;
  if (cell.TakeChanges(&rest))
    for (const auto &s : rest.series) sent += s.value;
  EXPECT_EQ(sent, kThreads * kEach);
  double total = 0;
  for (const auto &[tags, v] : cell.Values()) total += v;
  EXPECT_EQ(total, kThreads * kEach);
}

TEST(MetricRegistryTest, BatchesEveryCellAndLetsGoOfDeadOnesAfterTheirLastChanges) {
  MetricRegistry &registry = MetricRegistry::Instance();
  (void)registry.TakeBatch();
  const size_t before = registry.NumCells();
  auto kept = std::make_shared<MetricCell>("kept", "", "", MetricKind::kGauge);
  auto gone = std::make_shared<MetricCell>("gone", "", "", MetricKind::kCounter);
  registry.Add(kept);
  registry.Add(gone);
  kept->Record(1, {});
  gone->Record(2, {});
  gone.reset();  // its metric is destroyed with a change not yet sent
  MetricBatchChanges batch = registry.TakeBatch();
  ASSERT_EQ(batch.metrics.size(), 2u);
  EXPECT_EQ(registry.NumCells(), before + 1);  // "gone" sent its last change and left
  EXPECT_TRUE(registry.TakeBatch().metrics.empty());
  kept->Record(2, {});
  registry.DiscardChanges();
  EXPECT_TRUE(registry.TakeBatch().metrics.empty());
}

TEST(MetricRegistryTest, MetricsMadeAndDroppedInALoopDoNotPileUp) {
  MetricRegistry &registry = MetricRegistry::Instance();
  (void)registry.TakeBatch();
  for (int i = 0; i < 10000; ++i) {  // nobody sends (local mode): even changed ones go
    auto cell = std::make_shared<MetricCell>("loop", "", "", MetricKind::kCounter);
    registry.Add(cell);
    cell->Record(1, {});
  }
  EXPECT_LT(registry.NumCells(), 1000u);

  registry.AddExporter();  // a core worker sends: a dropped metric's changes wait for it
  auto kept = std::make_shared<MetricCell>("last", "", "", MetricKind::kCounter);
  registry.Add(kept);
  kept->Record(4, {});
  kept.reset();
  for (int i = 0; i < 1000; ++i)
    registry.Add(std::make_shared<MetricCell>("idle", "", "", MetricKind::kGauge));
  EXPECT_LT(registry.NumCells(), 1000u);
  bool sent = false;
  for (const MetricChanges &m : registry.TakeBatch().metrics)
    sent |= m.name == "last" && m.series[0].value == 4;
  EXPECT_TRUE(sent);
  registry.RemoveExporter();
}

}  // namespace
}  // namespace lumen::worker
