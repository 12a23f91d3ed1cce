#include "dashboard/task_rows.h"

#include "api_runtime/runtime_nodes.h"
#include "base/encoding.h"
#include "control/task_query.h"

namespace lumen::dashboard {
namespace {

Json IdOrNull(const std::string &bytes) { return bytes.empty() ? Json(nullptr) : Json(ToHex(bytes)); }

int64_t Ms(int64_t ns) { return ns / 1000000; }

}  // namespace

const ResourceSchema &TaskSchema() {
  // Filtered where the records are (control/task_query.h): its keys.
  static const ResourceSchema schema{control::TaskFilterKeys(), control::TaskFilterKeys()};
  return schema;
}

const ResourceSchema &WorkerSchema() {
  static const ResourceSchema schema{{"worker_id", "is_alive", "worker_type", "pid", "job_id", "node_id"},
                                     {"worker_id", "is_alive", "worker_type", "pid", "job_id", "node_id"}};
  return schema;
}

const ResourceSchema &ObjectSchema() {
  static const ResourceSchema schema{
      {"object_id", "reference_type", "task_status", "node_id", "pid", "owner_worker_id"},
      {"object_id", "object_size", "task_status", "reference_type", "call_site", "type", "pid", "ip"}};
  return schema;
}

std::vector<Json> TaskRows(const proto::GetTaskEventsReply &reply) {
  std::vector<Json> rows;
  rows.reserve(reply.tasks_size());
  for (const proto::TaskRecord &t : reply.tasks()) {
    const auto &times = t.state_time_ns();
    auto at = [&times](proto::TaskState s) -> Json {
      auto it = times.find(s);
      return it == times.end() ? Json(nullptr) : Json(Ms(it->second));
    };
    Json events = Json::array();
    for (int s = proto::PENDING_ARGS_AVAIL; s <= proto::FAILED; ++s) {
      auto it = times.find(s);
      if (it != times.end())
        events.push_back({{"state", control::TaskStateName(static_cast<proto::TaskState>(s))},
                          {"created_ms", Ms(it->second)}});
    }
    Json end = at(proto::FINISHED);
    if (end.is_null()) end = at(proto::FAILED);
    const char *error = control::TaskErrorTypeName(t.error_type());
    rows.push_back({{"task_id", ToHex(t.task_id())},
                    {"attempt_number", t.attempt()},
                    {"name", t.name()},
                    {"state", control::TaskStateName(t.state())},
                    {"job_id", api::JobIdHex(t.job_id())},
                    {"actor_id", IdOrNull(t.actor_id())},
                    {"type", control::TaskTypeName(t.type())},
                    {"func_or_class_name", t.function_name()},
                    {"parent_task_id", IdOrNull(t.parent_task_id())},
                    {"node_id", IdOrNull(t.node_id())},
                    {"worker_id", IdOrNull(t.worker_id())},
                    {"worker_pid", t.worker_pid() > 0 ? Json(t.worker_pid()) : Json(nullptr)},
                    {"error_type", *error ? Json(error) : Json(nullptr)},
                    {"language", "CPP"},
                    {"error_message", t.error_message().empty() ? Json(nullptr) : Json(t.error_message())},
                    {"creation_time_ms", at(proto::PENDING_ARGS_AVAIL)},
                    {"start_time_ms", at(proto::RUNNING)},
                    {"end_time_ms", std::move(end)},
                    {"events", std::move(events)}});
  }
  return rows;
}

std::vector<Json> WorkerRows(const proto::GetAllNodesReply &reply) {
  std::vector<Json> rows;
  for (const proto::NodeInfo &n : reply.nodes()) {
    for (const proto::NodeWorkerInfo &w : n.usage().workers()) {
      rows.push_back({{"worker_id", ToHex(w.worker_id())},
                      {"is_alive", w.alive()},
                      {"worker_type", w.is_driver() ? "DRIVER" : "WORKER"},
                      {"pid", w.pid()},
                      {"job_id", api::JobIdHex(w.job_id())},
                      {"node_id", ToHex(n.node_id())},
                      {"ip", n.node_ip()},
                      {"is_actor", w.actor()},
                      {"is_leased", w.leased()}});
    }
  }
  return rows;
}

std::vector<Json> ObjectRows(const proto::GetAllNodesReply &reply) {
  std::vector<Json> rows;
  for (const proto::NodeInfo &n : reply.nodes()) {
    for (const proto::NodeObjectInfo &o : n.usage().objects()) {
      // The node sees its store only: a reader's pin (PINNED_IN_MEMORY) or
      // the owner's reference that keeps it there (LOCAL_REFERENCE).
      const std::string id = ToHex(o.object_id());
      rows.push_back({{"object_id", id},
                      {"object_size", o.size()},
                      {"task_status", o.sealed() ? "FINISHED" : "PENDING_OBJ_CREATION"},
                      {"reference_type", o.pins() > 0 ? "PINNED_IN_MEMORY" : "LOCAL_REFERENCE"},
                      {"call_site", "disabled"},
                      {"type", o.deleted() ? "FREED" : "SHARED_MEMORY"},
                      {"pid", o.creator_pid() > 0 ? Json(o.creator_pid()) : Json(nullptr)},
                      {"ip", n.node_ip()},
                      {"node_id", ToHex(n.node_id())},
                      {"owner_worker_id", id.substr(0, 32)},  // an object id begins with its owner's
                      {"pins", o.pins()}});
    }
  }
  return rows;
}

Json SummarizeTasks(const proto::GetTaskEventsReply &reply) {
  Json summary = Json::object();
  int64_t tasks = 0, actor_tasks = 0, actor_scheduled = 0;
  for (const proto::TaskCount &c : reply.counts()) {
    const std::string type = control::TaskTypeName(c.type());
    Json &entry = summary[c.function_name()];
    if (entry.is_null())
      entry = {{"func_or_class_name", c.function_name()}, {"type", type}, {"state_counts", Json::object()}};
    Json &count = entry["state_counts"][control::TaskStateName(c.state())];
    count = (count.is_null() ? 0 : count.get<int64_t>()) + c.count();
    tasks += c.count();
    actor_tasks += type == "ACTOR_TASK" ? c.count() : 0;
    actor_scheduled += type == "ACTOR_CREATION_TASK" ? c.count() : 0;
  }
  Json cluster = {{"summary", std::move(summary)},
                  {"total_tasks", tasks},
                  {"total_actor_tasks", actor_tasks},
                  {"total_actor_scheduled", actor_scheduled},
                  {"summary_by", "func_name"}};
  return {{"total", reply.total()},
          {"num_after_truncation", reply.num_filtered()},
          {"num_filtered", reply.num_filtered()},
          {"num_dropped", reply.dropped_total()},
          {"result", {{"node_id_to_summary", {{"cluster", std::move(cluster)}}}}},
          {"partial_failure_warning", nullptr},
          {"warnings", TaskWarnings(reply)}};
}

Json TaskWarnings(const proto::GetTaskEventsReply &reply) {
  if (reply.dropped_total() <= 0) return nullptr;
  return Json::array({std::to_string(reply.dropped_total()) +
                      " task attempts are not shown: the control service keeps a bounded number of them "
                      "(the oldest go first), and processes drop events when they make them faster than "
                      "they can send them"});
}

}  // namespace lumen::dashboard
