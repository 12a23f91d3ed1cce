// The parts of /metrics that come from the cluster's processes rather than
// its tables: the user metrics (ray::Counter, Gauge, Histogram, Sum) the
// control service sums (control/metric_store.h), and Ray's per-process
// ray_component_* gauges from each node's /proc readings. Names and labels
// follow Ray's: `ray_<name>` (characters Prometheus does not allow become
// '_'), counters and sums as counters `ray_<name>_total`, histograms with
// cumulative buckets ending at +Inf, `_sum` and `_count`; labels SessionName,
// Component, JobId, NodeId and the user's tags.
//
// Threading: plain functions; no state.
#pragma once

#include <prometheus/metric_family.h>

#include <set>
#include <string>
#include <vector>

#include "protocol/control.pb.h"

namespace lumen::dashboard {

/// `name` as a Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
std::string SanitizeMetricName(const std::string &name);
/// `name` as a label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"
/// (reserved for Prometheus' own).
std::string SanitizeLabelName(const std::string &name);

/// The user metrics' families. A family whose name is in `taken` (the
/// cluster's own) is left out, as is a second series with the same labels
/// (tags that differ only in characters sanitizing replaced).
std::vector<prometheus::MetricFamily> UserMetricFamilies(const proto::GetMetricsReply &metrics,
                                                         const std::string &session_name,
                                                         const std::set<std::string> &taken);

/// lumen_metrics_dropped_series_total (a Lumen metric, not Ray's): user
/// metrics' tag sets refused by the bounds or for a conflicting kind.
prometheus::MetricFamily DroppedSeriesFamily(const proto::GetMetricsReply &metrics,
                                             const std::string &session_name);

/// ray_component_cpu_percentage, ray_component_rss_mb, ray_component_uss_mb
/// and ray_component_mem_shared_bytes: per node and Component, the sum over
/// its processes (`nodes` asked with processes); `head` are processes with
/// no node of their own (the control service, the dashboard).
std::vector<prometheus::MetricFamily> ComponentFamilies(const proto::GetAllNodesReply &nodes,
                                                        const std::vector<proto::ProcessStats> &head,
                                                        const std::string &session_name);

}  // namespace lumen::dashboard
