// A process's CPU and memory use, read from /proc, for Ray's per-process
// metrics (ray_component_cpu_percentage, ray_component_rss_mb,
// ray_component_uss_mb, ray_component_mem_shared_bytes). Memory comes from
// /proc/<pid>/smaps_rollup: USS is the private pages (what the process alone
// holds), shared the resident pages it shares (the object store's mapping
// among them, which is why Ray charts RSS minus shared). CPU is a rate, so it
// needs two readings: CpuSampler keeps each pid's previous one.
//
// Threading: the free functions are safe from any thread; CpuSampler locks
// its own table.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <set>

#include "base/status.h"

namespace lumen {

struct ProcessMemory {
  uint64_t rss_bytes = 0;
  uint64_t uss_bytes = 0;     // Private_Clean + Private_Dirty
  uint64_t shared_bytes = 0;  // Shared_Clean + Shared_Dirty
};

/// `pid`'s resident memory; an error when it is gone or not ours to read.
StatusOr<ProcessMemory> ReadProcessMemory(pid_t pid);

/// `pid`'s CPU time so far (user + system) in clock ticks, and when it
/// started (ticks after boot; tells a recycled pid from the process before).
struct ProcessCpu {
  uint64_t ticks = 0;
  uint64_t start_ticks = 0;
};
StatusOr<ProcessCpu> ReadProcessCpu(pid_t pid);

/// Each pid's CPU use between two readings, as a percentage of one core.
class CpuSampler {
 public:
  /// The CPU `pid` used since this sampler last read it; at the first reading
  /// (or of a recycled pid), its average since it started.
  StatusOr<double> Percent(pid_t pid);
  /// Forgets every pid not in `alive` (processes that ended).
  void Retain(const std::set<pid_t> &alive);

 private:
  struct Reading {
    ProcessCpu cpu;
    int64_t at_ns = 0;  // CLOCK_MONOTONIC, comparable with the boot-relative start time
  };
  std::mutex mu_;
  std::map<pid_t, Reading> last_;
};

}  // namespace lumen
