// The state API's rows for tasks, workers and objects in Ray's schemas
// (TaskState, WorkerState, ObjectState: the same field names, ids as hex,
// states as Ray's words). Tasks come from the control service's task events
// (one row per attempt); workers and objects from each node (GET_ALL_NODES
// with_workers / with_objects), so every row names its node.
//
// Threading: plain functions; no state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dashboard/list_query.h"
#include "dashboard/state_rows.h"
#include "protocol/control.pb.h"

namespace lumen::dashboard {

/// Ray's TaskStatus name of a task state ("NIL" for none or one not known).
const char *TaskStateName(int state);

const ResourceSchema &TaskSchema();
const ResourceSchema &WorkerSchema();
const ResourceSchema &ObjectSchema();

/// One row per task attempt, oldest first.
std::vector<Json> TaskRows(const proto::GetTaskEventsReply &reply);
std::vector<Json> WorkerRows(const proto::GetAllNodesReply &reply);
std::vector<Json> ObjectRows(const proto::GetAllNodesReply &reply);

/// Ray's `tasks/summarize` result (grouped by function name): each task's
/// latest attempt among `rows` (rows from TaskRows, filtered) counted by
/// state. `total`: the rows before filtering.
Json SummarizeTasks(const std::vector<Json> &rows, int64_t total);

/// The latest attempt of each task among `rows` (TaskRows' order kept).
std::vector<Json> LatestAttempts(const std::vector<Json> &rows);

}  // namespace lumen::dashboard
