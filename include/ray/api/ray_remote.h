// RAY_REMOTE(f1, f2, ...): registers remote functions, actor factories and
// actor member functions.
//
// Use at namespace scope, any number of times per file (headers included).
// Each use expands to one C++17 inline variable named after __LINE__, whose
// initializer registers the functions at static-initialization time (when the
// program starts or the library is loaded). The registration key of each
// function is its argument text, split on top-level commas and trimmed:
// "Plus", "Counter::FactoryCreate", "&Counter::Add",
// "RAY_FUNC(Counter::FactoryCreate, int)". Registering a name or a function
// twice throws RayException (which terminates during static initialization).
//
// Public header: must stay valid C++17.
#pragma once

#include <cctype>
#include <string>
#include <vector>

#include <ray/api/function_manager.h>
#include <ray/api/overload.h>
#include <ray/api/ray_exception.h>

namespace ray {
namespace internal {

inline std::string TrimRemoteName(const std::string &text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) {
    ++begin;
  }
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) {
    --end;
  }
  return text.substr(begin, end - begin);
}

/// Splits the stringified RAY_REMOTE argument list on top-level commas.
inline std::vector<std::string> SplitRemoteNames(const std::string &text) {
  std::vector<std::string> names;
  std::string current;
  int depth = 0;
  for (char c : text) {
    if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      --depth;
    }
    if (c == ',' && depth == 0) {
      names.push_back(TrimRemoteName(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  names.push_back(TrimRemoteName(current));
  return names;
}

template <typename... Fs>
bool RegisterRemoteFunctions(const char *text, Fs... fs) {
  std::vector<std::string> names = SplitRemoteNames(text);
  if (names.size() != sizeof...(Fs)) {
    throw RayException(std::string("RAY_REMOTE: could not split the argument list: ") + text);
  }
  size_t index = 0;
  (FunctionManager::Instance().RegisterRemoteFunction(names[index++], fs), ...);
  return true;
}

}  // namespace internal
}  // namespace ray

#define RAY_REMOTE_CONCAT_IMPL(a, b) a##b
#define RAY_REMOTE_CONCAT(a, b) RAY_REMOTE_CONCAT_IMPL(a, b)

#define RAY_REMOTE(...)                                                     \
  inline auto RAY_REMOTE_CONCAT(lumen_ray_remote_registration_, __LINE__) = \
      ::ray::internal::RegisterRemoteFunctions(#__VA_ARGS__, __VA_ARGS__);
