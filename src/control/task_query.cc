#include "control/task_query.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "base/encoding.h"

namespace lumen::control {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// `s` equals `lower` (already lower case) ignoring case.
bool SameText(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != static_cast<unsigned char>(lower[i])) return false;
  return true;
}

template <typename Id>
bool SameId(const Id &id, const std::string &bytes) {
  return bytes.size() == Id::kSize &&
         std::equal(bytes.begin(), bytes.end(), reinterpret_cast<const char *>(id.data()));
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

const char *TaskTypeName(int type) {
  switch (type) {
    case proto::ACTOR_CREATION_TASK:
      return "ACTOR_CREATION_TASK";
    case proto::ACTOR_TASK:
      return "ACTOR_TASK";
    default:
      return "NORMAL_TASK";
  }
}

const char *TaskErrorTypeName(int error_type) {
  switch (error_type) {
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

const std::vector<std::string> &TaskFilterKeys() {
  static const std::vector<std::string> keys{
      "task_id",   "attempt_number",     "name",           "state",   "job_id",    "actor_id",
      "type",      "func_or_class_name", "parent_task_id", "node_id", "worker_id", "worker_pid",
      "error_type"};
  return keys;
}

StatusOr<TaskMatcher> TaskMatcher::Make(
    const google::protobuf::RepeatedPtrField<proto::TaskFilter> &filters) {
  TaskMatcher m;
  const auto &keys = TaskFilterKeys();
  for (const proto::TaskFilter &f : filters) {
    auto it = std::find(keys.begin(), keys.end(), f.key());
    if (it == keys.end()) {
      std::string names;
      for (const std::string &k : keys) names += (names.empty() ? "" : ", ") + k;
      return Status::InvalidArgument("cannot filter tasks by '" + f.key() + "'; the keys are: " + names);
    }
    Clause c{static_cast<Field>(it - keys.begin()), f.equal(), Lower(f.value()), {}};
    switch (c.field) {
      case Field::kTaskId:
      case Field::kJobId:
      case Field::kActorId:
      case Field::kParentTaskId:
      case Field::kNodeId:
      case Field::kWorkerId:
        // Hex text equals the value ignoring case exactly when the bytes it
        // spells are the field's: decoded once here, not encoded per row.
        if (auto bytes = FromHex(c.text)) c.bytes = std::move(*bytes);
        break;
      default:
        break;
    }
    m.clauses_.push_back(std::move(c));
  }
  return m;
}

bool TaskMatcher::Matches(const TaskID &task, int32_t attempt, const TaskAttempt &r) const {
  for (const Clause &c : clauses_)
    if (!Holds(c, task, attempt, r)) return false;
  return true;
}

// Each field as the state API's row shows it (dashboard/task_rows.cc); a
// null field matches "!=" only.
bool TaskMatcher::Holds(const Clause &c, const TaskID &task, int32_t attempt, const TaskAttempt &r) const {
  const bool facts = r.function_name != nullptr;
  auto text = [&c](std::string_view s) { return SameText(s, c.text) == c.equal; };
  auto id = [&c](const auto &value) {
    if (value.IsNil()) return !c.equal;
    return SameId(value, c.bytes) == c.equal;
  };
  switch (c.field) {
    case Field::kTaskId:
      return SameId(task, c.bytes) == c.equal;
    case Field::kAttempt:
      return text(std::to_string(attempt));
    case Field::kName:
      return text(!facts   ? std::string_view()
                  : r.name ? std::string_view(*r.name)
                           : std::string_view(*r.function_name));
    case Field::kState:
      return text(TaskStateName(r.state));
    case Field::kJobId: {
      const char le[4] = {static_cast<char>(r.job & 0xff), static_cast<char>((r.job >> 8) & 0xff),
                          static_cast<char>((r.job >> 16) & 0xff), static_cast<char>((r.job >> 24) & 0xff)};
      return (c.bytes == std::string_view(le, 4)) == c.equal;
    }
    case Field::kActorId:
      return facts ? id(r.actor) : !c.equal;
    case Field::kType:
      return text(TaskTypeName(facts ? r.type : proto::NORMAL_TASK));
    case Field::kFunction:
      return text(facts ? std::string_view(*r.function_name) : std::string_view());
    case Field::kParentTaskId:
      return id(r.parent);
    case Field::kNodeId:
      return id(r.node);
    case Field::kWorkerId:
      return id(r.worker);
    case Field::kWorkerPid:
      return r.pid > 0 ? text(std::to_string(r.pid)) : !c.equal;
    case Field::kErrorType: {
      const char *name = TaskErrorTypeName(r.error_type);
      return *name ? text(name) : !c.equal;
    }
  }
  return false;
}

}  // namespace lumen::control
