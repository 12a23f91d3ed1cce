// Lumen Tune (a Lumen extension), internal: whether the cluster can ever run
// a trial that asks for some resources, and how many such trials fit at once.
// Checked before any trial starts, so that a request no node can meet is a
// clear error instead of an experiment that waits for ever.
//
// Threading: stateless functions; they call the runtime (ray::Nodes()).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include <ray/api.h>

#include "ray/tune/resources.h"
#include "ray/tune/types.h"

namespace ray {
namespace tune {
namespace internal {

/// TuneError for a malformed request (a bad amount, an empty bundle) or one
/// the alive nodes cannot meet: plain amounts must fit one node; bundles must
/// fit as their strategy asks (STRICT_PACK: all on one node; STRICT_SPREAD:
/// each on a node of its own; PACK and SPREAD: each on some node, and all of
/// them within what the cluster has).
void CheckTrialResources(const Resources &resources, const std::vector<ray::NodeInfo> &nodes);

/// How many trials asking for `resources` fit at once in `cluster_total` (the
/// alive nodes' resources summed); at least 1, and 64 for a trial asking for
/// nothing.
int TrialsThatFit(const Resources &resources, const std::unordered_map<std::string, double> &cluster_total);

/// What travels to the trial's actor (plain JSON) and back.
Json ResourcesToJson(const Resources &resources);
Resources ResourcesFromJson(const Json &json);

/// The placement group a trial asking for bundles reserves (unnamed).
ray::PlacementGroupCreationOptions GroupOptions(const Resources &resources);

}  // namespace internal
}  // namespace tune
}  // namespace ray
