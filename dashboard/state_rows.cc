#include "dashboard/state_rows.h"

#include "api_runtime/runtime_nodes.h"
#include "base/encoding.h"
#include "ray/api/task_options.h"

namespace lumen::dashboard {
namespace {

Json Resources(const proto::ResourceSet &set) {
  Json out = Json::object();
  for (const auto &[name, amount] : set.amounts()) out[name] = amount;
  return out;
}

const char *ActorStateName(proto::ActorState state) {
  switch (state) {
    case proto::DEPENDENCIES_UNREADY:
      return "DEPENDENCIES_UNREADY";
    case proto::PENDING_CREATION:
      return "PENDING_CREATION";
    case proto::ALIVE:
      return "ALIVE";
    case proto::RESTARTING:
      return "RESTARTING";
    case proto::DEAD:
      return "DEAD";
    default:
      return "UNKNOWN";
  }
}

const char *GroupStateName(proto::PlacementGroupState state) {
  switch (state) {
    case proto::PG_PENDING:
      return "PENDING";
    case proto::PG_CREATED:
      return "CREATED";
    case proto::PG_REMOVED:
      return "REMOVED";
    case proto::PG_RESCHEDULING:
      return "RESCHEDULING";
    default:
      return "UNKNOWN";
  }
}

const char *StrategyName(int strategy) {
  switch (static_cast<ray::PlacementStrategy>(strategy)) {
    case ray::PlacementStrategy::PACK:
      return "PACK";
    case ray::PlacementStrategy::SPREAD:
      return "SPREAD";
    case ray::PlacementStrategy::STRICT_PACK:
      return "STRICT_PACK";
    case ray::PlacementStrategy::STRICT_SPREAD:
      return "STRICT_SPREAD";
    default:
      return "UNKNOWN";
  }
}

// A bytes id as hex, or null when it is empty (Ray's rows say null).
Json IdOrNull(const std::string &bytes) { return bytes.empty() ? Json(nullptr) : Json(ToHex(bytes)); }

// An actor's state changes, oldest first, shaped as a task row's `events`
// (state and created_ms), with where its worker was and why it died or
// restarted.
Json ActorEvents(const proto::ActorInfo &a) {
  Json events = Json::array();
  for (const proto::ActorStateTransition &t : a.state_transitions()) {
    events.push_back({{"state", ActorStateName(t.state())},
                      {"created_ms", t.time_ns() / 1000000},
                      {"node_id", IdOrNull(t.node_id())},
                      {"worker_id", IdOrNull(t.worker_id())},
                      {"pid", t.pid() > 0 ? Json(t.pid()) : Json(nullptr)},
                      {"cause", t.cause().empty() ? Json(nullptr) : Json(t.cause())}});
  }
  return events;
}

}  // namespace

const ResourceSchema &NodeSchema() {
  static const ResourceSchema schema{{"node_id", "node_ip", "is_head_node", "state", "node_name"},
                                     {"node_id", "node_ip", "is_head_node", "state", "node_name",
                                      "resources_total", "start_time_ms", "end_time_ms"}};
  return schema;
}

const ResourceSchema &ActorSchema() {
  static const ResourceSchema schema{
      {"actor_id", "class_name", "state", "job_id", "name", "node_id", "pid", "ray_namespace", "is_detached"},
      {"actor_id", "class_name", "state", "job_id", "name", "node_id", "pid", "ray_namespace"}};
  return schema;
}

const ResourceSchema &JobSchema() {
  static const ResourceSchema schema{{"job_id", "type", "status", "ray_namespace"},
                                     {"job_id", "submission_id", "type", "status", "start_time", "end_time",
                                      "driver_info", "ray_namespace"}};
  return schema;
}

const ResourceSchema &PlacementGroupSchema() {
  static const ResourceSchema schema{{"placement_group_id", "name", "creator_job_id", "state", "strategy"},
                                     {"placement_group_id", "name", "creator_job_id", "state"}};
  return schema;
}

std::vector<Json> NodeRows(const proto::GetAllNodesReply &reply, const std::string &head_session_dir) {
  std::vector<Json> rows;
  rows.reserve(reply.nodes_size());
  for (const proto::NodeInfo &n : reply.nodes()) {
    Json row{{"node_id", ToHex(n.node_id())},
             {"node_ip", n.node_ip()},
             {"is_head_node", !head_session_dir.empty() && n.session_dir() == head_session_dir},
             {"is_driver_node", n.for_driver()},  // a Lumen addition: a driver's own node
             {"state", n.alive() ? "ALIVE" : "DEAD"},
             {"node_name", n.node_ip()},
             {"resources_total", Resources(n.total())},
             {"labels", Json::object()},
             {"start_time_ms", n.start_time_ms()},
             {"end_time_ms", 0},
             {"pid", n.pid()},
             {"address", n.raylet_address()}};
    if (n.has_usage()) {
      row["resources_total"] = Resources(n.usage().total());
      row["resources_available"] = Resources(n.usage().available());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<Json> ActorRows(const proto::GetAllActorsReply &reply) {
  std::vector<Json> rows;
  rows.reserve(reply.actors_size());
  for (const proto::ActorInfo &a : reply.actors()) {
    rows.push_back({{"actor_id", ToHex(a.actor_id())},
                    {"class_name", a.class_name()},
                    {"state", ActorStateName(a.state())},
                    {"job_id", api::JobIdHex(a.job_id())},
                    {"name", a.name()},
                    {"node_id", IdOrNull(a.address().node_id())},
                    {"pid", a.pid() > 0 ? Json(a.pid()) : Json(nullptr)},
                    {"ray_namespace", a.ray_namespace()},
                    {"is_detached", a.detached()},
                    {"num_restarts", a.num_restarts()},
                    {"max_restarts", a.max_restarts()},
                    {"death_cause", a.death_cause().empty() ? Json(nullptr) : Json(a.death_cause())},
                    {"worker_id", IdOrNull(a.address().worker_id())},
                    {"events", ActorEvents(a)},
                    {"num_events_dropped", a.num_state_transitions_dropped()}});
  }
  return rows;
}

std::vector<Json> JobRows(const proto::GetAllJobsReply &reply) {
  std::vector<Json> rows;
  rows.reserve(reply.jobs_size());
  for (const proto::JobInfo &j : reply.jobs()) {
    // As Ray's rows for jobs started by a driver (not submitted): RUNNING,
    // then SUCCEEDED once the driver is gone, however it ended.
    rows.push_back(
        {{"job_id", api::JobIdHex(j.job_id())},
         {"submission_id", nullptr},
         {"type", "DRIVER"},
         {"status", j.finished() ? "SUCCEEDED" : "RUNNING"},
         {"is_dead", j.finished()},
         {"start_time", j.start_time_ms()},
         {"end_time", j.finished() ? Json(j.end_time_ms()) : Json(nullptr)},
         {"driver_info", {{"pid", std::to_string(j.driver_pid())}, {"address", j.driver_address()}}},
         {"ray_namespace", j.ray_namespace()}});
  }
  return rows;
}

std::vector<Json> PlacementGroupRows(const proto::GetAllPlacementGroupsReply &reply) {
  std::vector<Json> rows;
  rows.reserve(reply.groups_size());
  for (const proto::PlacementGroupInfo &g : reply.groups()) {
    Json bundles = Json::array();
    for (int i = 0; i < g.bundles_size(); ++i) {
      bundles.push_back({{"bundle_index", i},
                         {"node_id", i < g.bundle_node_ids_size() ? IdOrNull(g.bundle_node_ids(i)) : nullptr},
                         {"unit_resources", Resources(g.bundles(i))}});
    }
    rows.push_back({{"placement_group_id", g.group_id()},
                    {"name", g.name()},
                    {"creator_job_id", api::JobIdHex(g.job_id())},
                    {"state", GroupStateName(g.state())},
                    {"strategy", StrategyName(g.strategy())},
                    {"ray_namespace", g.ray_namespace()},
                    {"bundles", std::move(bundles)}});
  }
  return rows;
}

}  // namespace lumen::dashboard
