// See runtime_checks.h.
#include "api_runtime/runtime_checks.h"

#include <ray/api/ray_exception.h>
#include <ray/api/task_options.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/id.h"

namespace lumen::api {

using ray::internal::RayException;

void CheckCppFunction(const ray::internal::RemoteFunctionHolder &fn, const char *what) {
  if (fn.lang_type != ray::internal::LangType::CPP)
    throw RayException(std::string("Cross-language ") + what + " (Python/Java) are not supported by Lumen");
}

void ValidateRuntimeEnv(const std::string &json) {
  using ray::internal::RayRuntimeEnvException;
  if (json.empty()) return;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw RayRuntimeEnvException("runtime_env must be a JSON object, got: " + json);
  for (auto &[key, value] : j.items()) {
    if (key != "env_vars")
      throw RayRuntimeEnvException("runtime_env field '" + key +
                                   "' is not supported by Lumen (supported: env_vars)");
    if (!value.is_object()) throw RayRuntimeEnvException("runtime_env env_vars must be an object of strings");
    for (auto &[name, v] : value.items()) {
      if (!v.is_string())
        throw RayRuntimeEnvException("runtime_env env_vars['" + name + "'] must be a string");
      if (name.empty() || name.find('=') != std::string::npos)
        throw RayRuntimeEnvException("runtime_env env_vars has an invalid name '" + name + "'");
    }
  }
}

namespace {
void CheckArgs(const std::vector<ray::internal::TaskArg> &args) {
  for (size_t i = 0; i < args.size(); ++i) {
    // A by-reference argument with no id: an empty ObjectRef was passed.
    if (!args[i].value && args[i].object_id.empty())
      throw RayException(
          "Argument " + std::to_string(i) +
          " is an empty ObjectRef (default-constructed or moved-from): it refers to no object");
  }
}

void CheckBundleIndex(const ray::PlacementGroup &group, int bundle_index) {
  if (group.Empty()) return;
  int bundles = static_cast<int>(group.GetBundles().size());
  if (bundle_index < -1 || (bundles > 0 && bundle_index >= bundles))
    throw RayException("Invalid placement group bundle index " + std::to_string(bundle_index) +
                       ": the group has " + std::to_string(bundles) + " bundle(s)");
}
}  // namespace

void CheckTaskCall(const std::vector<ray::internal::TaskArg> &args,
                   const ray::internal::CallOptions &options) {
  CheckArgs(args);
  ValidateRuntimeEnv(options.serialized_runtime_env);
  CheckBundleIndex(options.group, options.bundle_index);
}

void CheckActorCreation(const std::vector<ray::internal::TaskArg> &args,
                        const ray::internal::ActorCreationOptions &options) {
  CheckArgs(args);
  ValidateRuntimeEnv(options.serialized_runtime_env);
  CheckBundleIndex(options.group, options.bundle_index);
  if (options.max_concurrency < 1)
    throw RayException("SetMaxConcurrency: max_concurrency must be at least 1, got " +
                       std::to_string(options.max_concurrency));
  if (options.max_restarts < -1)
    throw RayException("SetMaxRestarts: max_restarts must be -1 (unlimited) or at least 0, got " +
                       std::to_string(options.max_restarts));
}

void CheckActorId(const std::string &actor_id, const std::string &what) {
  if (actor_id.size() != ActorID::kSize) throw RayException(what + ": empty or invalid actor handle");
}

void CheckPlacementGroup(const ray::PlacementGroupCreationOptions &options) {
  if (options.bundles.empty())
    throw RayException("CreatePlacementGroup: a placement group needs at least one bundle");
  if (options.strategy == ray::PlacementStrategy::UNRECOGNIZED)
    throw RayException("CreatePlacementGroup: unrecognized placement strategy");
  for (auto &bundle : options.bundles) {
    if (bundle.empty()) throw RayException("CreatePlacementGroup: a bundle cannot be empty");
    ray::internal::CheckTaskOptions(bundle);
  }
}

std::string NewPlacementGroupId() { return RandomHex(14); }

std::string PlacementGroupNameTaken(const std::string &name) {
  return "A placement group named '" + name + "' already exists";
}

void CheckObjectIds(const std::vector<std::string> &ids, const char *what) {
  for (auto &id : ids)
    if (id.empty())
      throw RayException(
          std::string(what) +
          ": the ObjectRef is empty (default-constructed or moved-from) and refers to no object");
}

void CheckWaitArgs(const std::vector<std::string> &ids, int num_objects) {
  CheckObjectIds(ids, "Wait");
  if (num_objects <= 0 || static_cast<size_t>(num_objects) > ids.size())
    throw RayException("Wait object error: Invalid: num_objects (" + std::to_string(num_objects) +
                       ") must be between 1 and the number of objects (" + std::to_string(ids.size()) + ")");
  // Views, sorted: no copy of the ids (Wait is called once per ready object
  // on lists of thousands).
  std::vector<std::string_view> sorted(ids.begin(), ids.end());
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    throw RayException("Wait object error: Invalid: duplicate object ids");
}

void KeepFirstReady(int num_objects, std::vector<bool> *ready) {
  int kept = 0;
  for (size_t i = 0; i < ready->size(); ++i) {
    if (!(*ready)[i]) continue;
    if (kept < num_objects) {
      ++kept;
    } else {
      (*ready)[i] = false;
    }
  }
}

}  // namespace lumen::api
