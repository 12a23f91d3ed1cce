// Turns Remote() arguments into runtime TaskArgs.
//
// - An ObjectRef<X> passed for a parameter that is not an ObjectRef becomes a
//   by-reference argument (TaskArg::object_id): the runtime resolves it to the
//   value before the function runs.
// - Anything else is serialized on its own with msgpack, from the argument as
//   passed (not converted to the parameter type); ObjectRefs inside it are
//   captured into TaskArg::nested_ids.
// - An ObjectRef passed for a parameter declared as ObjectRef<T> is only
//   supported in local mode; elsewhere it throws std::invalid_argument.
//
// Public header: must stay valid C++17.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <ray/api/object_ref.h>
#include <ray/api/ray_runtime.h>
#include <ray/api/serializer.h>
#include <ray/api/type_traits.h>

namespace ray {
namespace internal {

/// Parameter type used for calls whose signature is unknown (cross-language).
struct UnknownParam {};

/// Serializes a value with nested-reference capture around it.
template <typename T>
TaskArg SerializeTaskArg(const T &value) {
  TaskArg arg;
  BeginNestedRefCapture();
  try {
    arg.value = std::make_shared<msgpack::sbuffer>(Serializer::Serialize(value));
  } catch (...) {
    EndNestedRefCapture();
    throw;
  }
  arg.nested_ids = EndNestedRefCapture();
  return arg;
}

template <typename Param, typename Arg>
void PushTaskArg(std::vector<TaskArg> *out, Arg &&arg) {
  using A = std::decay_t<Arg>;
  using P = std::decay_t<Param>;
  if constexpr (is_object_ref<A>::value && !is_object_ref<P>::value) {
    TaskArg task_arg;
    task_arg.object_id = arg.ID();
    out->push_back(std::move(task_arg));
  } else {
    if constexpr (is_object_ref<A>::value) {
      if (!GetRayRuntime()->IsLocalMode()) {
        throw std::invalid_argument(
            "Cluster mode does not support the passing of ray::ObjectRef parameters: "
            "declare the parameter as the value type and pass the ObjectRef instead.");
      }
    }
    out->push_back(SerializeTaskArg(arg));
  }
}

template <typename ArgsTuple, typename... Args, size_t... I>
void PushTaskArgs(std::vector<TaskArg> *out, std::index_sequence<I...>, Args &&...args) {
  (void)out;  // unused when there are no arguments
  (PushTaskArg<std::tuple_element_t<I, ArgsTuple>>(out, std::forward<Args>(args)), ...);
}

/// Builds one TaskArg per argument, in order. ArgsTuple is the declared
/// parameter list (std::tuple<UnknownParam...> when unknown).
template <typename ArgsTuple, typename... Args>
std::vector<TaskArg> WrapArgs(Args &&...args) {
  std::vector<TaskArg> out;
  out.reserve(sizeof...(Args));
  PushTaskArgs<ArgsTuple>(&out, std::index_sequence_for<Args...>{}, std::forward<Args>(args)...);
  return out;
}

/// A parameter list of n unknown parameters (for cross-language calls).
template <typename... Args>
using UnknownParams = std::tuple<std::conditional_t<true, UnknownParam, Args>...>;

}  // namespace internal
}  // namespace ray
