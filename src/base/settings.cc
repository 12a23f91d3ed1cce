#include "base/settings.h"

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace lumen {
namespace {

// A byte count in [0, max]; anything else leaves *out alone.
void ParseBytes(const char *v, int64_t max, int64_t *out) {
  if (v == nullptr) return;
  int64_t bytes = 0;
  const char *end = v + std::strlen(v);
  auto [ptr, ec] = std::from_chars(v, end, bytes);
  if (ec == std::errc() && ptr == end && ptr != v && bytes >= 0 && bytes <= max) *out = bytes;
}

}  // namespace

Settings Settings::Parse(const std::function<const char *(const char *name)> &lookup) {
  Settings s;
  auto text = [&](const char *name, std::string *out) {
    if (const char *v = lookup(name)) *out = v;
  };
  text(kClusterTokenVariable, &s.cluster_token);
  text("LUMEN_TOKEN", &s.join_token);
  text("LUMEN_TMPDIR", &s.tmpdir);
  text("LUMEN_BIN_DIR", &s.bin_dir);
  text("LUMEN_LOG_LEVEL", &s.log_level);
  text(kNodeForkServerVariable, &s.node_fork_server);
  text(kWorkerTcpHostVariable, &s.worker_tcp_host);
  if (const char *v = lookup("LUMEN_EXEC_SERVICES")) s.exec_services = std::strcmp(v, "1") == 0;
  if (const char *v = lookup("LUMEN_LEND_LOOP")) s.lend_loop = std::strcmp(v, "0") != 0;
  if (const char *v = lookup("LUMEN_GET_SPIN_US")) {
    int us = 0;
    const char *end = v + std::strlen(v);
    auto [ptr, ec] = std::from_chars(v, end, us);
    if (ec == std::errc() && ptr == end && ptr != v && us >= 0 && us <= 100000) s.get_spin_us = us;
  }
  if (const char *v = lookup("LUMEN_PEER_TIMEOUT_MS")) {
    int64_t ms = 0;
    const char *end = v + std::strlen(v);
    auto [ptr, ec] = std::from_chars(v, end, ms);
    if (ec == std::errc() && ptr == end && ptr != v && ms >= 50 && ms <= int64_t{24} * 3600 * 1000) {
      s.peer_timeout_ms = ms;
    }
  }
  auto milliseconds = [&](const char *name, int64_t min, int64_t *out) {
    const char *v = lookup(name);
    if (!v) return;
    int64_t ms = 0;
    const char *end = v + std::strlen(v);
    auto [ptr, ec] = std::from_chars(v, end, ms);
    if (ec == std::errc() && ptr == end && ptr != v && ms >= min && ms <= int64_t{24} * 3600 * 1000)
      *out = ms;
  };
  milliseconds("LUMEN_NODE_DEATH_TIMEOUT_MS", 100, &s.node_death_timeout_ms);
  milliseconds("LUMEN_HEALTH_CHECK_PERIOD_MS", 10, &s.health_check_period_ms);
  ParseBytes(lookup("LUMEN_ARG_CACHE_BYTES"), int64_t{1} << 40, &s.arg_cache_bytes);
  if (const char *v = lookup("LUMEN_SCHEDULER_SPREAD_THRESHOLD")) {
    double t = 0;
    const char *end = v + std::strlen(v);
    auto [ptr, ec] = std::from_chars(v, end, t);
    if (ec == std::errc() && ptr == end && ptr != v && t >= 0 && t <= 1) s.spread_threshold = t;
  }
  if (const char *v = lookup("LUMEN_TASK_EVENTS")) s.task_events = std::strcmp(v, "0") != 0;
  // A count in [1, max] sets *out; anything else leaves the default.
  auto count = [&lookup](const char *name, int64_t max, int64_t *out) {
    const char *v = lookup(name);
    if (!v) return;
    int64_t n = 0;
    const char *end = v + std::strlen(v);
    auto [ptr, ec] = std::from_chars(v, end, n);
    if (ec == std::errc() && ptr == end && ptr != v && n >= 1 && n <= max) *out = n;
  };
  count("LUMEN_TASK_EVENTS_BUFFER", 10000000, &s.task_events_buffer);
  count("LUMEN_TASK_EVENTS_MAX", 100000000, &s.task_events_max);
  count("LUMEN_TASK_EVENTS_MAX_PER_JOB", 100000000, &s.task_events_max_per_job);
  return s;
}

Settings Settings::FromEnvironment() {
  return Parse([](const char *name) { return std::getenv(name); });
}

namespace {

std::atomic<const Settings *> g_current{nullptr};
std::mutex g_snapshots_mu;

// Every snapshot taken, kept for the life of the process (a few per Init at
// most) so that a reference handed out earlier never dangles.
const Settings *TakeSnapshot() {
  static auto *snapshots = new std::vector<std::unique_ptr<Settings>>();  // outlives static destructors
  std::lock_guard<std::mutex> lock(g_snapshots_mu);
  snapshots->push_back(std::make_unique<Settings>(Settings::FromEnvironment()));
  const Settings *s = snapshots->back().get();
  g_current.store(s, std::memory_order_release);
  return s;
}

}  // namespace

const Settings &CurrentSettings() {
  const Settings *s = g_current.load(std::memory_order_acquire);
  if (s == nullptr) {
    static const Settings *first = TakeSnapshot();  // once, however many threads race here
    (void)first;
    s = g_current.load(std::memory_order_acquire);
  }
  return *s;
}

void ReloadSettings() { TakeSnapshot(); }

}  // namespace lumen
