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

const ResourceSchema &TaskSchema();
const ResourceSchema &WorkerSchema();
const ResourceSchema &ObjectSchema();

/// One row per task attempt, oldest first.
std::vector<Json> TaskRows(const proto::GetTaskEventsReply &reply);
std::vector<Json> WorkerRows(const proto::GetAllNodesReply &reply);
std::vector<Json> ObjectRows(const proto::GetAllNodesReply &reply);

/// Ray's `tasks/summarize` result (grouped by function name) from the
/// control service's summary (`counts`: each task's latest matching attempt
/// by function, name, type and state), with `num_dropped` (a Lumen
/// addition): the attempts the bounds and the processes dropped.
Json SummarizeTasks(const proto::GetTaskEventsReply &reply);

/// The list reply's `warnings` for tasks: what was dropped, or null.
Json TaskWarnings(const proto::GetTaskEventsReply &reply);

}  // namespace lumen::dashboard
