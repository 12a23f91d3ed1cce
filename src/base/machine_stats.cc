#include "base/machine_stats.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace lumen {

StatusOr<MachineStats> ReadMemoryAndDisk(const std::string &disk_path) {
  MachineStats s;
  std::ifstream meminfo("/proc/meminfo");
  if (!meminfo) return Status::IoError("cannot read /proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  int found = 0;
  for (std::string line; std::getline(meminfo, line);) {
    std::istringstream fields(line);
    if (!(fields >> key >> kb)) continue;
    if (key == "MemTotal:") s.mem_total_bytes = kb * 1024, ++found;
    if (key == "MemAvailable:") s.mem_available_bytes = kb * 1024, ++found;
    if (key == "Shmem:") s.mem_shared_bytes = kb * 1024;
  }
  if (found < 2) return Status::IoError("/proc/meminfo lacks MemTotal or MemAvailable");
  struct statvfs fs;
  if (statvfs(disk_path.c_str(), &fs) != 0)
    return Status::IoError("cannot stat the file system of " + disk_path);
  s.disk_total_bytes = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  s.disk_free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  return s;
}

StatusOr<MachineSampler::CpuTicks> MachineSampler::ReadCpuTicks() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  if (!(stat >> cpu) || cpu != "cpu") return Status::IoError("cannot read /proc/stat");
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  uint64_t v[8] = {};
  for (uint64_t &x : v)
    if (!(stat >> x)) return Status::IoError("/proc/stat: a short cpu line");
  CpuTicks t;
  for (uint64_t x : v) t.total += x;
  t.busy = t.total - v[3] - v[4];  // not idle, not waiting for I/O
  return t;
}

StatusOr<MachineStats> MachineSampler::Read(const std::string &disk_path) {
  auto s = ReadMemoryAndDisk(disk_path);
  if (!s.ok()) return s.status();
  auto now = ReadCpuTicks();
  if (!now.ok()) return now.status();
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  s->cpu_count = cores > 0 ? static_cast<int>(cores) : 1;
  std::lock_guard<std::mutex> lock(mu_);
  CpuTicks since = *now;
  if (last_.total != 0 && now->total > last_.total) {
    since.total = now->total - last_.total;
    since.busy = now->busy >= last_.busy ? now->busy - last_.busy : 0;
  }
  if (last_.total == 0 || now->total > last_.total) last_ = *now;
  s->cpu_percent =
      since.total == 0 ? 0 : 100.0 * static_cast<double>(since.busy) / static_cast<double>(since.total);
  return s;
}

}  // namespace lumen
