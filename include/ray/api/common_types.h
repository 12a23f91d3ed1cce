// Small vocabulary types shared by the public API and the runtime interface.
//
// Public header: must stay valid C++17.
#pragma once

#include <cstdint>

namespace ray {
namespace internal {

/// The language a remote function or actor is written in. Cross-language
/// (PYTHON/JAVA) calls are described by the xlang descriptors in
/// xlang_function.h.
enum class LangType : int32_t {
  CPP = 0,
  PYTHON = 1,
  JAVA = 2,
};

}  // namespace internal
}  // namespace ray
