#include "dashboard/cluster_metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <sstream>
#include <utility>

#include "base/encoding.h"
#include "dashboard/state_rows.h"
#include "dashboard/task_rows.h"

namespace lumen::dashboard {
namespace {

using prometheus::Labels;

// Counts of rows by the values of `fields` (a label each).
std::map<Labels, double> CountBy(const std::vector<Json> &rows,
                                 const std::vector<std::pair<std::string, std::string>> &fields) {
  std::map<Labels, double> counts;
  for (const Json &row : rows) {
    Labels labels;
    for (const auto &[label, field] : fields) labels[label] = row.value(field, "");
    counts[labels] += 1;
  }
  return counts;
}

}  // namespace

std::vector<prometheus::MetricFamily> ClusterMetricFamilies(const proto::GetAllNodesReply &nodes,
                                                            const proto::GetAllActorsReply &actors,
                                                            const proto::GetAllPlacementGroupsReply &groups,
                                                            const proto::GetTaskEventsReply &tasks,
                                                            const std::string &session_name) {
  prometheus::Registry registry;
  const Labels session{{"SessionName", session_name}};

  int alive = 0, dead = 0;
  for (const proto::NodeInfo &n : nodes.nodes()) (n.alive() ? alive : dead) += 1;
  prometheus::BuildGauge()
      .Name("ray_cluster_active_nodes")
      .Help("Nodes alive in the cluster")
      .Labels(session)
      .Register(registry)
      .Add({})
      .Set(alive);
  prometheus::BuildGauge()
      .Name("ray_cluster_failed_nodes")
      .Help("Nodes that registered and are dead now")
      .Labels(session)
      .Register(registry)
      .Add({})
      .Set(dead);

  // Logical resources of each alive node: USED and AVAILABLE (placement-group
  // bundles' resources included, as the node reports them).
  auto &resources = prometheus::BuildGauge()
                        .Name("ray_resources")
                        .Help("Logical resources per node, by state (USED, AVAILABLE)")
                        .Labels(session)
                        .Register(registry);
  for (const proto::NodeInfo &n : nodes.nodes()) {
    if (!n.alive()) continue;
    const proto::ResourceSet &total = n.has_usage() ? n.usage().total() : n.total();
    for (const auto &[name, amount] : total.amounts()) {
      double available = amount;
      if (n.has_usage()) {
        auto it = n.usage().available().amounts().find(name);
        available = it == n.usage().available().amounts().end() ? 0 : it->second;
      }
      const Labels node{{"Name", name}, {"instance", n.node_ip()}, {"NodeId", ToHex(n.node_id())}};
      Labels used = node, free = node;
      used["State"] = "USED";
      free["State"] = "AVAILABLE";
      resources.Add(used).Set(amount - available);
      resources.Add(free).Set(available);
    }
  }

  auto &actor_states = prometheus::BuildGauge()
                           .Name("ray_actors")
                           .Help("Actors by state and class")
                           .Labels(session)
                           .Register(registry);
  for (const auto &[labels, count] : CountBy(ActorRows(actors), {{"State", "state"}, {"Name", "class_name"}}))
    actor_states.Add(labels).Set(count);

  auto &group_states = prometheus::BuildGauge()
                           .Name("ray_placement_groups")
                           .Help("Placement groups by state")
                           .Labels(session)
                           .Register(registry);
  for (const auto &[labels, count] : CountBy(PlacementGroupRows(groups), {{"State", "state"}}))
    group_states.Add(labels).Set(count);

  // Tasks by their latest attempt's state and their name (Ray's ray_tasks,
  // from one table here rather than summed over processes' deltas).
  auto &task_states = prometheus::BuildGauge()
                          .Name("ray_tasks")
                          .Help("Tasks by state and name (their latest attempt), from the task events kept")
                          .Labels(session)
                          .Register(registry);
  for (const auto &[labels, count] :
       CountBy(LatestAttempts(TaskRows(tasks)), {{"State", "state"}, {"Name", "name"}}))
    task_states.Add(labels).Set(count);

  return registry.Collect();
}

std::string MetricsText(const std::vector<prometheus::MetricFamily> &families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

std::string ClusterMetricsText(const proto::GetAllNodesReply &nodes, const proto::GetAllActorsReply &actors,
                               const proto::GetAllPlacementGroupsReply &groups,
                               const proto::GetTaskEventsReply &tasks, const std::string &session_name) {
  return MetricsText(ClusterMetricFamilies(nodes, actors, groups, tasks, session_name));
}

}  // namespace lumen::dashboard
