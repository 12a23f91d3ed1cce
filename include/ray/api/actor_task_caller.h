// ray::internal::ActorTaskCaller<F>: the builder returned by
// ActorHandle::Task(&Class::Method).
//
// Only SetName / SetResources / SetResource are available for actor calls.
// Remote(args...) checks the arguments at compile time, submits the call and
// returns an ObjectRef to its result. Calls from one caller run in submission
// order (unless the actor has max_concurrency > 1).
//
// Public header: must stay valid C++17.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ray/api/arguments.h>
#include <ray/api/object_ref.h>
#include <ray/api/ray_runtime.h>
#include <ray/api/static_check.h>
#include <ray/api/task_caller.h>
#include <ray/api/task_options.h>
#include <ray/api/type_traits.h>

namespace ray {
namespace internal {

template <typename F>
class ActorTaskCaller {
 public:
  using ReturnType = typename CallReturn<F>::type;

  ActorTaskCaller() = default;
  ActorTaskCaller(std::string actor_id, RemoteFunctionHolder remote_function_holder)
      : actor_id_(std::move(actor_id)), remote_function_holder_(std::move(remote_function_holder)) {}

  ActorTaskCaller &SetName(std::string name) {
    options_.name = std::move(name);
    return *this;
  }

  ActorTaskCaller &SetResources(std::unordered_map<std::string, double> resources) {
    options_.resources = std::move(resources);
    return *this;
  }

  ActorTaskCaller &SetResource(const std::string &name, double value) {
    options_.resources.emplace(name, value);
    return *this;
  }

  template <typename... Args>
  ObjectRef<ReturnType> Remote(Args &&...args) {
    CheckTaskOptions(options_.resources);
    std::vector<TaskArg> task_args = PrepareArgs<F>(std::forward<Args>(args)...);
    std::string id = GetRayRuntime()->CallActor(remote_function_holder_, actor_id_, task_args, options_);
    return ObjectRef<ReturnType>(id);
  }

 private:
  std::string actor_id_;
  RemoteFunctionHolder remote_function_holder_;
  CallOptions options_;
};

}  // namespace internal
}  // namespace ray
