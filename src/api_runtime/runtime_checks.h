// Checks at the public API edge that the cluster runtime (runtime_cluster.cc)
// and the local-mode runtime (runtime_local.cc) share, so that a program is
// rejected alike, with the same words, in both modes. Each check throws the
// ray::internal exception the caller would get from Ray.
//
// Threading: stateless free functions; safe from any thread.
#pragma once

#include <string>
#include <vector>

#include <ray/api/ray_runtime.h>

namespace lumen::api {

/// Throws RayException for a Python or Java function: Lumen runs C++ only.
/// `what` names the call ("calls", "actors", "actor calls").
void CheckCppFunction(const ray::internal::RemoteFunctionHolder &fn, const char *what);

/// Lumen supports the runtime_env fields it can honour; anything else throws
/// RayRuntimeEnvException rather than being ignored.
void ValidateRuntimeEnv(const std::string &json);

/// Checks a task's arguments (an empty ObjectRef passed by reference) and
/// options (runtime_env). Local mode checks what it then ignores, so that a
/// program that runs there runs on a cluster too.
void CheckTaskCall(const std::vector<ray::internal::TaskArg> &args,
                   const ray::internal::CallOptions &options);
/// As CheckTaskCall, for an actor's constructor call and its options.
void CheckActorCreation(const std::vector<ray::internal::TaskArg> &args,
                        const ray::internal::ActorCreationOptions &options);
/// Throws for a handle whose id is empty or malformed (a default-constructed
/// ActorHandle); `what` prefixes the message.
void CheckActorId(const std::string &actor_id, const std::string &what);

/// Checks a placement group's bundles and strategy.
void CheckPlacementGroup(const ray::PlacementGroupCreationOptions &options);
/// A fresh placement group id, in the one format both runtimes hand out.
std::string NewPlacementGroupId();
/// The message for a placement group name already taken in the namespace.
std::string PlacementGroupNameTaken(const std::string &name);

/// Throws RayException when an id is empty: a default-constructed or
/// moved-from ObjectRef refers to no object. `what` is "Get" or "Wait".
void CheckObjectIds(const std::vector<std::string> &ids, const char *what);
/// Checks Wait's arguments: ids non-empty and distinct, 1 <= num_objects <= ids.
void CheckWaitArgs(const std::vector<std::string> &ids, int num_objects);
/// Keeps at most `num_objects` ready, the first ones in input order (as Ray's
/// Wait returns): the runtimes report every object that was ready.
void KeepFirstReady(int num_objects, std::vector<bool> *ready);

}  // namespace lumen::api
