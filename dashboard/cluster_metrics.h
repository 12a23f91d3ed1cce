// The cluster's metrics in Prometheus' text format, with Ray's metric names
// and labels (ray_cluster_active_nodes, ray_resources, ray_actors,
// ray_placement_groups, ray_tasks from the task events, ...), made at each scrape from the control service's
// tables, so the numbers are as fresh as the tables and nothing is kept
// between scrapes. prometheus-cpp builds the families and writes the text.
//
// Threading: a plain function; no state.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "protocol/control.pb.h"

namespace lumen::dashboard {

/// `session_name`: the head's session folder's name (Ray's SessionName label);
/// `tasks`: the control service's task summary (its `counts`).
std::vector<prometheus::MetricFamily> ClusterMetricFamilies(const proto::GetAllNodesReply &nodes,
                                                            const proto::GetAllActorsReply &actors,
                                                            const proto::GetAllPlacementGroupsReply &groups,
                                                            const proto::GetTaskEventsReply &tasks,
                                                            const std::string &session_name);

/// Families in Prometheus' text format (version 0.0.4).
std::string MetricsText(const std::vector<prometheus::MetricFamily> &families);

/// ClusterMetricFamilies as text.
std::string ClusterMetricsText(const proto::GetAllNodesReply &nodes, const proto::GetAllActorsReply &actors,
                               const proto::GetAllPlacementGroupsReply &groups,
                               const proto::GetTaskEventsReply &tasks, const std::string &session_name);

}  // namespace lumen::dashboard
