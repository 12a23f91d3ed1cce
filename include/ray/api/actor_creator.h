// ray::internal::ActorCreator<F>: the builder returned by ray::Actor(factory).
//
// Setters return *this so that chains work on the temporary. Remote(args...)
// validates the options, checks the arguments at compile time, creates the
// actor and returns its handle. A builder is meant for one Remote() call.
//
// Public header: must stay valid C++17.
#pragma once

#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ray/api/actor_handle.h>
#include <ray/api/arguments.h>
#include <ray/api/ray_runtime.h>
#include <ray/api/runtime_env.h>
#include <ray/api/static_check.h>
#include <ray/api/task_caller.h>
#include <ray/api/task_options.h>
#include <ray/api/type_traits.h>

namespace ray {
namespace internal {

template <typename F>
class ActorCreator {
 public:
  using ActorType = std::remove_pointer_t<typename CallReturn<F>::type>;
  using HandleType = ActorHandle<ActorType, is_xlang<F>::value>;

  ActorCreator() = default;
  explicit ActorCreator(RemoteFunctionHolder remote_function_holder)
      : remote_function_holder_(std::move(remote_function_holder)) {}

  /// Registers the actor under `name` in the job's namespace.
  ActorCreator &SetName(std::string name) {
    options_.name = std::move(name);
    return *this;
  }

  /// Registers the actor under `name` in namespace `ray_namespace`.
  ActorCreator &SetName(std::string name, std::string ray_namespace) {
    options_.name = std::move(name);
    options_.ray_namespace = std::move(ray_namespace);
    return *this;
  }

  ActorCreator &SetResources(std::unordered_map<std::string, double> resources) {
    options_.resources = std::move(resources);
    return *this;
  }

  ActorCreator &SetResource(const std::string &name, double value) {
    options_.resources.emplace(name, value);
    return *this;
  }

  /// 0 (default): never restart; -1: restart without limit.
  ActorCreator &SetMaxRestarts(int max_restarts) {
    options_.max_restarts = max_restarts;
    return *this;
  }

  ActorCreator &SetMaxConcurrency(int max_concurrency) {
    options_.max_concurrency = max_concurrency;
    return *this;
  }

  ActorCreator &SetPlacementGroup(PlacementGroup group, int bundle_index) {
    options_.group = std::move(group);
    options_.bundle_index = bundle_index;
    return *this;
  }

  ActorCreator &SetRuntimeEnv(const RuntimeEnv &runtime_env) {
    options_.serialized_runtime_env = runtime_env.Serialize();
    return *this;
  }

  template <typename... Args>
  HandleType Remote(Args &&...args) {
    CheckTaskOptions(options_.resources);
    std::vector<TaskArg> task_args = PrepareArgs<F>(std::forward<Args>(args)...);
    std::string id = GetRayRuntime()->CreateActor(remote_function_holder_, task_args, options_);
    return HandleType(id);
  }

 private:
  RemoteFunctionHolder remote_function_holder_;
  ActorCreationOptions options_;
};

}  // namespace internal
}  // namespace ray
