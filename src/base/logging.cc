#include "base/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace lumen {

void InitProcessLogging(const std::string &component, const std::string &log_dir) {
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  auto path = log_dir + "/" + component + "-" + std::to_string(getpid()) + ".log";
  try {
    auto logger = spdlog::basic_logger_mt(component + "-" + std::to_string(getpid()), path);
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%f] [%l] [%t] %v");
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
  } catch (const spdlog::spdlog_ex &e) {
    // Logging must never take a process down; stay on stderr.
    spdlog::warn("cannot open log file {}: {}", path, e.what());
  }
  if (const char *lvl = std::getenv("LUMEN_LOG_LEVEL")) {
    spdlog::set_level(spdlog::level::from_str(lvl));
  } else {
    spdlog::set_level(spdlog::level::info);
  }
  spdlog::flush_every(std::chrono::seconds(1));
}

void ShutdownProcessLogging() {
  spdlog::default_logger()->flush();
}

}  // namespace lumen
