#include "dashboard/task_rows.h"

#include <map>
#include <unordered_map>

#include "api_runtime/runtime_nodes.h"
#include "base/encoding.h"

namespace lumen::dashboard {
namespace {

Json IdOrNull(const std::string &bytes) { return bytes.empty() ? Json(nullptr) : Json(ToHex(bytes)); }

const char *TaskTypeName(proto::TaskType type) {
  switch (type) {
    case proto::ACTOR_CREATION_TASK:
      return "ACTOR_CREATION_TASK";
    case proto::ACTOR_TASK:
      return "ACTOR_TASK";
    default:
      return "NORMAL_TASK";
  }
}

// Ray's error type names (its ErrorType enum) where Lumen's match them.
const char *ErrorTypeName(proto::ErrorType type) {
  switch (type) {
    case proto::TASK_EXECUTION_EXCEPTION:
      return "TASK_EXECUTION_EXCEPTION";
    case proto::WORKER_DIED:
      return "WORKER_DIED";
    case proto::ACTOR_DIED:
      return "ACTOR_DIED";
    case proto::OBJECT_LOST:
      return "OBJECT_LOST";
    case proto::FUNCTION_NOT_FOUND:
      return "FUNCTION_NOT_FOUND";
    case proto::OBJECT_STORE_FULL:
      return "OUT_OF_MEMORY";
    case proto::RUNTIME_ENV_FAILED:
      return "RUNTIME_ENV_SETUP_FAILED";
    case proto::ACTOR_UNAVAILABLE:
      return "ACTOR_UNAVAILABLE";
    default:
      return "";
  }
}

}  // namespace

const char *TaskStateName(int state) {
  switch (state) {
    case proto::PENDING_ARGS_AVAIL:
      return "PENDING_ARGS_AVAIL";
    case proto::PENDING_NODE_ASSIGNMENT:
      return "PENDING_NODE_ASSIGNMENT";
    case proto::SUBMITTED_TO_WORKER:
      return "SUBMITTED_TO_WORKER";
    case proto::RUNNING:
      return "RUNNING";
    case proto::FINISHED:
      return "FINISHED";
    case proto::FAILED:
      return "FAILED";
    default:
      return "NIL";
  }
}

namespace {

int64_t Ms(int64_t ns) { return ns / 1000000; }

}  // namespace

const ResourceSchema &TaskSchema() {
  static const ResourceSchema schema{
      {"task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type", "func_or_class_name",
       "parent_task_id", "node_id", "worker_id", "worker_pid", "error_type"},
      {"task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type", "func_or_class_name",
       "parent_task_id", "node_id", "worker_id", "worker_pid", "error_type"}};
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
        events.push_back(
            {{"state", TaskStateName(static_cast<proto::TaskState>(s))}, {"created_ms", Ms(it->second)}});
    }
    Json end = at(proto::FINISHED);
    if (end.is_null()) end = at(proto::FAILED);
    const char *error = ErrorTypeName(t.error_type());
    rows.push_back({{"task_id", ToHex(t.task_id())},
                    {"attempt_number", t.attempt()},
                    {"name", t.name()},
                    {"state", TaskStateName(t.state())},
                    {"job_id", api::JobIdHex(t.job_id())},
                    {"actor_id", IdOrNull(t.actor_id())},
                    {"type", TaskTypeName(t.type())},
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

std::vector<Json> LatestAttempts(const std::vector<Json> &rows) {
  std::unordered_map<std::string, size_t> latest;  // task id -> index in rows
  std::vector<size_t> order;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string id = rows[i].value("task_id", "");
    auto [it, fresh] = latest.try_emplace(id, i);
    if (fresh) {
      order.push_back(i);
    } else if (rows[i].value("attempt_number", 0) > rows[it->second].value("attempt_number", 0)) {
      it->second = i;
    }
  }
  std::vector<Json> out;
  out.reserve(order.size());
  for (size_t first : order) out.push_back(rows[latest[rows[first].value("task_id", "")]]);
  return out;
}

Json SummarizeTasks(const std::vector<Json> &rows, int64_t total) {
  std::vector<Json> tasks = LatestAttempts(rows);
  Json summary = Json::object();
  int64_t actor_tasks = 0, actor_scheduled = 0;
  for (const Json &t : tasks) {
    const std::string name = t.value("func_or_class_name", "");
    const std::string type = t.value("type", "");
    Json &entry = summary[name];
    if (entry.is_null())
      entry = {{"func_or_class_name", name}, {"type", type}, {"state_counts", Json::object()}};
    Json &count = entry["state_counts"][t.value("state", "")];
    count = count.is_null() ? 1 : count.get<int64_t>() + 1;
    actor_tasks += type == "ACTOR_TASK";
    actor_scheduled += type == "ACTOR_CREATION_TASK";
  }
  Json cluster = {{"summary", std::move(summary)},
                  {"total_tasks", static_cast<int64_t>(tasks.size())},
                  {"total_actor_tasks", actor_tasks},
                  {"total_actor_scheduled", actor_scheduled},
                  {"summary_by", "func_name"}};
  return {{"total", total},
          {"num_after_truncation", static_cast<int64_t>(rows.size())},
          {"num_filtered", static_cast<int64_t>(rows.size())},
          {"result", {{"node_id_to_summary", {{"cluster", std::move(cluster)}}}}},
          {"partial_failure_warning", nullptr},
          {"warnings", nullptr}};
}

}  // namespace lumen::dashboard
