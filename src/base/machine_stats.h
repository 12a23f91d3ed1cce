// The machine a node runs on: CPU use of all its cores, memory and the disk
// of a folder, read from /proc/stat, /proc/meminfo and statvfs, for Ray's
// per-node metrics (ray_node_cpu_utilization, ray_node_cpu_count,
// ray_node_mem_*, ray_node_disk_*). CPU use is a rate, so it needs two
// readings: MachineSampler keeps the previous one.
//
// Threading: MachineSampler locks its own reading; ReadMemoryAndDisk is safe
// from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "base/status.h"

namespace lumen {

struct MachineStats {
  double cpu_percent = 0;  // all cores busy: 100
  int cpu_count = 0;       // cores online
  uint64_t mem_total_bytes = 0;
  uint64_t mem_available_bytes = 0;  // MemAvailable: what a new process could get without swapping
  uint64_t mem_shared_bytes = 0;     // Shmem: tmpfs and shared memory (the object store's arena)
  uint64_t disk_total_bytes = 0;     // the file system of the folder asked about
  uint64_t disk_free_bytes = 0;      // what an unprivileged process may still write there
};

/// Memory and disk only (cpu_percent and cpu_count left 0): an error when
/// /proc/meminfo or `disk_path` cannot be read.
StatusOr<MachineStats> ReadMemoryAndDisk(const std::string &disk_path);

class MachineSampler {
 public:
  /// Everything, with the CPU use since the previous Read (at the first, the
  /// average since boot).
  StatusOr<MachineStats> Read(const std::string &disk_path);

 private:
  struct CpuTicks {
    uint64_t busy = 0;
    uint64_t total = 0;
  };
  static StatusOr<CpuTicks> ReadCpuTicks();

  std::mutex mu_;
  CpuTicks last_;  // total 0: never read
};

}  // namespace lumen
