// MetricStore: changes from many processes add up per job, node and tag set;
// a gauge keeps the latest; the series of ended jobs go after the retention
// or when the bound needs room; conflicting kinds and overflow are counted.
#include "control/metric_store.h"

#include <gtest/gtest.h>

namespace lumen::control {
namespace {

proto::MetricBatch Batch(uint32_t job, const std::string &node, proto::MetricKind kind,
                         const std::string &name, double value, const std::string &tag = "") {
  proto::MetricBatch batch;
  batch.set_job_id(job);
  batch.set_node_id(node);
  proto::MetricFamily *f = batch.add_families();
  f->set_name(name);
  f->set_description("d");
  f->set_kind(kind);
  proto::MetricSeries *s = f->add_series();
  if (!tag.empty()) {
    proto::MetricTag *t = s->add_tags();
    t->set_key("k");
    t->set_value(tag);
  }
  s->set_value(value);
  return batch;
}

proto::MetricBatch HistogramBatch(uint32_t job, std::vector<double> bounds, std::vector<uint64_t> buckets,
                                  double sum) {
  proto::MetricBatch batch;
  batch.set_job_id(job);
  batch.set_node_id("n");
  proto::MetricFamily *f = batch.add_families();
  f->set_name("latency");
  f->set_kind(proto::METRIC_HISTOGRAM);
  for (double b : bounds) f->add_boundaries(b);
  proto::MetricSeries *s = f->add_series();
  uint64_t count = 0;
  for (uint64_t c : buckets) {
    s->add_bucket_counts(c);
    count += c;
  }
  s->set_sum(sum);
  s->set_count(count);
  return batch;
}

TEST(MetricStoreTest, CountersAddUpOverProcessesPerJobAndNode) {
  MetricStore store;
  store.Add(Batch(1, "n1", proto::METRIC_COUNTER, "hits", 2, "a"));   // a driver
  store.Add(Batch(1, "n1", proto::METRIC_COUNTER, "hits", 3, "a"));   // a worker on the same node
  store.Add(Batch(1, "n2", proto::METRIC_COUNTER, "hits", 4, "a"));   // another node
  store.Add(Batch(2, "n1", proto::METRIC_COUNTER, "hits", 5, "a"));   // another job
  store.Add(Batch(1, "n1", proto::METRIC_COUNTER, "hits", -9, "a"));  // never down
  proto::GetMetricsReply reply = store.Get();
  ASSERT_EQ(reply.families_size(), 1);
  const proto::MetricFamily &f = reply.families(0);
  EXPECT_EQ(f.name(), "hits");
  EXPECT_EQ(f.description(), "d");
  ASSERT_EQ(f.series_size(), 3);
  EXPECT_EQ(f.series(0).job_id(), 1u);
  EXPECT_EQ(f.series(0).node_id(), "n1");
  EXPECT_EQ(f.series(0).value(), 5);
  EXPECT_EQ(f.series(0).tags(0).value(), "a");
  EXPECT_EQ(f.series(1).value(), 4);
  EXPECT_EQ(f.series(2).value(), 5);
  EXPECT_EQ(store.NumSeries(), 3u);
}

TEST(MetricStoreTest, AGaugeKeepsTheLatestValue) {
  MetricStore store;
  store.Add(Batch(1, "n", proto::METRIC_GAUGE, "depth", 7));
  store.Add(Batch(1, "n", proto::METRIC_GAUGE, "depth", 2));
  EXPECT_EQ(store.Get().families(0).series(0).value(), 2);
}

TEST(MetricStoreTest, HistogramBucketsSumAndCountAddUp) {
  MetricStore store;
  store.Add(HistogramBatch(1, {1, 10}, {1, 0, 2}, 40));
  store.Add(HistogramBatch(1, {1, 10}, {0, 3, 1}, 25));
  store.Add(HistogramBatch(1, {1, 10}, {1, 1}, 3));  // malformed: two buckets for two bounds
  const proto::GetMetricsReply reply = store.Get();
  const proto::MetricSeries &s = reply.families(0).series(0);
  EXPECT_EQ(std::vector<uint64_t>(s.bucket_counts().begin(), s.bucket_counts().end()),
            (std::vector<uint64_t>{1, 3, 3}));
  EXPECT_EQ(s.count(), 7u);
  EXPECT_EQ(s.sum(), 65);
  EXPECT_EQ(store.Dropped(), 1);
}

TEST(MetricStoreTest, AnotherKindUnderATakenNameIsRefused) {
  MetricStore store;
  store.Add(Batch(1, "n", proto::METRIC_COUNTER, "x", 1));
  store.Add(Batch(2, "n", proto::METRIC_GAUGE, "x", 9));
  store.Add(HistogramBatch(1, {1}, {1, 1}, 2));
  store.Add(HistogramBatch(1, {2}, {1, 1}, 2));  // other boundaries
  proto::GetMetricsReply reply = store.Get();
  ASSERT_EQ(reply.families_size(), 2);
  EXPECT_EQ(reply.families(1).name(), "x");
  EXPECT_EQ(reply.families(1).kind(), proto::METRIC_COUNTER);
  EXPECT_EQ(reply.families(1).series_size(), 1);
  EXPECT_EQ(reply.dropped_series(), 2);
}

TEST(MetricStoreTest, AnEndedJobsSeriesStayForTheRetentionThenGo) {
  MetricStore store({/*max_series=*/100, /*finished_job_retention_ms=*/1000});
  store.Add(Batch(1, "n", proto::METRIC_COUNTER, "hits", 1));
  store.Add(Batch(2, "n", proto::METRIC_COUNTER, "hits", 1));
  store.JobEnded(1, 5000);
  store.Expire(5999);
  EXPECT_EQ(store.NumSeries(), 2u);  // final values stay visible to scrapes meanwhile
  store.Expire(6000);
  EXPECT_EQ(store.NumSeries(), 1u);
  EXPECT_EQ(store.Get().families(0).series(0).job_id(), 2u);
}

TEST(MetricStoreTest, WhenFullEndedJobsMakeRoomElseNewSeriesAreDropped) {
  MetricStore store({/*max_series=*/2, /*finished_job_retention_ms=*/1000000});
  store.Add(Batch(1, "n", proto::METRIC_COUNTER, "hits", 1, "a"));
  store.Add(Batch(2, "n", proto::METRIC_COUNTER, "hits", 1, "a"));
  store.Add(Batch(2, "n", proto::METRIC_COUNTER, "hits", 1, "b"));  // full, no job ended
  EXPECT_EQ(store.NumSeries(), 2u);
  EXPECT_EQ(store.Dropped(), 1);
  store.Add(Batch(2, "n", proto::METRIC_COUNTER, "hits", 1, "a"));  // a kept series still counts
  store.JobEnded(1, 10);
  store.Add(Batch(2, "n", proto::METRIC_COUNTER, "hits", 1, "b"));  // job 1's series makes room
  proto::GetMetricsReply reply = store.Get();
  ASSERT_EQ(reply.families(0).series_size(), 2);
  for (const auto &s : reply.families(0).series()) EXPECT_EQ(s.job_id(), 2u);
  EXPECT_EQ(reply.families(0).series(0).value(), 2);
  EXPECT_EQ(reply.dropped_series(), 1);
}

TEST(MetricStoreTest, DropsReportedByProcessesCount) {
  MetricStore store;
  proto::MetricBatch batch;
  batch.set_dropped_series(3);
  store.Add(batch);
  EXPECT_EQ(store.Get().dropped_series(), 3);
}

}  // namespace
}  // namespace lumen::control
