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
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ray/api/decode_support.h>
#include <ray/api/ray_exception.h>
#include <ray/api/serializer.h>
#include <ray/api/type_traits.h>

namespace ray {
namespace internal {

/// One serialized argument (a msgpack object). A stored object passed by
/// reference also has its id and what keeps its bytes where they are (the
/// store's pin), so that the invoker can share one decoded value between the
/// tasks that take it (decode_support.h) and a ray::Buffer can view it.
struct ArgView {
  ArgView(const char *data, size_t size, std::string_view object_id = {},
          std::shared_ptr<const void> owner = nullptr)
      : data(data), size(size), object_id(object_id), owner(std::move(owner)) {}

  const char *data;
  size_t size;
  std::string_view object_id;         // empty: a value carried in the task's message; valid during the call
  std::shared_ptr<const void> owner;  // null: the bytes live only during the call
};

/// A remote call's serialized result. A small one is its bytes; a large one
/// (kDeferredResultBytes or more) is its size and a writer that serializes the
/// value straight into storage of that size, the object store's allocation, so
/// that a large result is copied once, as ray::Put copies a value once.
class SerializedResult {
 public:
  static constexpr size_t kDeferredResultBytes = 64 << 10;

  SerializedResult() = default;
  SerializedResult(msgpack::sbuffer bytes) : size_(bytes.size()), bytes_(std::move(bytes)) {}  // NOLINT
  SerializedResult(size_t size, std::function<void(char *dst)> writer)
      : size_(size), writer_(std::move(writer)) {}

  size_t size() const { return size_; }
  /// Writes exactly size() bytes to dst. A deferred writer runs user adaptors,
  /// which may throw.
  void WriteTo(char *dst) const {
    if (writer_) {
      writer_(dst);
    } else if (size_ > 0) {
      std::memcpy(dst, bytes_.data(), size_);
    }
  }
  /// The bytes themselves (a deferred value is serialized into memory now).
  const char *data() {
    if (writer_) {
      std::vector<char> staged(size_);
      WriteTo(staged.data());
      bytes_.clear();
      bytes_.write(staged.data(), staged.size());
      writer_ = nullptr;
    }
    return bytes_.data();
  }

 private:
  size_t size_ = 0;
  msgpack::sbuffer bytes_;
  std::function<void(char *dst)> writer_;
};

/// Runs a registered free function (or actor factory) on serialized arguments
/// and returns its serialized result. A factory returning T* returns the
/// pointer as a msgpack uint64.
using RemoteFunction = std::function<SerializedResult(const std::vector<ArgView> &args)>;

/// Runs a registered member function. actor_ptr is the value the factory
/// returned (T* as uint64).
using RemoteMemberFunction =
    std::function<SerializedResult(uint64_t actor_ptr, const std::vector<ArgView> &args)>;

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
  DecodeSource source{arg.data, arg.size, arg.owner};
  ScopedDecodeSource scoped(arg.owner ? &source : nullptr);
  try {
    return Serializer::Deserialize<D>(arg.data, arg.size);
  } catch (const msgpack::type_error &e) {
    throw std::invalid_argument("Arguments error: argument " + std::to_string(index) +
                                " does not match the parameter type (" + e.what() + ")");
  } catch (const msgpack::unpack_error &e) {
    throw std::invalid_argument("Arguments error: argument " + std::to_string(index) +
                                " is not valid msgpack (" + e.what() + ")");
  } catch (const std::bad_alloc &) {
    throw std::invalid_argument("Arguments error: argument " + std::to_string(index) +
                                " is not valid msgpack (it claims more memory than exists)");
  }
}

/// One decoded argument, held for the call. A parameter declared `const T&`
/// that takes a stored object shares the decoded T with other tasks that take
/// the same object (the decoded-argument cache: the object is immutable and
/// the function cannot change the value); any other parameter gets a value of
/// its own, moved into a by-value parameter.
template <typename P>
class ArgSlot {
  using D = std::decay_t<P>;
  static constexpr bool kShareable =
      std::is_lvalue_reference<P>::value && std::is_const<std::remove_reference_t<P>>::value;

 public:
  ArgSlot(const ArgView &arg, size_t index) {
    if constexpr (kShareable) {
      if (!arg.object_id.empty()) {
        shared_ = DecodeShared(arg, index);
        return;
      }
    }
    value_ = std::make_unique<D>(DecodeArg<D>(arg, index));
  }

  /// The argument as the parameter takes it.
  P &&Forward() {
    if constexpr (kShareable) {
      if (shared_) return *shared_;
    }
    return static_cast<P &&>(*value_);
  }

 private:
  static std::shared_ptr<const D> DecodeShared(const ArgView &arg, size_t index) {
    if (auto found = FindDecodedArg(arg.object_id, typeid(D)))
      return std::static_pointer_cast<const D>(found);
    const uint64_t retains = DecodeRetainCount();
    auto value = std::make_shared<const D>(DecodeArg<D>(arg, index));
    // A value that holds references or pins would keep them for as long as
    // it is cached: only self-contained values are shared.
    if (DecodeRetainCount() == retains) KeepDecodedArg(arg.object_id, typeid(D), value, arg.size);
    return value;
  }

  std::unique_ptr<D> value_;
  std::shared_ptr<const D> shared_;
};

/// Decodes the arguments, one ArgSlot per parameter.
template <typename ArgsTuple, size_t... I>
auto DecodeArgs(const std::vector<ArgView> &args, std::index_sequence<I...>) {
  return std::tuple<ArgSlot<std::tuple_element_t<I, ArgsTuple>>...>{
      ArgSlot<std::tuple_element_t<I, ArgsTuple>>(args[I], I)...};
}

inline msgpack::sbuffer PackNil() {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, msgpack::type::nil_t());
  return buffer;
}

/// Serializes a call's result: sized first, then written into memory of
/// exactly that size, or, when large, kept (moved, not copied) for the runtime
/// to write where it stores the object.
template <typename R>
SerializedResult PackResult(R &&result) {
  using V = std::decay_t<R>;
  if constexpr (std::is_pointer<V>::value) {
    return Serializer::Serialize(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(result)));
  } else {
    SizeCountingStream counter;
    msgpack::pack(counter, result);
    if constexpr (std::is_move_constructible<V>::value) {
      if (counter.size >= SerializedResult::kDeferredResultBytes) {
        auto held = std::make_shared<const V>(std::forward<R>(result));
        return SerializedResult(counter.size, [held](char *dst) {
          FixedBufferStream out{dst};
          msgpack::pack(out, *held);
        });
      }
    }
    msgpack::sbuffer bytes(counter.size > 0 ? counter.size : 1);
    msgpack::pack(bytes, result);
    return bytes;
  }
}

inline void CheckArgCount(const std::vector<ArgView> &args, size_t expected) {
  if (args.size() != expected) {
    throw std::invalid_argument("Arguments number not match");
  }
}

template <typename F, typename ArgsTuple, size_t... I>
SerializedResult CallFunction(F f, const std::vector<ArgView> &args, std::index_sequence<I...> seq) {
  auto decoded = DecodeArgs<ArgsTuple>(args, seq);
  (void)decoded;
  using R = typename FunctionTraits<F>::ReturnType;
  if constexpr (std::is_void<R>::value) {
    f(std::get<I>(decoded).Forward()...);
    return PackNil();
  } else {
    return PackResult(f(std::get<I>(decoded).Forward()...));
  }
}

template <typename F, typename ArgsTuple, size_t... I>
SerializedResult CallMember(F f, uint64_t actor_ptr, const std::vector<ArgView> &args,
                            std::index_sequence<I...> seq) {
  using C = typename FunctionTraits<F>::ClassType;
  using R = typename FunctionTraits<F>::ReturnType;
  C *self = reinterpret_cast<C *>(static_cast<uintptr_t>(actor_ptr));
  auto decoded = DecodeArgs<ArgsTuple>(args, seq);
  (void)decoded;
  auto call = [&]() -> decltype(auto) {
    if constexpr (boost::callable_traits::is_rvalue_reference_member<F>::value) {
      return (std::move(*self).*f)(std::get<I>(decoded).Forward()...);
    } else {
      return ((*self).*f)(std::get<I>(decoded).Forward()...);
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
  return [f](const std::vector<ArgView> &args) -> SerializedResult {
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
  return [f](uint64_t actor_ptr, const std::vector<ArgView> &args) -> SerializedResult {
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
