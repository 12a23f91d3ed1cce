// ray::internal::TaskCaller<F>: the builder returned by ray::Task(f).
//
// Setters return *this so that chains work on the temporary. Remote(args...)
// validates the options, checks the arguments at compile time, submits the
// task and returns an ObjectRef to its result. A builder is meant for one
// Remote() call, from one thread.
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
#include <ray/api/runtime_env.h>
#include <ray/api/static_check.h>
#include <ray/api/task_options.h>
#include <ray/api/type_traits.h>

namespace ray {
namespace internal {

/// The result type of calling F (a function pointer or xlang descriptor).
template <typename F, bool = is_xlang<F>::value>
struct CallReturn {
  using type = typename FunctionTraits<F>::ReturnType;
};
template <typename F>
struct CallReturn<F, true> {
  using type = typename XlangReturn<F>::type;
};

/// Checks the arguments against F's signature (skipped for xlang calls) and
/// wraps them into TaskArgs.
template <typename F, typename... Args>
std::vector<TaskArg> PrepareArgs(Args &&...args) {
  if constexpr (is_xlang<F>::value) {
    return WrapArgs<UnknownParams<Args...>>(std::forward<Args>(args)...);
  } else {
    StaticCheck<F, Args...>();
    return WrapArgs<typename FunctionTraits<F>::ArgsTuple>(std::forward<Args>(args)...);
  }
}

template <typename F>
class TaskCaller {
 public:
  using ReturnType = typename CallReturn<F>::type;

  TaskCaller() = default;
  explicit TaskCaller(RemoteFunctionHolder remote_function_holder)
      : remote_function_holder_(std::move(remote_function_holder)) {}

  TaskCaller &SetName(std::string name) {
    options_.name = std::move(name);
    return *this;
  }

  /// Replaces the whole resource map.
  TaskCaller &SetResources(std::unordered_map<std::string, double> resources) {
    options_.resources = std::move(resources);
    return *this;
  }

  /// Adds one resource; an existing entry with that name is kept (emplace).
  TaskCaller &SetResource(const std::string &name, double value) {
    options_.resources.emplace(name, value);
    return *this;
  }

  TaskCaller &SetPlacementGroup(PlacementGroup group, int bundle_index) {
    options_.group = std::move(group);
    options_.bundle_index = bundle_index;
    return *this;
  }

  TaskCaller &SetRuntimeEnv(const RuntimeEnv &runtime_env) {
    options_.serialized_runtime_env = runtime_env.Serialize();
    return *this;
  }

  template <typename... Args>
  ObjectRef<ReturnType> Remote(Args &&...args) {
    CheckTaskOptions(options_.resources);
    std::vector<TaskArg> task_args = PrepareArgs<F>(std::forward<Args>(args)...);
    std::string id = GetRayRuntime()->Call(remote_function_holder_, task_args, options_);
    return ObjectRef<ReturnType>(id);
  }

 private:
  RemoteFunctionHolder remote_function_holder_;
  CallOptions options_;
};

}  // namespace internal
}  // namespace ray
