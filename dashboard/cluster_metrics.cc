#include "dashboard/cluster_metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <utility>

#include "base/encoding.h"
#include "control/task_query.h"
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

// Each alive node's machine (when it reported one) and object store: Ray's
// ray_node_* and ray_object_store_* gauges, per node (instance: its address).
void AddNodeFamilies(const proto::GetAllNodesReply &nodes, const Labels &session,
                     prometheus::Registry &registry) {
  auto gauge = [&](const char *name, const char *help) -> prometheus::Family<prometheus::Gauge> & {
    return prometheus::BuildGauge().Name(name).Help(help).Labels(session).Register(registry);
  };
  auto &cpu = gauge("ray_node_cpu_utilization", "CPU use of the node's machine, all cores (percent)");
  auto &cores = gauge("ray_node_cpu_count", "Cores of the node's machine");
  auto &mem_used =
      gauge("ray_node_mem_used", "Memory in use on the node's machine (bytes): total minus available");
  auto &mem_total = gauge("ray_node_mem_total", "Memory of the node's machine (bytes)");
  auto &mem_available = gauge("ray_node_mem_available", "Memory available on the node's machine (bytes)");
  auto &mem_shared = gauge("ray_node_mem_shared_bytes", "Shared memory on the node's machine (bytes)");
  auto &disk_used = gauge("ray_node_disk_usage", "Disk used where the node keeps its session (bytes)");
  auto &disk_free = gauge("ray_node_disk_free", "Disk free where the node keeps its session (bytes)");
  // Traffic: totals since the machine booted, and speeds since the node was
  // last asked (each scrape asks).
  struct Traffic {
    prometheus::Family<prometheus::Gauge> &family;
    double (*value)(const proto::MachineStats &);
  };
  const Traffic traffic[] = {
      {gauge("ray_node_network_received", "Bytes the node's machine received, all interfaces but loopback"),
       [](const proto::MachineStats &m) { return static_cast<double>(m.net_received_bytes()); }},
      {gauge("ray_node_network_sent", "Bytes the node's machine sent, all interfaces but loopback"),
       [](const proto::MachineStats &m) { return static_cast<double>(m.net_sent_bytes()); }},
      {gauge("ray_node_network_receive_speed", "Bytes a second the node's machine receives"),
       [](const proto::MachineStats &m) { return m.net_receive_speed(); }},
      {gauge("ray_node_network_send_speed", "Bytes a second the node's machine sends"),
       [](const proto::MachineStats &m) { return m.net_send_speed(); }},
      {gauge("ray_node_disk_io_read", "Bytes read from the node's machine's disks"),
       [](const proto::MachineStats &m) { return static_cast<double>(m.disk_read_bytes()); }},
      {gauge("ray_node_disk_io_write", "Bytes written to the node's machine's disks"),
       [](const proto::MachineStats &m) { return static_cast<double>(m.disk_written_bytes()); }},
      {gauge("ray_node_disk_io_read_count", "Reads from the node's machine's disks"),
       [](const proto::MachineStats &m) { return static_cast<double>(m.disk_reads()); }},
      {gauge("ray_node_disk_io_write_count", "Writes to the node's machine's disks"),
       [](const proto::MachineStats &m) { return static_cast<double>(m.disk_writes()); }},
      {gauge("ray_node_disk_io_read_speed", "Bytes a second read from the node's machine's disks"),
       [](const proto::MachineStats &m) { return m.disk_read_speed(); }},
      {gauge("ray_node_disk_io_write_speed", "Bytes a second written to the node's machine's disks"),
       [](const proto::MachineStats &m) { return m.disk_write_speed(); }},
      {gauge("ray_node_disk_read_iops", "Reads a second from the node's machine's disks"),
       [](const proto::MachineStats &m) { return m.disk_read_iops(); }},
      {gauge("ray_node_disk_write_iops", "Writes a second to the node's machine's disks"),
       [](const proto::MachineStats &m) { return m.disk_write_iops(); }},
  };
  auto &store = gauge("ray_object_store_memory", "Object store memory in use, by location (bytes)");
  auto &store_used = gauge("ray_object_store_used_memory", "Object store memory in use (bytes)");
  auto &store_available = gauge("ray_object_store_available_memory", "Object store memory free (bytes)");
  auto &store_objects = gauge("ray_object_store_num_local_objects", "Objects in the node's object store");
  for (const proto::NodeInfo &n : nodes.nodes()) {
    if (!n.alive() || !n.has_usage()) continue;
    const Labels node{{"instance", n.node_ip()}, {"NodeId", ToHex(n.node_id())}};
    const proto::NodeUsage &u = n.usage();
    if (u.store_capacity() > 0) {
      Labels shm = node;
      shm["Location"] =
          "MMAP_SHM";  // the node's shared-memory arena; Lumen neither spills nor falls back to disk
      store.Add(shm).Set(static_cast<double>(u.store_used()));
      store_used.Add(node).Set(static_cast<double>(u.store_used()));
      store_available.Add(node).Set(
          static_cast<double>(u.store_capacity() - std::min(u.store_used(), u.store_capacity())));
      store_objects.Add(node).Set(static_cast<double>(u.store_objects()));
    }
    if (!u.has_machine()) continue;
    const proto::MachineStats &m = u.machine();
    cpu.Add(node).Set(m.cpu_percent());
    cores.Add(node).Set(m.cpu_count());
    mem_used.Add(node).Set(
        static_cast<double>(m.mem_total_bytes() - std::min(m.mem_available_bytes(), m.mem_total_bytes())));
    mem_total.Add(node).Set(static_cast<double>(m.mem_total_bytes()));
    mem_available.Add(node).Set(static_cast<double>(m.mem_available_bytes()));
    mem_shared.Add(node).Set(static_cast<double>(m.mem_shared_bytes()));
    disk_used.Add(node).Set(
        static_cast<double>(m.disk_total_bytes() - std::min(m.disk_free_bytes(), m.disk_total_bytes())));
    disk_free.Add(node).Set(static_cast<double>(m.disk_free_bytes()));
    for (const Traffic &t : traffic) t.family.Add(node).Set(t.value(m));
  }
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

  AddNodeFamilies(nodes, session, registry);

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
  std::map<Labels, double> task_counts;
  for (const proto::TaskCount &c : tasks.counts())
    task_counts[{{"State", control::TaskStateName(c.state())}, {"Name", c.name()}}] +=
        static_cast<double>(c.count());
  for (const auto &[labels, count] : task_counts) task_states.Add(labels).Set(count);

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
