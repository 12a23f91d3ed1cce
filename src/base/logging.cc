#include "base/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/details/console_globals.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "base/settings.h"

namespace lumen {

void InitProcessLogging(const std::string &component, const std::string &log_dir) {
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  auto path = log_dir + "/" + component + "-" + std::to_string(getpid()) + ".log";
  try {
    std::string name = component + "-" + std::to_string(getpid());
    spdlog::drop(name);  // a second Init in the same process
    auto logger = spdlog::basic_logger_mt(name, path);
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%f] [%l] [%t] %v");
    // Flush every line rather than from spdlog's periodic flusher: that is a
    // thread, and forked workers (copies of the driver) must not inherit one.
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
  } catch (const spdlog::spdlog_ex &e) {
    // Logging must never take a process down; stay on stderr.
    spdlog::warn("cannot open log file {}: {}", path, e.what());
  }
  if (const std::string &lvl = CurrentSettings().log_level; !lvl.empty()) {
    spdlog::set_level(spdlog::level::from_str(lvl));
  } else {
    spdlog::set_level(spdlog::level::info);
  }
}

void ShutdownProcessLogging() {
  spdlog::default_logger()->flush();
  // Back to stderr so nothing holds the session's log file after Shutdown.
  std::string name = "lumen-stderr-" + std::to_string(getpid());
  spdlog::drop(name);
  spdlog::set_default_logger(spdlog::stderr_color_mt(name));
}

void ConstructLoggingState() {
  spdlog::default_logger();  // the registry, with its stdout console sink
  // The console sinks' mutex, which ShutdownProcessLogging's stderr logger uses.
  spdlog::details::console_mutex::mutex();
}

}  // namespace lumen
