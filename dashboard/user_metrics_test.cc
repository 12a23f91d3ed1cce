// The user metrics and per-process metrics in Prometheus' text format:
// Ray's names, sanitized names, escaped label values, cumulative histogram
// buckets ending at +Inf, and the sums per node and component.
#include "dashboard/user_metrics.h"

#include <gtest/gtest.h>

#include "dashboard/cluster_metrics.h"

namespace lumen::dashboard {
namespace {

proto::MetricSeries *AddSeries(proto::MetricFamily *f,
                               std::vector<std::pair<std::string, std::string>> tags) {
  proto::MetricSeries *s = f->add_series();
  for (auto &[k, v] : tags) {
    proto::MetricTag *t = s->add_tags();
    t->set_key(k);
    t->set_value(v);
  }
  s->set_job_id(1);
  s->set_node_id(std::string(2, '\xab'));
  return s;
}

std::string Text(const proto::GetMetricsReply &reply, const std::set<std::string> &taken = {}) {
  return MetricsText(UserMetricFamilies(reply, "s", taken));
}

bool Has(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

TEST(UserMetricsTest, NamesAreSanitized) {
  EXPECT_EQ(SanitizeMetricName("req.latency-ms"), "req_latency_ms");
  EXPECT_EQ(SanitizeMetricName("ns:name"), "ns:name");
  EXPECT_EQ(SanitizeMetricName("9lives"), "_9lives");
  EXPECT_EQ(SanitizeMetricName(""), "_");
  EXPECT_EQ(SanitizeLabelName("a:b"), "a_b");
  EXPECT_EQ(SanitizeLabelName("__reserved"), "_reserved");
  EXPECT_EQ(SanitizeLabelName("été"), "_t__");  // UTF-8 bytes are not allowed; "__" starts it
}

TEST(UserMetricsTest, RaysNamesTypesAndLabels) {
  proto::GetMetricsReply reply;
  proto::MetricFamily *counter = reply.add_families();
  counter->set_name("num.requests");
  counter->set_description("Requests served");
  counter->set_kind(proto::METRIC_COUNTER);
  AddSeries(counter, {{"route", "/a"}})->set_value(3);
  proto::MetricFamily *sum = reply.add_families();
  sum->set_name("bytes_total");  // already ends in _total: not doubled
  sum->set_kind(proto::METRIC_SUM);
  AddSeries(sum, {})->set_value(10);
  proto::MetricFamily *gauge = reply.add_families();
  gauge->set_name("depth");
  gauge->set_kind(proto::METRIC_GAUGE);
  AddSeries(gauge, {{"q", "x"}})->set_value(-1.5);

  const std::string text = Text(reply);
  EXPECT_TRUE(
      Has(text, "# HELP ray_num_requests_total Requests served\n# TYPE ray_num_requests_total counter\n"))
      << text;
  EXPECT_TRUE(Has(text,
                  "ray_num_requests_total{SessionName=\"s\",Component=\"core_worker\",JobId=\"01000000\","
                  "NodeId=\"abab\",route=\"/a\"} 3\n"))
      << text;
  EXPECT_TRUE(Has(text, "# TYPE ray_bytes_total counter\n")) << text;
  EXPECT_TRUE(Has(text, "# HELP ray_bytes_total bytes_total\n")) << text;  // no description: the name
  EXPECT_TRUE(Has(text, "# TYPE ray_depth gauge\n")) << text;
  EXPECT_TRUE(Has(text, ",q=\"x\"} -1.5\n")) << text;
}

TEST(UserMetricsTest, LabelValuesAreEscaped) {
  proto::GetMetricsReply reply;
  proto::MetricFamily *f = reply.add_families();
  f->set_name("odd");
  f->set_description("two\nlines \\ here");
  AddSeries(f, {{"v", "a\"b\\c\nd"}})->set_value(1);
  const std::string text = Text(reply);
  EXPECT_TRUE(Has(text, "v=\"a\\\"b\\\\c\\nd\"} 1\n")) << text;
  EXPECT_TRUE(Has(text, "# HELP ray_odd two\\nlines \\\\ here\n")) << text;  // HELP escapes \ and newline
}

TEST(UserMetricsTest, HistogramBucketsAreCumulativeAndEndAtInf) {
  proto::GetMetricsReply reply;
  proto::MetricFamily *f = reply.add_families();
  f->set_name("latency");
  f->set_description("Latency");
  f->set_kind(proto::METRIC_HISTOGRAM);
  f->add_boundaries(0.1);
  f->add_boundaries(1);
  proto::MetricSeries *s = AddSeries(f, {});
  for (uint64_t c : {2, 0, 3}) s->add_bucket_counts(c);
  s->set_count(5);
  s->set_sum(12.5);
  const std::string text = Text(reply);
  const std::string labels = "SessionName=\"s\",Component=\"core_worker\",JobId=\"01000000\",NodeId=\"abab\"";
  EXPECT_TRUE(Has(text, "# TYPE ray_latency histogram\n")) << text;
  EXPECT_TRUE(Has(text, "ray_latency_count{" + labels + "} 5\n")) << text;
  EXPECT_TRUE(Has(text, "ray_latency_sum{" + labels + "} 12.5\n")) << text;
  EXPECT_TRUE(Has(text, "ray_latency_bucket{" + labels + ",le=\"0.1\"} 2\n")) << text;
  EXPECT_TRUE(Has(text, "ray_latency_bucket{" + labels + ",le=\"1\"} 2\n")) << text;
  EXPECT_TRUE(Has(text, "ray_latency_bucket{" + labels + ",le=\"+Inf\"} 5\n")) << text;
  // +Inf once only.
  EXPECT_EQ(text.find("le=\"+Inf\""), text.rfind("le=\"+Inf\"")) << text;
}

TEST(UserMetricsTest, CollisionsAreLeftOut) {
  proto::GetMetricsReply reply;
  proto::MetricFamily *a = reply.add_families();
  a->set_name("tasks");  // ray_tasks: the cluster's own
  AddSeries(a, {})->set_value(1);
  proto::MetricFamily *b = reply.add_families();
  b->set_name("x");
  AddSeries(b, {{"a-b", "1"}})->set_value(1);
  AddSeries(b, {{"a_b", "1"}})->set_value(2);       // sanitizes to the same labels: the first stays
  AddSeries(b, {{"JobId", "mine"}})->set_value(3);  // Ray's labels are not overridden
  proto::MetricFamily *c = reply.add_families();
  c->set_name("x");  // another program's metric of another kind under a name taken
  c->set_kind(proto::METRIC_COUNTER);
  AddSeries(c, {})->set_value(1);
  const std::string text = Text(reply, {"ray_tasks"});
  EXPECT_FALSE(Has(text, "ray_tasks")) << text;
  EXPECT_TRUE(Has(text, ",a_b=\"1\"} 1\n")) << text;
  EXPECT_FALSE(Has(text, ",a_b=\"1\"} 2\n")) << text;
  EXPECT_FALSE(Has(text, "mine")) << text;
  EXPECT_TRUE(Has(text, "ray_x_total")) << text;  // its own family: ray_x_total
}

TEST(ComponentMetricsTest, SumsPerNodeAndComponent) {
  proto::GetAllNodesReply nodes;
  proto::NodeInfo *n = nodes.add_nodes();
  n->set_node_id(std::string(2, '\x01'));
  n->set_node_ip("10.0.0.1");
  n->set_alive(true);
  auto add = [&](proto::NodeInfo *node, const std::string &component, double cpu, uint64_t rss) {
    proto::ProcessStats *p = node->mutable_usage()->add_processes();
    p->set_component(component);
    p->set_cpu_percent(cpu);
    p->set_rss_bytes(rss);
    p->set_uss_bytes(rss / 2);
    p->set_shared_bytes(rss / 4);
  };
  add(n, "core_worker", 20, 2000000);
  add(n, "core_worker", 30, 4000000);
  add(n, "raylet", 5, 1000000);
  proto::NodeInfo *dead = nodes.add_nodes();
  dead->set_node_id(std::string(2, '\x02'));
  add(dead, "raylet", 1, 1);  // a dead node's last report: left out
  proto::ProcessStats gcs;
  gcs.set_component("gcs");
  gcs.set_rss_bytes(3000000);
  const std::string text = MetricsText(ComponentFamilies(nodes, {gcs}, "s"));
  const std::string worker =
      "{SessionName=\"s\",Component=\"core_worker\",NodeId=\"0101\",instance=\"10.0.0.1\"}";
  EXPECT_TRUE(Has(text, "ray_component_cpu_percentage" + worker + " 50\n")) << text;
  EXPECT_TRUE(Has(text, "ray_component_rss_mb" + worker + " 6\n")) << text;
  EXPECT_TRUE(Has(text, "ray_component_uss_mb" + worker + " 3\n")) << text;
  EXPECT_TRUE(Has(text, "ray_component_mem_shared_bytes" + worker + " 1500000\n")) << text;
  EXPECT_TRUE(Has(text, "ray_component_rss_mb{SessionName=\"s\",Component=\"gcs\"} 3\n")) << text;
  EXPECT_FALSE(Has(text, "0202")) << text;
  EXPECT_TRUE(MetricsText(ComponentFamilies({}, {}, "s")).empty());
}

}  // namespace
}  // namespace lumen::dashboard
