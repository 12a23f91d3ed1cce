#include "base/process_stats.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace lumen {
namespace {

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);  // /proc's start times count from boot, suspend included
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

uint64_t TicksPerSecond() {
  static const uint64_t hz = [] {
    long v = sysconf(_SC_CLK_TCK);
    return v > 0 ? static_cast<uint64_t>(v) : uint64_t{100};
  }();
  return hz;
}

}  // namespace

StatusOr<ProcessMemory> ReadProcessMemory(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  std::ifstream rollup(base + "/smaps_rollup");
  if (rollup) {
    ProcessMemory m;
    bool any = false;
    std::string key;
    uint64_t kb = 0;
    std::string line;
    while (std::getline(rollup, line)) {
      std::istringstream in(line);
      if (!(in >> key >> kb)) continue;
      const uint64_t bytes = kb * 1024;
      if (key == "Rss:") {
        m.rss_bytes = bytes;
        any = true;
      } else if (key == "Private_Clean:" || key == "Private_Dirty:") {
        m.uss_bytes += bytes;
      } else if (key == "Shared_Clean:" || key == "Shared_Dirty:") {
        m.shared_bytes += bytes;
      }
    }
    if (any) return m;
  }
  // No smaps_rollup (kernels before 4.14): statm's resident and shared pages.
  std::ifstream statm(base + "/statm");
  uint64_t size = 0, resident = 0, shared = 0;
  if (!(statm >> size >> resident >> shared)) return Status::NotFound("no process " + std::to_string(pid));
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  ProcessMemory m;
  m.rss_bytes = resident * page;
  m.shared_bytes = shared * page;
  m.uss_bytes = resident > shared ? (resident - shared) * page : 0;
  return m;
}

StatusOr<ProcessCpu> ReadProcessCpu(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return Status::NotFound("no process " + std::to_string(pid));
  // The command name (field 2) may hold spaces and parentheses: the fields
  // that follow start after its last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos)
    return Status::Internal("unreadable /proc/" + std::to_string(pid) + "/stat");
  std::istringstream in(line.substr(close + 1));
  std::string field;
  ProcessCpu cpu;
  // Fields 3.. : state(3) ... utime(14) stime(15) ... starttime(22).
  for (int i = 3; i <= 22 && in >> field; ++i) {
    if (i == 14 || i == 15) cpu.ticks += std::stoull(field);
    if (i == 22) {
      cpu.start_ticks = std::stoull(field);
      return cpu;
    }
  }
  return Status::Internal("short /proc/" + std::to_string(pid) + "/stat");
}

StatusOr<double> CpuSampler::Percent(pid_t pid) {
  auto cpu = ReadProcessCpu(pid);
  if (!cpu.ok()) return cpu.status();
  const int64_t now = MonotonicNs();
  const double hz = static_cast<double>(TicksPerSecond());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = last_.find(pid);
  double used_s = 0, elapsed_s = 0;
  if (it != last_.end() && it->second.cpu.start_ticks == cpu->start_ticks && now > it->second.at_ns) {
    used_s = static_cast<double>(cpu->ticks - std::min(cpu->ticks, it->second.cpu.ticks)) / hz;
    elapsed_s = static_cast<double>(now - it->second.at_ns) / 1e9;
  } else {
    used_s = static_cast<double>(cpu->ticks) / hz;
    elapsed_s = static_cast<double>(now) / 1e9 - static_cast<double>(cpu->start_ticks) / hz;
  }
  last_[pid] = {*cpu, now};
  // A process younger than a tick has used no measurable time yet.
  if (elapsed_s <= 0) return 0.0;
  return 100.0 * used_s / elapsed_s;
}

void CpuSampler::Retain(const std::set<pid_t> &alive) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = last_.begin(); it != last_.end();)
    it = alive.count(it->first) ? std::next(it) : last_.erase(it);
}

}  // namespace lumen
