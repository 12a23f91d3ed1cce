// Type traits used by the task builders: ObjectRef / ActorHandle detection,
// cross-language descriptor detection, and function signature traits built on
// boost::callable_traits.
//
// Public header: must stay valid C++17.
#pragma once

#include <boost/callable_traits.hpp>

#include <tuple>
#include <type_traits>

#include <ray/api/xlang_function.h>

namespace ray {

template <typename T>
class ObjectRef;
template <typename ActorType, bool IsXlang>
class ActorHandle;

namespace internal {

template <typename T>
struct is_object_ref : std::false_type {};
template <typename T>
struct is_object_ref<ObjectRef<T>> : std::true_type {};
template <typename T>
inline constexpr bool is_object_ref_v = is_object_ref<std::decay_t<T>>::value;

template <typename T>
struct is_actor_handle : std::false_type {};
template <typename T, bool X>
struct is_actor_handle<ActorHandle<T, X>> : std::true_type {};
template <typename T>
inline constexpr bool is_actor_handle_v = is_actor_handle<std::decay_t<T>>::value;

/// ObjectRef<T> -> T, anything else unchanged.
template <typename T>
struct FilterArgType {
  using type = T;
};
template <typename T>
struct FilterArgType<ObjectRef<T>> {
  using type = T;
};

/// Cross-language descriptors (calls into Python or Java).
template <typename T>
struct is_python : std::false_type {};
template <typename R>
struct is_python<PyFunction<R>> : std::true_type {};
template <>
struct is_python<PyActorClass> : std::true_type {};
template <typename R>
struct is_python<PyActorMethod<R>> : std::true_type {};

template <typename T>
struct is_java : std::false_type {};
template <typename R>
struct is_java<JavaFunction<R>> : std::true_type {};
template <>
struct is_java<JavaActorClass> : std::true_type {};
template <typename R>
struct is_java<JavaActorMethod<R>> : std::true_type {};

template <typename T>
struct is_xlang : std::integral_constant<bool, is_python<T>::value || is_java<T>::value> {};
template <typename T>
inline constexpr bool is_xlang_v = is_xlang<T>::value;

/// The return type declared by a cross-language descriptor.
template <typename T>
struct XlangReturn {
  using type = void;
};
template <typename R>
struct XlangReturn<PyFunction<R>> {
  using type = R;
};
template <typename R>
struct XlangReturn<PyActorMethod<R>> {
  using type = R;
};
template <typename R>
struct XlangReturn<JavaFunction<R>> {
  using type = R;
};
template <typename R>
struct XlangReturn<JavaActorMethod<R>> {
  using type = R;
};

template <typename Tuple>
struct TupleTail;
template <typename Head, typename... Tail>
struct TupleTail<std::tuple<Head, Tail...>> {
  using type = std::tuple<Tail...>;
};

/// Signature traits of a free function pointer or member function pointer.
/// ArgsTuple holds the declared parameter types (without the object for a
/// member function).
template <typename F, typename Enable = void>
struct FunctionTraits {
  using ReturnType = boost::callable_traits::return_type_t<F>;
  using ArgsTuple = boost::callable_traits::args_t<F>;
  static constexpr size_t kArity = std::tuple_size<ArgsTuple>::value;
};

template <typename F>
struct FunctionTraits<F, std::enable_if_t<std::is_member_function_pointer<F>::value>> {
  using ReturnType = boost::callable_traits::return_type_t<F>;
  using ClassType = boost::callable_traits::class_of_t<F>;
  using ArgsTuple = typename TupleTail<boost::callable_traits::args_t<F>>::type;
  static constexpr size_t kArity = std::tuple_size<ArgsTuple>::value;
};

}  // namespace internal
}  // namespace ray
