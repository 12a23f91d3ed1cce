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

}  // namespace
}  // namespace lumen
