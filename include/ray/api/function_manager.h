// The registry of remote functions and the execution contract with the worker.
//
// RAY_REMOTE registers every listed function here under its registration key
// (the macro argument's source text). The caller side maps a function pointer
// to its key (ray::Task, ray::Actor, ActorHandle::Task); the worker side maps
// a key to an invoker that decodes msgpack arguments, calls the function and
// encodes its result.
//
// FunctionManager::Instance() is defined in libray_api.so, so there is one
// registry per process, shared by the executable and every dlopen'ed user
// library. All methods are thread-safe; returned invoker pointers stay valid
// for the life of the process (entries are never removed).
//
// Public header: must stay valid C++17.
#pragma once

#include <msgpack.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ray/api/ray_exception.h>
#include <ray/api/serializer.h>
#include <ray/api/type_traits.h>

namespace ray {
namespace internal {

/// One serialized argument (a msgpack object).
struct ArgView {
  const char *data;
  size_t size;
};

/// Runs a registered free function (or actor factory) on serialized arguments
/// and returns its serialized result. A factory returning T* returns the
/// pointer as a msgpack uint64.
using RemoteFunction = std::function<msgpack::sbuffer(const std::vector<ArgView> &args)>;

/// Runs a registered member function. actor_ptr is the value the factory
/// returned (T* as uint64).
using RemoteMemberFunction =
    std::function<msgpack::sbuffer(uint64_t actor_ptr, const std::vector<ArgView> &args)>;

/// Destroys an actor instance (the T* a factory returned, as uint64): runs
/// T's destructor, which is user code.
using ActorDeleter = void (*)(uint64_t actor_ptr);

template <typename T>
void DeleteActorInstance(uint64_t actor_ptr) {
  delete reinterpret_cast<T *>(static_cast<uintptr_t>(actor_ptr));
}

/// The deleter for what a factory returning R makes; nullptr when R is not
/// a pointer, or `delete` through it is not possible (no public destructor)
/// or not safe (a polymorphic class whose destructor is not virtual: the
/// object may be of a derived class). Such instances are never destroyed.
template <typename R>
constexpr ActorDeleter ActorDeleterFor() {
  if constexpr (std::is_pointer<R>::value) {
    using T = std::remove_cv_t<std::remove_pointer_t<R>>;
    if constexpr (std::is_class<T>::value && std::is_destructible<T>::value &&
                  (!std::is_polymorphic<T>::value || std::has_virtual_destructor<T>::value)) {
      return &DeleteActorInstance<T>;
    }
  }
  return nullptr;
}

// ---- invokers -------------------------------------------------------------

template <typename D>
D DecodeArg(const ArgView &arg, size_t index) {
  try {
    return Serializer::Deserialize<D>(arg.data, arg.size);
  } catch (const msgpack::type_error &e) {
    throw std::invalid_argument("Arguments error: argument " + std::to_string(index) +
                                " does not match the parameter type (" + e.what() + ")");
  } catch (const msgpack::unpack_error &e) {
    throw std::invalid_argument("Arguments error: argument " + std::to_string(index) +
                                " is not valid msgpack (" + e.what() + ")");
  }
}

/// Decodes the arguments into a tuple of the parameters' decayed types.
template <typename ArgsTuple, size_t... I>
auto DecodeArgs(const std::vector<ArgView> &args, std::index_sequence<I...>) {
  return std::tuple<std::decay_t<std::tuple_element_t<I, ArgsTuple>>...>{
      DecodeArg<std::decay_t<std::tuple_element_t<I, ArgsTuple>>>(args[I], I)...};
}

inline msgpack::sbuffer PackNil() {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, msgpack::type::nil_t());
  return buffer;
}

template <typename R>
msgpack::sbuffer PackResult(const R &result) {
  if constexpr (std::is_pointer<R>::value) {
    return Serializer::Serialize(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(result)));
  } else {
    return Serializer::Serialize(result);
  }
}

inline void CheckArgCount(const std::vector<ArgView> &args, size_t expected) {
  if (args.size() != expected) {
    throw std::invalid_argument("Arguments number not match");
  }
}

template <typename F, typename ArgsTuple, size_t... I>
msgpack::sbuffer CallFunction(F f, const std::vector<ArgView> &args, std::index_sequence<I...> seq) {
  auto decoded = DecodeArgs<ArgsTuple>(args, seq);
  (void)decoded;
  using R = typename FunctionTraits<F>::ReturnType;
  if constexpr (std::is_void<R>::value) {
    f(std::forward<std::tuple_element_t<I, ArgsTuple>>(std::get<I>(decoded))...);
    return PackNil();
  } else {
    return PackResult(f(std::forward<std::tuple_element_t<I, ArgsTuple>>(std::get<I>(decoded))...));
  }
}

template <typename F, typename ArgsTuple, size_t... I>
msgpack::sbuffer CallMember(F f, uint64_t actor_ptr, const std::vector<ArgView> &args,
                            std::index_sequence<I...> seq) {
  using C = typename FunctionTraits<F>::ClassType;
  using R = typename FunctionTraits<F>::ReturnType;
  C *self = reinterpret_cast<C *>(static_cast<uintptr_t>(actor_ptr));
  auto decoded = DecodeArgs<ArgsTuple>(args, seq);
  (void)decoded;
  auto call = [&]() -> decltype(auto) {
    if constexpr (boost::callable_traits::is_rvalue_reference_member<F>::value) {
      return (std::move(*self).*f)(std::forward<std::tuple_element_t<I, ArgsTuple>>(std::get<I>(decoded))...);
    } else {
      return ((*self).*f)(std::forward<std::tuple_element_t<I, ArgsTuple>>(std::get<I>(decoded))...);
    }
  };
  if constexpr (std::is_void<R>::value) {
    call();
    return PackNil();
  } else {
    return PackResult(call());
  }
}

/// Wraps a free function (or static member function) as a RemoteFunction.
template <typename F>
RemoteFunction MakeFunctionInvoker(F f) {
  using ArgsTuple = typename FunctionTraits<F>::ArgsTuple;
  constexpr size_t kArity = FunctionTraits<F>::kArity;
  return [f](const std::vector<ArgView> &args) -> msgpack::sbuffer {
    CheckArgCount(args, kArity);
    return CallFunction<F, ArgsTuple>(f, args, std::make_index_sequence<kArity>{});
  };
}

/// Wraps a member function pointer as a RemoteMemberFunction. The call goes
/// through the member pointer, so virtual functions dispatch dynamically.
template <typename F>
RemoteMemberFunction MakeMemberFunctionInvoker(F f) {
  using ArgsTuple = typename FunctionTraits<F>::ArgsTuple;
  constexpr size_t kArity = FunctionTraits<F>::kArity;
  return [f](uint64_t actor_ptr, const std::vector<ArgView> &args) -> msgpack::sbuffer {
    CheckArgCount(args, kArity);
    return CallMember<F, ArgsTuple>(f, actor_ptr, args, std::make_index_sequence<kArity>{});
  };
}

// ---- registry -------------------------------------------------------------

class FunctionManager {
 public:
  /// The process-wide registry (defined in libray_api.so).
  static FunctionManager &Instance();

  /// Registers `f` (free/static function, or member function pointer) under
  /// `name`. Returns true; throws RayException if the name or the function is
  /// already registered.
  template <typename F>
  bool RegisterRemoteFunction(const std::string &name, F f) {
    using Fn = std::decay_t<F>;
    if constexpr (std::is_member_function_pointer<Fn>::value) {
      return RegisterMemberFunction(name, PointerKey(Fn(f)), MakeMemberFunctionInvoker(Fn(f)));
    } else {
      static_assert(std::is_pointer<Fn>::value && std::is_function<std::remove_pointer_t<Fn>>::value,
                    "RAY_REMOTE accepts functions and member function pointers only");
      return RegisterFunction(name, PointerKey(Fn(f)), MakeFunctionInvoker(Fn(f)),
                              ActorDeleterFor<typename FunctionTraits<Fn>::ReturnType>());
    }
  }

  /// Non-template registration. pointer_key is PointerKey(f) (may be empty
  /// for a function with no in-process pointer, e.g. a test double).
  /// `deleter`: for an actor factory, destroys the instances it makes.
  bool RegisterFunction(const std::string &name, const std::string &pointer_key, RemoteFunction invoker,
                        ActorDeleter deleter = nullptr);
  bool RegisterMemberFunction(const std::string &name, const std::string &pointer_key,
                              RemoteMemberFunction invoker);

  /// Worker side: the invoker registered under `name`, nullptr if unknown.
  const RemoteFunction *GetFunction(const std::string &name) const;
  const RemoteMemberFunction *GetMemberFunction(const std::string &name) const;
  /// The deleter for instances of the actor factory registered under `name`,
  /// nullptr if none (see ActorDeleterFor).
  ActorDeleter GetActorDeleter(const std::string &name) const;

  /// Caller side: the registration key of `f`, or "" if it is not registered.
  template <typename F>
  std::string GetFunctionName(const F &f) const {
    return GetFunctionNameByPointerKey(PointerKey(std::decay_t<F>(f)));
  }
  std::string GetFunctionNameByPointerKey(const std::string &pointer_key) const;

  /// Like GetFunctionName, but throws RayException telling the user to
  /// register the function with RAY_REMOTE.
  template <typename F>
  std::string RequireFunctionName(const F &f) const {
    std::string name = GetFunctionName(f);
    if (name.empty()) {
      ThrowNotRegistered();
    }
    return name;
  }

  /// All registered keys (free functions and factories / member functions).
  std::vector<std::string> GetFunctionNames() const;
  std::vector<std::string> GetMemberFunctionNames() const;

  /// The class part of a registration key: "RAY_FUNC(Counter::FactoryCreate, int)"
  /// -> "Counter", "&Counter::Add" -> "Counter", "Plus" -> "".
  static std::string GetClassNameByFuncName(const std::string &func_name);

  /// The lookup key of a function pointer: its bytes, plus typeid(Class).name()
  /// for member function pointers.
  template <typename F>
  static std::string PointerKey(F f) {
    std::string key;
    if constexpr (std::is_member_function_pointer<F>::value) {
      using C = typename FunctionTraits<F>::ClassType;
      key = "M:";
      key += typeid(C).name();
      key += ':';
    } else {
      key = "F:";
    }
    char bytes[sizeof(F)];
    std::memcpy(bytes, &f, sizeof(F));
    key.append(bytes, sizeof(F));
    return key;
  }

  FunctionManager(const FunctionManager &) = delete;
  FunctionManager &operator=(const FunctionManager &) = delete;

 private:
  FunctionManager() = default;
  [[noreturn]] static void ThrowNotRegistered();
  void CheckNotRegisteredLocked(const std::string &name, const std::string &pointer_key) const;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, RemoteFunction> functions_;
  std::unordered_map<std::string, RemoteMemberFunction> member_functions_;
  std::unordered_map<std::string, ActorDeleter> actor_deleters_;
  std::unordered_map<std::string, std::string> names_by_pointer_;
};

}  // namespace internal
}  // namespace ray
