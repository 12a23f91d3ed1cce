// The cluster's nodes and resources as the public API reports them
// (ray::Nodes, ray::ClusterResources, ray::AvailableResources: Lumen
// extensions, <ray/api/runtime_context.h>), made from the control service's
// node table, and the spelling of ids there.
//
// Threading: pure functions of their arguments; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <ray/api/runtime_context.h>

#include "protocol/control.pb.h"

namespace lumen::api {

using ResourceMap = std::unordered_map<std::string, double>;

/// A job id in hex as Ray spells it: its four bytes, least significant first
/// (job 1 is "01000000").
std::string JobIdHex(uint32_t job_id);

/// Every node, alive and dead, with its registered totals.
std::vector<ray::NodeInfo> ToPublicNodes(const proto::GetAllNodesReply &reply);

/// The alive nodes' totals summed by name: as each reported them (bundle
/// resources included) when the reply carries usage, else as registered.
ResourceMap SumTotals(const proto::GetAllNodesReply &reply);

/// What is free on the alive nodes that reported usage, summed by name.
/// Resources with nothing free are left out (as in Ray): a blocked worker's
/// CPU may leave a node's count below zero for a while.
ResourceMap SumAvailable(const proto::GetAllNodesReply &reply);

}  // namespace lumen::api
