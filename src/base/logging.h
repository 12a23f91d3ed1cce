// Process logging: every Lumen process writes one log file under the session's
// logs folder (spdlog, thread-safe sinks). Before InitProcessLogging is called,
// messages go to stderr.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace lumen {

/// Sets up the default logger to write `<log_dir>/<component>-<pid>.log`.
/// Level from LUMEN_LOG_LEVEL (trace|debug|info|warn|error), default info.
void InitProcessLogging(const std::string &component, const std::string &log_dir);
/// Flushes and drops file sinks (call before exit / exec).
void ShutdownProcessLogging();
/// Constructs spdlog's process-wide state (its registry and console sinks)
/// now. Static objects are destroyed in the reverse order of their
/// construction, interleaved with std::atexit handlers: a handler registered
/// after this call runs while that state still exists, so it may log and
/// call ShutdownProcessLogging even from exit().
void ConstructLoggingState();

}  // namespace lumen

#define LUMEN_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define LUMEN_LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define LUMEN_LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define LUMEN_LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)
