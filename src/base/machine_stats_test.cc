// MachineSampler: the machine's memory, disk and CPU use, read for real from
// this machine (/proc and statvfs), within what each can be.
#include "base/machine_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace lumen {
namespace {

// The machine's total CPU ticks so far (the first line of /proc/stat).
uint64_t TotalTicks() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  stat >> cpu;
  uint64_t total = 0, x = 0;
  for (int i = 0; i < 8 && stat >> x; ++i) total += x;
  return total;
}

TEST(MachineStatsTest, MemoryAndDiskAreThisMachines) {
  auto s = ReadMemoryAndDisk("/");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const uint64_t pages = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  EXPECT_EQ(s->mem_total_bytes / (1 << 20), pages / (1 << 20)) << "MemTotal is the machine's memory";
  EXPECT_GT(s->mem_available_bytes, 0u);
  EXPECT_LE(s->mem_available_bytes, s->mem_total_bytes);
  EXPECT_LE(s->mem_shared_bytes, s->mem_total_bytes);
  EXPECT_GT(s->disk_total_bytes, 0u);
  EXPECT_LE(s->disk_free_bytes, s->disk_total_bytes);
}

TEST(MachineStatsTest, CpuUseIsAShareOfAllCoresBetweenTwoReadings) {
  MachineSampler sampler;
  auto first = sampler.Read("/");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->cpu_count, sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_GE(first->cpu_percent, 0);  // since boot
  EXPECT_LE(first->cpu_percent, 100);
  // Busy until the machine's tick count moves on: the second reading covers
  // time in which this thread ran, so some CPU was used.
  const uint64_t start = TotalTicks();
  volatile uint64_t spin = 0;
  while (TotalTicks() < start + 4 * static_cast<uint64_t>(first->cpu_count)) ++spin;
  auto second = sampler.Read("/");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GT(second->cpu_percent, 0);
  EXPECT_LE(second->cpu_percent, 100);
}

TEST(MachineStatsTest, AFolderThatIsNotThereIsAnError) {
  MachineSampler sampler;
  auto s = sampler.Read("/no/such/folder/here");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("/no/such/folder/here"), std::string::npos) << s.status().ToString();
  EXPECT_FALSE(ReadMemoryAndDisk("/no/such/folder/here").ok());
}

TEST(MachineStatsTest, NetworkTrafficSumsEveryInterfaceButLoopback) {
  const std::string dev =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo "
      "colls "
      "carrier compressed\n"
      "    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n"
      "  eth0: 2000 20 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n"
      "  eth1:50 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n";
  const NetTotals t = ParseNetDev(dev);
  EXPECT_EQ(t.received_bytes, 2050u);
  EXPECT_EQ(t.sent_bytes, 307u);
  EXPECT_EQ(ParseNetDev("garbage\nno: numbers here\n").received_bytes, 0u);
}

TEST(MachineStatsTest, DiskTrafficSumsWholeDisksInSectorsOf512Bytes) {
  const std::string stats =
      "   8       0 sda 100 5 2000 50 40 2 800 30 0 60 80\n"
      "   8       1 sda1 90 5 1800 45 35 2 700 25 0 55 70\n"
      "   7       0 loop0 9 0 18 1 0 0 0 0 0 1 1\n"
      " 259       0 nvme0n1 10 0 8 1 4 0 16 1 0 2 2\n"
      "   8      16 short 1 2\n";
  const DiskTotals t = ParseDiskStats(
      stats, [](const std::string &name) { return name == "sda" || name == "nvme0n1" || name == "short"; });
  EXPECT_EQ(t.reads, 110u);
  EXPECT_EQ(t.writes, 44u);
  EXPECT_EQ(t.read_bytes, (2000u + 8u) * 512);
  EXPECT_EQ(t.written_bytes, (800u + 16u) * 512);
}

// This machine's own counters: totals only grow, and the second reading has
// speeds (0 or more).
TEST(MachineStatsTest, TrafficTotalsNeverShrinkBetweenReadings) {
  MachineSampler sampler;
  auto first = sampler.Read("/");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = sampler.Read("/");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GE(second->net_received_bytes, first->net_received_bytes);
  EXPECT_GE(second->disk_read_bytes, first->disk_read_bytes);
  EXPECT_GE(second->net_receive_speed, 0);
  EXPECT_GE(second->disk_write_iops, 0);
}

}  // namespace
}  // namespace lumen
