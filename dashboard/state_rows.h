// The state API's rows in Ray's schemas (NodeState, ActorState, JobDetails,
// PlacementGroupState: the same field names, ids as hex, states as Ray's
// words), made from the control service's tables. Each resource says which
// fields a filter may name and which a list shows without `detail`.
//
// Threading: plain functions; no state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dashboard/list_query.h"
#include "protocol/control.pb.h"

namespace lumen::dashboard {

struct ResourceSchema {
  std::vector<std::string> filterable;
  std::vector<std::string> summary_fields;  // shown without detail, in this order
};

const ResourceSchema &NodeSchema();
const ResourceSchema &ActorSchema();
const ResourceSchema &JobSchema();
const ResourceSchema &PlacementGroupSchema();

/// `head_session_dir`: the head node's session folder (the node whose
/// session it is, is the head).
std::vector<Json> NodeRows(const proto::GetAllNodesReply &reply, const std::string &head_session_dir);
std::vector<Json> ActorRows(const proto::GetAllActorsReply &reply);
std::vector<Json> JobRows(const proto::GetAllJobsReply &reply);
std::vector<Json> PlacementGroupRows(const proto::GetAllPlacementGroupsReply &reply);

}  // namespace lumen::dashboard
