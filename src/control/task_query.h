// The state API's task queries, answered by the control service where the
// task events are kept (task_event_store.h), so that a page of a million
// recorded attempts costs a page and not a million rows sent to the
// dashboard: Ray's names for a task's state, type and error; an attempt's
// record (TaskAttempt); and filters (TaskMatcher) that compare a field as
// the state API shows it, as text ignoring case, exactly as the dashboard's
// own list filters do (dashboard/list_query.h), compiled once per query.
//
// Threading: plain values and pure functions; no shared state.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "protocol/control.pb.h"

namespace lumen::control {

/// Ray's names (its TaskStatus, TaskType and ErrorType enums) for the state
/// API. TaskStateName gives "NIL" and TaskTypeName "NORMAL_TASK" for values
/// they do not know; TaskErrorTypeName gives "" for NO_ERROR and for errors
/// Ray has no name for.
const char *TaskStateName(int state);
const char *TaskTypeName(int type);
const char *TaskErrorTypeName(int error_type);

/// The keys a task filter may use: the state API's task fields.
const std::vector<std::string> &TaskFilterKeys();

/// What the control service keeps of one attempt of a task: the events of
/// its submitter and its executor merged.
struct TaskAttempt {
  using Name = std::shared_ptr<const std::string>;

  uint64_t seq = 0;  // insertion order, across jobs
  uint32_t job = 0;
  proto::TaskState state = proto::TASK_STATE_NIL;  // the latest reached
  proto::TaskType type = proto::NORMAL_TASK;
  proto::ErrorType error_type = proto::NO_ERROR;
  int32_t pid = 0;
  bool retried = false;  // a later attempt of the task was recorded
  // Each side's end (FINISHED or FAILED) was merged: its submitter's (an
  // event not at its sender), its executor's (at its sender). Neither sends
  // anything more about the attempt then.
  bool submitter_ended = false;
  bool executor_ended = false;
  std::array<int64_t, proto::TaskState_ARRAYSIZE> entered_ns{};  // 0: not entered
  Name function_name;                                            // null: no facts yet
  Name name;                                                     // null: the function's
  ActorID actor;
  TaskID parent;
  NodeID node;
  WorkerID worker;
  std::string error_message;
};

/// A query's filters, ANDed. A field the state API shows as null (no actor,
/// no node yet, no error) matches only "!=".
class TaskMatcher {
 public:
  /// An unknown key is an InvalidArgument naming the keys there are.
  static StatusOr<TaskMatcher> Make(const google::protobuf::RepeatedPtrField<proto::TaskFilter> &filters);

  bool Matches(const TaskID &task, int32_t attempt, const TaskAttempt &r) const;
  bool empty() const { return clauses_.empty(); }

 private:
  enum class Field {
    kTaskId,
    kAttempt,
    kName,
    kState,
    kJobId,
    kActorId,
    kType,
    kFunction,
    kParentTaskId,
    kNodeId,
    kWorkerId,
    kWorkerPid,
    kErrorType,
  };
  struct Clause {
    Field field;
    bool equal = true;
    std::string text;   // the value, lower case
    std::string bytes;  // an id field: the bytes the value spells (empty: none does)
  };

  bool Holds(const Clause &c, const TaskID &task, int32_t attempt, const TaskAttempt &r) const;

  std::vector<Clause> clauses_;
};

}  // namespace lumen::control
