// <ray/api.h>: the Lumen implementation of Ray's C++ API.
//
// Include this one header. It provides ray::Init/Shutdown, Put/Get/Wait,
// Task/Actor/GetActor, placement groups, namespaces, RAY_REMOTE/RAY_FUNC,
// RAYLOG, RuntimeEnv and the ray::internal exception types, Lumen's
// extensions GetRuntimeContext, Nodes, ClusterResources and AvailableResources
// (<ray/api/runtime_context.h>) and GetGpuIds, and pulls in
// msgpack, nlohmann/json and the boost headers user code relies on.
// Metrics live in <ray/api/metric.h>, which is deliberately not included.
//
// All free functions are thread-safe once ray::Init has returned; calling them
// before Init (null runtime) is a programming error, as in Ray.
//
// Public header: must stay valid C++17.
#pragma once

#include <boost/callable_traits.hpp>
#include <boost/optional.hpp>
#include <boost/utility/string_view.hpp>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>

// Every standard header Ray's <ray/api.h> provides, directly or through its
// own headers, is provided here too: programs written against Ray (its
// project template uses std::cout without including <iostream>) compile
// unchanged.
#include <algorithm>
#include <any>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <iterator>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unistd.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ray/api/actor_creator.h>
#include <ray/api/actor_handle.h>
#include <ray/api/actor_task_caller.h>
#include <ray/api/arguments.h>
#include <ray/api/buffer.h>  // Lumen extension: ray::Buffer<T>
#include <ray/api/common_types.h>
#include <ray/api/function_manager.h>
#include <ray/api/internal_kv.h>  // Lumen extension: ray::experimental::InternalKv*
#include <ray/api/logging.h>
#include <ray/api/msgpack_adaptor.h>
#include <ray/api/object_ref.h>
#include <ray/api/overload.h>
#include <ray/api/ray_config.h>
#include <ray/api/ray_exception.h>
#include <ray/api/ray_remote.h>
#include <ray/api/ray_runtime.h>
#include <ray/api/ray_runtime_holder.h>
#include <ray/api/runtime_context.h>
#include <ray/api/runtime_env.h>
#include <ray/api/serializer.h>
#include <ray/api/static_check.h>
#include <ray/api/task_caller.h>
#include <ray/api/task_options.h>
#include <ray/api/type_traits.h>
#include <ray/api/wait_result.h>
#include <ray/api/xlang_function.h>

namespace ray {

// ---- lifecycle (defined by the runtime in libray_api.so) ----

/// Starts Lumen with a default RayConfig. A second Init is a silent no-op.
void Init();
/// Starts Lumen with `config` (a non-const reference, as in Ray).
void Init(RayConfig &config);
/// As above; --ray_* command-line flags override the config.
void Init(RayConfig &config, int argc, char **argv);
/// True between Init and Shutdown, and inside worker processes.
bool IsInitialized();
/// Stops Lumen; safe to call twice.
void Shutdown();

// ---- objects ----

/// Serializes `obj` now and stores it; ObjectRefs inside it stay alive as
/// long as the stored object does.
template <typename T>
ObjectRef<T> Put(const T &obj) {
  // Two passes: size the value (capturing nested refs), then let the runtime
  // hand us its storage and serialize straight into it. A large value is
  // thus copied once, into shared memory, with no intermediate buffer.
  internal::SizeCountingStream sizer;
  internal::BeginNestedRefCapture();
  try {
    msgpack::pack(sizer, obj);
  } catch (...) {
    internal::EndNestedRefCapture();
    throw;
  }
  std::vector<std::string> nested_ids = internal::EndNestedRefCapture();
  auto write = [&obj](char *dst) {
    internal::FixedBufferStream out{dst};
    internal::BeginNestedRefCapture();  // already captured by the sizing pass
    try {
      msgpack::pack(out, obj);
    } catch (...) {
      internal::EndNestedRefCapture();
      throw;
    }
    internal::EndNestedRefCapture();
  };
  std::string id = internal::GetRayRuntime()->PutSerialized(sizer.size, write, nested_ids);
  return ObjectRef<T>(id);
}

/// Blocks until the object is available; returns a freshly decoded copy.
template <typename T>
std::shared_ptr<T> Get(const ObjectRef<T> &object) {
  return object.Get();
}

/// As Get, waiting at most timeout_ms (-1: forever). Throws RayTimeoutException.
template <typename T>
std::shared_ptr<T> Get(const ObjectRef<T> &object, const int &timeout_ms) {
  return object.Get(timeout_ms);
}

/// Waits for a void task; throws if it failed.
inline void Get(const ObjectRef<void> &object) { object.Get(); }
inline void Get(const ObjectRef<void> &object, const int &timeout_ms) { object.Get(timeout_ms); }

namespace internal {
template <typename T>
std::vector<std::shared_ptr<T>> GetByIds(const std::vector<std::string> &ids, int timeout_ms) {
  std::vector<std::shared_ptr<Buffer>> buffers = GetRayRuntime()->Get(ids, timeout_ms);
  std::vector<std::shared_ptr<T>> results;
  results.reserve(buffers.size());
  for (const auto &buffer : buffers) {
    results.push_back(DecodeObject<T>(buffer));
  }
  return results;
}

template <typename T>
std::vector<std::string> IdsOf(const std::vector<ObjectRef<T>> &objects) {
  std::vector<std::string> ids;
  ids.reserve(objects.size());
  for (const auto &object : objects) {
    ids.push_back(object.ID());
  }
  return ids;
}
}  // namespace internal

/// Gets several objects; results are in input order.
template <typename T>
std::vector<std::shared_ptr<T>> Get(const std::vector<ObjectRef<T>> &objects) {
  return internal::GetByIds<T>(internal::IdsOf(objects), -1);
}

template <typename T>
std::vector<std::shared_ptr<T>> Get(const std::vector<ObjectRef<T>> &objects, const int &timeout_ms) {
  return internal::GetByIds<T>(internal::IdsOf(objects), timeout_ms);
}

/// Gets objects by raw binary id (rarely needed): ray::Get<T>(ids).
template <typename T>
std::vector<std::shared_ptr<T>> Get(const std::vector<std::string> &ids) {
  return internal::GetByIds<T>(ids, -1);
}

template <typename T>
std::vector<std::shared_ptr<T>> Get(const std::vector<std::string> &ids, const int &timeout_ms) {
  return internal::GetByIds<T>(ids, timeout_ms);
}

/// Waits until num_objects of `objects` are ready or timeout_ms passes (-1:
/// forever). Never throws on timeout; both result lists keep the input order.
template <typename T>
WaitResult<T> Wait(const std::vector<ObjectRef<T>> &objects, int num_objects, int timeout_ms) {
  std::vector<bool> ready =
      internal::GetRayRuntime()->Wait(internal::IdsOf(objects), num_objects, timeout_ms);
  std::list<ObjectRef<T>> ready_list;
  std::list<ObjectRef<T>> unready_list;
  for (size_t i = 0; i < objects.size(); ++i) {
    if (i < ready.size() && ready[i]) {
      ready_list.push_back(objects[i]);
    } else {
      unready_list.push_back(objects[i]);
    }
  }
  return WaitResult<T>(std::move(ready_list), std::move(unready_list));
}

// ---- tasks ----

/// A task calling `func`, a free or static function registered with RAY_REMOTE.
/// Throws RayException at once if it is not registered.
template <typename F>
internal::TaskCaller<F> Task(F func) {
  static_assert(!std::is_member_function_pointer<F>::value,
                "ray::Task takes a free or static function; call member functions "
                "through an ActorHandle");
  static_assert(std::is_pointer<F>::value && std::is_function<std::remove_pointer_t<F>>::value,
                "ray::Task takes a function registered with RAY_REMOTE");
  return internal::TaskCaller<F>(
      internal::RemoteFunctionHolder(internal::FunctionManager::Instance().RequireFunctionName(func)));
}

/// A task calling a Python function.
template <typename R>
internal::TaskCaller<PyFunction<R>> Task(PyFunction<R> func) {
  return internal::TaskCaller<PyFunction<R>>(
      internal::RemoteFunctionHolder(func.function_name, func.module_name, internal::LangType::PYTHON));
}

/// A task calling a static Java method.
template <typename R>
internal::TaskCaller<JavaFunction<R>> Task(JavaFunction<R> func) {
  return internal::TaskCaller<JavaFunction<R>>(
      internal::RemoteFunctionHolder(func.function_name, func.class_name, internal::LangType::JAVA));
}

// ---- actors ----

/// An actor created by `create_func`, a free or static function returning T*
/// registered with RAY_REMOTE. Throws RayException at once if unregistered.
template <typename F>
internal::ActorCreator<F> Actor(F create_func) {
  static_assert(!std::is_member_function_pointer<F>::value,
                "ray::Actor takes a free or static factory function returning T*");
  static_assert(std::is_pointer<typename internal::FunctionTraits<F>::ReturnType>::value,
                "an actor factory must return a pointer to the actor object");
  std::string name = internal::FunctionManager::Instance().RequireFunctionName(create_func);
  std::string class_name = internal::FunctionManager::GetClassNameByFuncName(name);
  return internal::ActorCreator<F>(internal::RemoteFunctionHolder(std::move(name), std::move(class_name)));
}

/// A Python actor.
inline internal::ActorCreator<PyActorClass> Actor(PyActorClass func) {
  return internal::ActorCreator<PyActorClass>(internal::RemoteFunctionHolder(
      func.function_name, func.module_name + "." + func.class_name, internal::LangType::PYTHON));
}

/// A Java actor.
inline internal::ActorCreator<JavaActorClass> Actor(JavaActorClass func) {
  return internal::ActorCreator<JavaActorClass>(
      internal::RemoteFunctionHolder(func.function_name, func.class_name, internal::LangType::JAVA));
}

/// The named actor in namespace `ray_namespace` (empty: the job's namespace),
/// or an empty optional if there is none.
template <typename T>
boost::optional<ActorHandle<T>> GetActor(const std::string &actor_name, const std::string &ray_namespace) {
  if (actor_name.empty()) {
    return {};
  }
  std::string id = internal::GetRayRuntime()->GetActorId(actor_name, ray_namespace);
  if (id.empty()) {
    return {};
  }
  return ActorHandle<T>(id);
}

/// The named actor in the job's namespace, or an empty optional.
template <typename T>
boost::optional<ActorHandle<T>> GetActor(const std::string &actor_name) {
  return GetActor<T>(actor_name, "");
}

/// Cross-language lookup: a handle to a (Python, Java or C++) named actor.
inline boost::optional<ActorHandleXlang> GetActor(const std::string &actor_name,
                                                  const std::string &ray_namespace = "") {
  if (actor_name.empty()) {
    return {};
  }
  std::string id = internal::GetRayRuntime()->GetActorId(actor_name, ray_namespace);
  if (id.empty()) {
    return {};
  }
  return ActorHandleXlang(id);
}

/// Inside an actor method: ends the actor intentionally. Throws
/// std::logic_error outside an actor.
inline void ExitActor() { internal::GetRayRuntime()->ExitActor(); }

/// True in a restarted actor's constructor and later methods.
inline bool WasCurrentActorRestarted() { return internal::GetRayRuntime()->WasCurrentActorRestarted(); }

// ---- placement groups ----

inline PlacementGroup CreatePlacementGroup(const PlacementGroupCreationOptions &create_options) {
  return internal::GetRayRuntime()->CreatePlacementGroup(create_options);
}

inline void RemovePlacementGroup(const std::string &placement_group_id) {
  internal::GetRayRuntime()->RemovePlacementGroup(placement_group_id);
}

inline std::vector<PlacementGroup> GetAllPlacementGroups() {
  return internal::GetRayRuntime()->GetAllPlacementGroups();
}

/// An empty group (empty id) if there is none.
inline PlacementGroup GetPlacementGroupById(const std::string &id) {
  return internal::GetRayRuntime()->GetPlacementGroupById(id);
}

/// Looks in the job's namespace; an empty group if there is none.
inline PlacementGroup GetPlacementGroup(const std::string &name) {
  return internal::GetRayRuntime()->GetPlacementGroup(name);
}

// ---- context ----

/// The job's namespace (the same in the driver, tasks and actors).
inline std::string GetNamespace() { return internal::GetRayRuntime()->GetNamespace(); }

/// The GPU device ids granted to the calling task or actor (what its
/// CUDA_VISIBLE_DEVICES lists); empty in the driver and in work that asked
/// for no GPU. Lumen's counterpart of Ray's Python ray.get_gpu_ids(), which
/// Ray's C++ API lacks.
inline std::vector<int> GetGpuIds() { return internal::GetRayRuntime()->GetGpuIds(); }

}  // namespace ray
