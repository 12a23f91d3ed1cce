// The control service's placement policy: which node takes an actor, and
// which node takes each bundle of a placement group, given every node's
// total and available resources. Pure decisions, no I/O: the actor and
// placement-group managers gather the nodes' resources and carry out what
// this decides (cluster_placement_test.cc checks it without processes).
//
// Actors follow Ray's default (hybrid) policy (base/hybrid_policy.h, which
// the nodes' lease spillback uses too): among the nodes where the actor's
// placement resources are free now, the owner's node first and then the
// others in the order given, the first whose critical-resource utilization
// is below kSpreadThreshold; when every such node is busier, the least
// utilized one (so actors spread once nodes are half used).
//
// Bundles follow Ray's placement strategies:
// - STRICT_PACK: every bundle on one node (the fullest that fits: best fit).
// - PACK: one node when one fits them all, else as few nodes as the greedy
//   "node that takes the most remaining bundles" finds, else any fit.
// - STRICT_SPREAD: one bundle per distinct node (a bipartite matching, so a
//   fit is found whenever one exists), least utilized nodes first.
// - SPREAD: each bundle on the node with the fewest of the group's bundles so
//   far, least utilized first; nodes are shared when there are too few.
// PACK and SPREAD fall back to an exhaustive search when their greedy pass
// fails, so they never report "unavailable" while a fit exists (within a
// search budget no realistic group reaches).
//
// An outcome other than kPlaced says whether waiting can help: kUnavailable
// (it would fit the nodes' totals: wait for resources to be freed) or
// kInfeasible (it fits no node even when idle: wait for a new node).
//
// Threading: stateless functions; call from any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/hybrid_policy.h"

namespace lumen::control {

using lumen::ResourceMap;
using PlacementNode = lumen::ResourceNode;
using lumen::Fits;
using lumen::kSpreadThreshold;
using lumen::Utilization;

/// The values of ray::PlacementStrategy (and of PlacementGroupInfo.strategy).
enum class BundleStrategy { kPack = 0, kSpread = 1, kStrictPack = 2, kStrictSpread = 3 };

enum class PlacementOutcome { kPlaced, kUnavailable, kInfeasible };

struct ActorPlacement {
  PlacementOutcome outcome = PlacementOutcome::kInfeasible;
  std::string node;  // when kPlaced
};

struct BundlePlacement {
  PlacementOutcome outcome = PlacementOutcome::kInfeasible;
  std::vector<std::string> nodes;  // when kPlaced: the node of bundle i
};

ActorPlacement PlaceActor(const std::vector<PlacementNode> &nodes, const ResourceMap &need,
                          const std::string &preferred_node);

BundlePlacement PlaceBundles(const std::vector<PlacementNode> &nodes, const std::vector<ResourceMap> &bundles,
                             BundleStrategy strategy);

}  // namespace lumen::control
