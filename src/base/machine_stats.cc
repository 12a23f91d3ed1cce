#include "base/machine_stats.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
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

namespace {

std::string ReadAll(const char *path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A block device that is a whole disk: listed in /sys/block (partitions are
// not), and not a loop or RAM device.
bool WholeDisk(const std::string &name) {
  if (name.rfind("loop", 0) == 0 || name.rfind("ram", 0) == 0 || name.rfind("zram", 0) == 0) return false;
  std::error_code ec;
  return std::filesystem::exists("/sys/block/" + name, ec);
}

double PerSecond(uint64_t now, uint64_t before, double seconds) {
  return now >= before && seconds > 0 ? static_cast<double>(now - before) / seconds : 0;
}

}  // namespace

NetTotals ParseNetDev(const std::string &text) {
  NetTotals t;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // the two header lines
    std::istringstream name_part(line.substr(0, colon));
    std::string name;
    name_part >> name;
    if (name.empty() || name == "lo") continue;
    std::istringstream fields(line.substr(colon + 1));
    uint64_t v[9] = {};  // receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes
    bool whole = true;
    for (uint64_t &x : v) whole = whole && static_cast<bool>(fields >> x);
    if (!whole) continue;
    t.received_bytes += v[0];
    t.sent_bytes += v[8];
  }
  return t;
}

DiskTotals ParseDiskStats(const std::string &text,
                          const std::function<bool(const std::string &)> &whole_disk) {
  DiskTotals t;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    uint64_t major = 0, minor = 0;
    std::string name;
    // reads, reads merged, sectors read, ms reading, writes, writes merged, sectors written
    uint64_t v[7] = {};
    if (!(fields >> major >> minor >> name)) continue;
    bool whole = true;
    for (uint64_t &x : v) whole = whole && static_cast<bool>(fields >> x);
    if (!whole || !whole_disk(name)) continue;
    t.reads += v[0];
    t.read_bytes += v[2] * 512;
    t.writes += v[4];
    t.written_bytes += v[6] * 512;
  }
  return t;
}

void MachineSampler::ReadTraffic(MachineStats *s) {
  const NetTotals net = ParseNetDev(ReadAll("/proc/net/dev"));
  const DiskTotals disk = ParseDiskStats(ReadAll("/proc/diskstats"), WholeDisk);
  s->net_received_bytes = net.received_bytes;
  s->net_sent_bytes = net.sent_bytes;
  s->disk_read_bytes = disk.read_bytes;
  s->disk_written_bytes = disk.written_bytes;
  s->disk_reads = disk.reads;
  s->disk_writes = disk.writes;
  const auto now = std::chrono::steady_clock::now();
  if (last_traffic_at_.time_since_epoch().count() != 0) {
    const double seconds = std::chrono::duration<double>(now - last_traffic_at_).count();
    s->net_receive_speed = PerSecond(net.received_bytes, last_net_.received_bytes, seconds);
    s->net_send_speed = PerSecond(net.sent_bytes, last_net_.sent_bytes, seconds);
    s->disk_read_speed = PerSecond(disk.read_bytes, last_disk_.read_bytes, seconds);
    s->disk_write_speed = PerSecond(disk.written_bytes, last_disk_.written_bytes, seconds);
    s->disk_read_iops = PerSecond(disk.reads, last_disk_.reads, seconds);
    s->disk_write_iops = PerSecond(disk.writes, last_disk_.writes, seconds);
  }
  last_traffic_at_ = now;
  last_net_ = net;
  last_disk_ = disk;
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
  ReadTraffic(&*s);
  return s;
}

}  // namespace lumen
