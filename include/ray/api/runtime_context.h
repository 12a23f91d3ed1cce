// Lumen extension, not part of Ray's C++ API: what Ray's Python API offers
// and its C++ API lacks about where code runs and what the cluster has —
// ray::GetRuntimeContext() (Python's ray.get_runtime_context()), ray::Nodes()
// (ray.nodes()), ray::ClusterResources() (ray.cluster_resources()) and
// ray::AvailableResources() (ray.available_resources()).
//
// Ids are lower-case hex strings, as Ray Python's get_*_id() return them.
// Everything here works in local mode too, where the cluster is one node (this
// process) with the resources the config gives (head_args, else the machine's
// CPUs), and where nothing is ever taken from them.
//
// Thread-safe once ray::Init has returned, like the rest of <ray/api.h>; the
// definitions are in the runtime library.
//
// Public header: must stay valid C++17.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace ray {

/// One node of the cluster, as Ray Python's ray.nodes() lists it.
struct NodeInfo {
  std::string node_id;  // hex
  bool alive = false;   // false once the node's service is gone
  /// The node's IP address (Ray's NodeManagerAddress).
  std::string address;
  /// What the node has in all (not what is free), by resource name, the
  /// resources of the placement-group bundles it holds included (as
  /// ray.nodes() reports them: CPU_group_<i>_<group id>, CPU_group_<group id>).
  std::unordered_map<std::string, double> resources;
};

/// Where the calling code runs: Ray Python's RuntimeContext. Each call reads
/// the current state, so one context may be kept and asked again later (from
/// the thread whose task it should describe).
class RuntimeContext {
 public:
  /// The job (driver) the code belongs to.
  std::string GetJobId() const;
  /// The node the calling process runs on.
  std::string GetNodeId() const;
  /// The task or actor method running on the calling thread (an actor's
  /// creation task in its constructor); empty in the driver, as Ray Python
  /// gives None there.
  std::string GetTaskId() const;
  /// The actor this process hosts; empty outside an actor.
  std::string GetActorId() const;
  /// The calling process's worker (the driver is a worker too).
  std::string GetWorkerId() const;
  /// The job's namespace, as ray::GetNamespace().
  std::string GetNamespace() const;
  /// True in a restarted actor (its constructor and later methods), as
  /// ray::WasCurrentActorRestarted().
  bool WasCurrentActorRestarted() const;
  /// What the running task holds while it runs, by resource name: what it
  /// asked for ({"CPU": 1} for a task that names none), under the names of
  /// its placement group's bundle when it runs in one. An actor's methods
  /// report what the actor holds for its life (nothing unless it named
  /// resources: its default CPU is needed only to place it). Empty in the
  /// driver. The GPU devices behind a "GPU" amount: ray::GetGpuIds().
  std::unordered_map<std::string, double> GetAssignedResources() const;
};

/// The context of the calling code.
RuntimeContext GetRuntimeContext();

/// Every node the cluster has known, alive and dead.
std::vector<NodeInfo> Nodes();

/// The resources of the alive nodes, summed by name (placement-group bundle
/// resources included while groups are reserved).
std::unordered_map<std::string, double> ClusterResources();

/// What is free on the alive nodes right now, summed by name; a resource
/// with nothing free is left out, as in Ray.
std::unordered_map<std::string, double> AvailableResources();

namespace internal {

/// The ids a RuntimeContext reports, from one call on the runtime.
struct ContextIds {
  std::string job_id;
  std::string node_id;
  std::string task_id;   // empty outside a task
  std::string actor_id;  // empty outside an actor
  std::string worker_id;
};

}  // namespace internal
}  // namespace ray
