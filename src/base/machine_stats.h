// The machine a node runs on: CPU use of all its cores, memory, the disk of
// a folder, network and disk traffic, read from /proc/stat, /proc/meminfo,
// statvfs, /proc/net/dev and /proc/diskstats, for Ray's per-node metrics
// (ray_node_cpu_utilization, ray_node_cpu_count, ray_node_mem_*,
// ray_node_disk_*, ray_node_network_*). CPU use and the speeds are rates, so
// they need two readings: MachineSampler keeps the previous one.
//
// Threading: MachineSampler locks its own reading; ReadMemoryAndDisk is safe
// from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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
  // Traffic since boot: the network over every interface but loopback, the
  // disks over whole disks (not their partitions, nor loop or RAM devices).
  uint64_t net_received_bytes = 0;
  uint64_t net_sent_bytes = 0;
  uint64_t disk_read_bytes = 0;
  uint64_t disk_written_bytes = 0;
  uint64_t disk_reads = 0;
  uint64_t disk_writes = 0;
  // The same per second since the previous reading (0 at the first).
  double net_receive_speed = 0;
  double net_send_speed = 0;
  double disk_read_speed = 0;
  double disk_write_speed = 0;
  double disk_read_iops = 0;
  double disk_write_iops = 0;
};

struct NetTotals {
  uint64_t received_bytes = 0;
  uint64_t sent_bytes = 0;
};
/// /proc/net/dev's counters summed over every interface but "lo".
NetTotals ParseNetDev(const std::string &text);

struct DiskTotals {
  uint64_t read_bytes = 0;
  uint64_t written_bytes = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
};
/// /proc/diskstats' counters summed over the devices `whole_disk` accepts
/// (by name); its sectors are 512 bytes whatever the device's.
DiskTotals ParseDiskStats(const std::string &text,
                          const std::function<bool(const std::string &)> &whole_disk);

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
  /// Traffic totals into `s`, and their rates since the previous reading.
  void ReadTraffic(MachineStats *s);

  std::mutex mu_;
  CpuTicks last_;  // total 0: never read
  // The previous traffic reading (when: time 0 for never).
  std::chrono::steady_clock::time_point last_traffic_at_;
  NetTotals last_net_;
  DiskTotals last_disk_;
};

}  // namespace lumen
