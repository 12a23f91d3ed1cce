// RAYLOG(LEVEL) << ...: simple leveled logging for user code.
//
// Levels: DEBUG, INFO, WARNING, ERROR, FATAL. Lines go to stderr with a level
// prefix; FATAL aborts the process after writing its line. DEBUG is off unless
// the RAY_LOG_LEVEL environment variable says "debug". Thread-safe: each
// statement builds its own logger and writes one line at its end.
//
// The level names are safe even where DEBUG or ERROR are macros.
//
// Public header: must stay valid C++17.
#pragma once

#include <iostream>  // Ray's logging header provides it; programs rely on that
#include <memory>
#include <ostream>

#pragma push_macro("DEBUG")
#pragma push_macro("INFO")
#pragma push_macro("WARNING")
#pragma push_macro("ERROR")
#pragma push_macro("FATAL")
#undef DEBUG
#undef INFO
#undef WARNING
#undef ERROR
#undef FATAL

namespace ray {

enum class RayLoggerLevel { DEBUG = -1, INFO = 0, WARNING = 1, ERROR = 2, FATAL = 3 };

namespace internal {
// Token-pasting targets of RAYLOG(level), so a macro named like a level does
// not get expanded inside RAYLOG.
inline constexpr RayLoggerLevel kRayLogLevel_DEBUG = RayLoggerLevel::DEBUG;
inline constexpr RayLoggerLevel kRayLogLevel_INFO = RayLoggerLevel::INFO;
inline constexpr RayLoggerLevel kRayLogLevel_WARNING = RayLoggerLevel::WARNING;
inline constexpr RayLoggerLevel kRayLogLevel_ERROR = RayLoggerLevel::ERROR;
inline constexpr RayLoggerLevel kRayLogLevel_FATAL = RayLoggerLevel::FATAL;
}  // namespace internal

/// One log statement. Streams into an internal buffer; the line is written
/// when the logger is destroyed.
class RayLogger {
 public:
  virtual ~RayLogger() = default;

  template <typename T>
  RayLogger &operator<<(const T &t) {
    if (IsEnabled()) {
      Stream() << t;
    }
    return *this;
  }

 protected:
  virtual bool IsEnabled() const = 0;
  virtual std::ostream &Stream() = 0;
};

/// Both are found unqualified (by ADL on RayLoggerLevel) inside RAYLOG.
std::unique_ptr<RayLogger> CreateRayLogger(const char *file_name, int line_number, RayLoggerLevel level);
bool IsLevelEnabled(RayLoggerLevel level);

}  // namespace ray

#pragma pop_macro("FATAL")
#pragma pop_macro("ERROR")
#pragma pop_macro("WARNING")
#pragma pop_macro("INFO")
#pragma pop_macro("DEBUG")

#define RAYLOG_INTERNAL(level) *CreateRayLogger(__FILE__, __LINE__, level)

// An if/else expression statement, so a following `else` binds correctly.
#define RAYLOG(level)                                           \
  if (!IsLevelEnabled(::ray::internal::kRayLogLevel_##level)) { \
  } else                                                        \
    RAYLOG_INTERNAL(::ray::internal::kRayLogLevel_##level)
