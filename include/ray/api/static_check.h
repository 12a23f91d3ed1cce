// Compile-time checks of Remote() arguments against the function signature.
//
// The count must match exactly; each argument must be able to initialize the
// (decayed) parameter type, or be an ObjectRef<X> whose X can (by-reference
// argument). A failure is a static_assert reading "arguments not match".
//
// Public header: must stay valid C++17.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include <ray/api/type_traits.h>

namespace ray {
namespace internal {

template <typename Param, typename Arg>
struct ArgMatches {
  using P = std::decay_t<Param>;
  using A = std::decay_t<Arg>;
  static constexpr bool value = std::is_constructible<P, Arg>::value ||
                                (is_object_ref<A>::value && !is_object_ref<P>::value &&
                                 std::is_constructible<P, const typename FilterArgType<A>::type &>::value);
};

template <typename ArgsTuple, typename... Args, size_t... I>
constexpr bool AllArgsMatch(std::index_sequence<I...>) {
  return (true && ... && ArgMatches<std::tuple_element_t<I, ArgsTuple>, Args>::value);
}

/// Checks Remote(Args...) against the parameter list ArgsTuple.
template <typename ArgsTuple, typename... Args>
constexpr void StaticCheckArgs() {
  constexpr size_t kArity = std::tuple_size<ArgsTuple>::value;
  static_assert(sizeof...(Args) == kArity, "arguments not match");
  if constexpr (sizeof...(Args) == kArity) {
    static_assert(AllArgsMatch<ArgsTuple, Args...>(std::make_index_sequence<kArity>{}),
                  "arguments not match");
  }
}

/// Checks Remote(Args...) against the signature of F.
template <typename F, typename... Args>
constexpr void StaticCheck() {
  StaticCheckArgs<typename FunctionTraits<F>::ArgsTuple, Args...>();
}

}  // namespace internal
}  // namespace ray
