#include "dashboard/user_metrics.h"

#include <cctype>
#include <limits>
#include <map>
#include <tuple>

#include "api_runtime/runtime_nodes.h"
#include "base/encoding.h"

namespace lumen::dashboard {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

bool NameChar(char c, bool first, bool colon) {
  const bool alpha = std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (colon && c == ':');
  return first ? alpha : alpha || std::isdigit(static_cast<unsigned char>(c));
}

std::string Sanitize(const std::string &name, bool colon) {
  std::string out = name;
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out.insert(0, "_");
  for (size_t i = 0; i < out.size(); ++i)
    if (!NameChar(out[i], i == 0, colon)) out[i] = '_';
  return out;
}

// HELP text escapes backslashes and newlines (the serializer writes it as is).
std::string EscapeHelp(const std::string &text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

ClientMetric::Label Label(std::string name, std::string value) { return {std::move(name), std::move(value)}; }

MetricType TypeOf(proto::MetricKind kind) {
  switch (kind) {
    case proto::METRIC_COUNTER:
    case proto::METRIC_SUM:
      return MetricType::Counter;
    case proto::METRIC_HISTOGRAM:
      return MetricType::Histogram;
    default:
      return MetricType::Gauge;
  }
}

// Ray's name for a user metric of `kind`.
std::string ExportedName(const proto::MetricFamily &family) {
  std::string name = "ray_" + SanitizeMetricName(family.name());
  const std::string total = "_total";
  const bool counts = family.kind() == proto::METRIC_COUNTER || family.kind() == proto::METRIC_SUM;
  if (counts && (name.size() < total.size() || name.compare(name.size() - total.size(), total.size(), total)))
    name += total;
  return name;
}

// One series' value in `metric`, by the family's type.
void SetValue(const proto::MetricFamily &family, const proto::MetricSeries &series, ClientMetric *metric) {
  switch (family.kind()) {
    case proto::METRIC_COUNTER:
    case proto::METRIC_SUM:
      metric->counter.value = series.value();
      break;
    case proto::METRIC_HISTOGRAM: {
      uint64_t cumulative = 0;
      for (int i = 0; i < series.bucket_counts_size(); ++i) {
        cumulative += series.bucket_counts(i);
        const double bound =
            i < family.boundaries_size() ? family.boundaries(i) : std::numeric_limits<double>::infinity();
        metric->histogram.bucket.push_back({cumulative, bound});
      }
      metric->histogram.sample_count = series.count();
      metric->histogram.sample_sum = series.sum();
      break;
    }
    default:
      metric->gauge.value = series.value();
      break;
  }
}

}  // namespace

std::string SanitizeMetricName(const std::string &name) { return Sanitize(name, /*colon=*/true); }

std::string SanitizeLabelName(const std::string &name) {
  std::string out = Sanitize(name, /*colon=*/false);
  while (out.size() > 1 && out[0] == '_' && out[1] == '_') out.erase(0, 1);
  return out;
}

std::vector<MetricFamily> UserMetricFamilies(const proto::GetMetricsReply &metrics,
                                             const std::string &session_name,
                                             const std::set<std::string> &taken) {
  std::map<std::string, MetricFamily> families;  // by exported name: two user names may sanitize alike
  std::map<std::string, std::set<std::vector<ClientMetric::Label>>> seen;
  for (const proto::MetricFamily &family : metrics.families()) {
    const std::string name = ExportedName(family);
    if (taken.count(name)) continue;
    auto [it, fresh] = families.try_emplace(name);
    MetricFamily &out = it->second;
    if (fresh) {
      out.name = name;
      out.help = EscapeHelp(family.description().empty() ? family.name() : family.description());
      out.type = TypeOf(family.kind());
    } else if (out.type != TypeOf(family.kind())) {
      continue;
    }
    for (const proto::MetricSeries &series : family.series()) {
      std::vector<ClientMetric::Label> labels{
          Label("SessionName", session_name), Label("Component", "core_worker"),
          Label("JobId", api::JobIdHex(series.job_id())), Label("NodeId", ToHex(series.node_id()))};
      std::set<std::string> names{"SessionName", "Component", "JobId", "NodeId", "le"};
      for (const proto::MetricTag &tag : series.tags()) {
        std::string key = SanitizeLabelName(tag.key());
        if (names.insert(key).second) labels.push_back(Label(std::move(key), tag.value()));
      }
      if (!seen[name].insert(labels).second) continue;
      ClientMetric metric;
      metric.label = std::move(labels);
      SetValue(family, series, &metric);
      out.metric.push_back(std::move(metric));
    }
  }
  std::vector<MetricFamily> out;
  for (auto &[name, family] : families)
    if (!family.metric.empty()) out.push_back(std::move(family));
  return out;
}

MetricFamily DroppedSeriesFamily(const proto::GetMetricsReply &metrics, const std::string &session_name) {
  ClientMetric dropped;
  dropped.label = {Label("SessionName", session_name)};
  dropped.counter.value = static_cast<double>(metrics.dropped_series());
  return {"lumen_metrics_dropped_series_total",
          "User metrics' tag sets refused: over the bounds, or under a name another kind holds",
          MetricType::Counter,
          {dropped}};
}

std::vector<MetricFamily> ComponentFamilies(const proto::GetAllNodesReply &nodes,
                                            const std::vector<proto::ProcessStats> &head,
                                            const std::string &session_name) {
  struct Use {
    double cpu = 0, rss = 0, uss = 0, shared = 0;
  };
  // (node id, node ip, component) -> the sum over its processes.
  std::map<std::tuple<std::string, std::string, std::string>, Use> uses;
  auto add = [&](const std::string &node, const std::string &ip, const proto::ProcessStats &p) {
    Use &u = uses[{node, ip, p.component()}];
    u.cpu += p.cpu_percent();
    u.rss += static_cast<double>(p.rss_bytes());
    u.uss += static_cast<double>(p.uss_bytes());
    u.shared += static_cast<double>(p.shared_bytes());
  };
  for (const proto::NodeInfo &n : nodes.nodes())
    if (n.alive())
      for (const proto::ProcessStats &p : n.usage().processes()) add(ToHex(n.node_id()), n.node_ip(), p);
  for (const proto::ProcessStats &p : head) add("", "", p);

  MetricFamily cpu{"ray_component_cpu_percentage",
                   "CPU use of the cluster's processes by component (100: one core)",
                   MetricType::Gauge,
                   {}};
  MetricFamily rss{"ray_component_rss_mb",
                   "Resident memory of the cluster's processes by component (MB)",
                   MetricType::Gauge,
                   {}};
  MetricFamily uss{"ray_component_uss_mb",
                   "Private memory of the cluster's processes by component (MB)",
                   MetricType::Gauge,
                   {}};
  MetricFamily shared{
      "ray_component_mem_shared_bytes",
      "Resident memory the cluster's processes share (the object store among it), by component",
      MetricType::Gauge,
      {}};
  for (const auto &[key, use] : uses) {
    const auto &[node, ip, component] = key;
    std::vector<ClientMetric::Label> labels{Label("SessionName", session_name),
                                            Label("Component", component)};
    if (!node.empty()) {
      labels.push_back(Label("NodeId", node));
      labels.push_back(Label("instance", ip));
    }
    auto put = [&](MetricFamily &family, double value) {
      ClientMetric m;
      m.label = labels;
      m.gauge.value = value;
      family.metric.push_back(std::move(m));
    };
    put(cpu, use.cpu);
    put(rss, use.rss / 1e6);
    put(uss, use.uss / 1e6);
    put(shared, use.shared);
  }
  if (uses.empty()) return {};
  return {cpu, rss, uss, shared};
}

}  // namespace lumen::dashboard
