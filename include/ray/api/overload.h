// RAY_FUNC(f, ArgTypes...): selects one overload of f by its parameter types.
//
// Works for free functions, static member functions and member functions with
// any cv/ref qualifier, both inside RAY_REMOTE(...) and as the argument of
// ray::Task / ray::Actor / ActorHandle::Task. RAY_FUNC(f) selects the
// zero-parameter overload.
//
// Public header: must stay valid C++17.
#pragma once

namespace ray {
namespace internal {

template <typename... Args>
struct underload_t {
  template <typename R>
  constexpr auto operator()(R (*f)(Args...)) const {
    return f;
  }
  template <typename R>
  constexpr auto operator()(R (*f)(Args...) noexcept) const {
    return f;
  }

#define LUMEN_UNDERLOAD_MEMBER(QUALIFIERS)                                  \
  template <typename R, typename C>                                         \
  constexpr auto operator()(R (C::*f)(Args...) QUALIFIERS) const {          \
    return f;                                                               \
  }                                                                         \
  template <typename R, typename C>                                         \
  constexpr auto operator()(R (C::*f)(Args...) QUALIFIERS noexcept) const { \
    return f;                                                               \
  }

  LUMEN_UNDERLOAD_MEMBER()
  LUMEN_UNDERLOAD_MEMBER(const)
  LUMEN_UNDERLOAD_MEMBER(volatile)
  LUMEN_UNDERLOAD_MEMBER(const volatile)
  LUMEN_UNDERLOAD_MEMBER(&)
  LUMEN_UNDERLOAD_MEMBER(const &)
  LUMEN_UNDERLOAD_MEMBER(volatile &)
  LUMEN_UNDERLOAD_MEMBER(const volatile &)
  LUMEN_UNDERLOAD_MEMBER(&&)
  LUMEN_UNDERLOAD_MEMBER(const &&)
  LUMEN_UNDERLOAD_MEMBER(volatile &&)
  LUMEN_UNDERLOAD_MEMBER(const volatile &&)
#undef LUMEN_UNDERLOAD_MEMBER
};

/// underload<Args...>(f): the overload of f taking exactly Args...
template <typename... Args>
inline constexpr underload_t<Args...> underload{};

}  // namespace internal
}  // namespace ray

#define RAY_FUNC(f, ...) ::ray::internal::underload<__VA_ARGS__>(f)
