// ray::ActorHandle<ActorType, IsXlang>: a handle to a running actor.
//
// Holds only the binary actor id; copies are cheap and refer to the same
// actor. Serializable: it encodes as a msgpack string holding the runtime's
// serialized handle, and decoding registers the handle with the runtime, so
// handles can be passed to and returned from tasks and actors.
// ActorHandleXlang (ActorHandle<void, true>) is a handle to a Python or Java
// actor. Thread-safe as a value (no mutable shared state).
//
// Public header: must stay valid C++17.
#pragma once

#include <msgpack.hpp>

#include <string>
#include <type_traits>

#include <ray/api/actor_task_caller.h>
#include <ray/api/function_manager.h>
#include <ray/api/ray_runtime.h>
#include <ray/api/type_traits.h>
#include <ray/api/xlang_function.h>

namespace ray {

template <typename ActorType, bool IsXlang = false>
class ActorHandle {
 public:
  ActorHandle() = default;
  /// Non-explicit on purpose (Ray's API).
  ActorHandle(const std::string &id) : id_(id) {}

  /// The raw binary actor id.
  const std::string &ID() const { return id_; }

  /// Calls a member function registered with RAY_REMOTE. The member may belong
  /// to ActorType or to one of its bases (virtual calls dispatch dynamically).
  template <typename F>
  internal::ActorTaskCaller<F> Task(F actor_func) {
    static_assert(std::is_member_function_pointer<F>::value,
                  "ActorHandle::Task takes a member function pointer, e.g. &Counter::Add");
    using Class = typename internal::FunctionTraits<F>::ClassType;
    static_assert(std::is_same<Class, ActorType>::value || std::is_base_of<Class, ActorType>::value,
                  "the member function must belong to the actor class or one of its bases");
    std::string name = internal::FunctionManager::Instance().RequireFunctionName(actor_func);
    std::string class_name = internal::FunctionManager::GetClassNameByFuncName(name);
    return internal::ActorTaskCaller<F>(
        id_, internal::RemoteFunctionHolder(std::move(name), std::move(class_name)));
  }

  template <typename R>
  internal::ActorTaskCaller<PyActorMethod<R>> Task(PyActorMethod<R> func) {
    static_assert(IsXlang && std::is_same<R, R>::value,
                  "Python actor methods need a cross-language handle (ActorHandleXlang)");
    return internal::ActorTaskCaller<PyActorMethod<R>>(
        id_, internal::RemoteFunctionHolder(func.function_name, "", internal::LangType::PYTHON));
  }

  template <typename R>
  internal::ActorTaskCaller<JavaActorMethod<R>> Task(JavaActorMethod<R> func) {
    static_assert(IsXlang && std::is_same<R, R>::value,
                  "Java actor methods need a cross-language handle (ActorHandleXlang)");
    return internal::ActorTaskCaller<JavaActorMethod<R>>(
        id_, internal::RemoteFunctionHolder(func.function_name, "", internal::LangType::JAVA));
  }

  /// Kills the actor without restarting it.
  void Kill() { Kill(true); }
  /// Kills the actor; with no_restart == false it may restart (max_restarts).
  void Kill(bool no_restart) { internal::GetRayRuntime()->KillActor(id_, no_restart); }

  /// Rebuilds a handle from bytes produced by the runtime's SerializeActorHandle.
  static ActorHandle FromBytes(const std::string &serialized_actor_handle) {
    return ActorHandle(internal::GetRayRuntime()->DeserializeAndRegisterActorHandle(serialized_actor_handle));
  }

  /// Marker used by the type traits.
  static bool IsActorHandle() { return true; }

  template <typename Packer>
  void msgpack_pack(Packer &packer) const {
    packer.pack(SerializedForm());
  }

  void msgpack_unpack(const msgpack::object &o) {
    std::string serialized = o.as<std::string>();
    auto runtime = internal::GetRayRuntime();
    id_ = runtime ? runtime->DeserializeAndRegisterActorHandle(serialized) : serialized;
  }

  void msgpack_object(msgpack::object *o, msgpack::zone &zone) const {
    *o = msgpack::object(SerializedForm(), zone);
  }

 private:
  std::string SerializedForm() const {
    auto runtime = internal::GetRayRuntime();
    return runtime ? runtime->SerializeActorHandle(id_) : id_;
  }

  std::string id_;
};

using ActorHandleXlang = ActorHandle<void, true>;

}  // namespace ray
