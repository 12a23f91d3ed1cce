// Process stats from /proc: this process's memory (it touches pages it owns
// and maps a shared one), CPU that grows as it spins, and the errors for a
// process that is gone.
#include "base/process_stats.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace lumen {
namespace {

TEST(ProcessStatsTest, MemoryOfThisProcess) {
  constexpr size_t kPrivate = 32 << 20;
  std::vector<char> owned(kPrivate);
  // Resident and private. Written through a volatile pointer and read back
  // below: a memset of memory never read again may be left out by the
  // compiler (the TSan build's -O1 did).
  volatile char *bytes = owned.data();
  for (size_t i = 0; i < kPrivate; i += 4096) bytes[i] = 1;
  auto memory = ReadProcessMemory(getpid());
  EXPECT_EQ(bytes[kPrivate - 4096], 1);
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_GE(memory->rss_bytes, kPrivate);
  EXPECT_GE(memory->uss_bytes, kPrivate);
  EXPECT_LE(memory->uss_bytes, memory->rss_bytes);
  EXPECT_LE(memory->shared_bytes, memory->rss_bytes);
}

TEST(ProcessStatsTest, SharedPagesCountAsShared) {
  constexpr size_t kShared = 8 << 20;
  void *map = mmap(nullptr, kShared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  std::memset(map, 1, kShared);
  pid_t child = fork();  // a second process maps them too, so they are shared
  if (child == 0) {
    volatile char sum = 0;
    for (size_t i = 0; i < kShared; i += 4096) sum += static_cast<char *>(map)[i];
    pause();
    _exit(0);
  }
  // The child faults the pages in; wait until its shared memory shows them.
  StatusOr<ProcessMemory> memory = Status::NotFound("not read yet");
  for (;;) {
    memory = ReadProcessMemory(child);
    ASSERT_TRUE(memory.ok()) << memory.status().ToString();
    if (memory->shared_bytes >= kShared) break;
    usleep(1000);
  }
  EXPECT_GE(memory->rss_bytes, kShared);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  munmap(map, kShared);
}

TEST(ProcessStatsTest, CpuGrowsWhileSpinning) {
  auto first = ReadProcessCpu(getpid());
  ASSERT_TRUE(first.ok());
  EXPECT_GT(first->start_ticks, 0u);
  // Spin until the kernel charged at least two ticks more (a condition, not a time).
  volatile uint64_t spin = 0;
  StatusOr<ProcessCpu> now = first;
  while (now.ok() && now->ticks < first->ticks + 2) {
    for (int i = 0; i < 1000000; ++i) spin += i;
    now = ReadProcessCpu(getpid());
  }
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->start_ticks, first->start_ticks);

  CpuSampler sampler;
  auto since_start = sampler.Percent(getpid());
  ASSERT_TRUE(since_start.ok());
  EXPECT_GT(*since_start, 0);
  const uint64_t base = ReadProcessCpu(getpid())->ticks;
  while (ReadProcessCpu(getpid())->ticks < base + 2)
    for (int i = 0; i < 1000000; ++i) spin += i;
  auto between = sampler.Percent(getpid());
  ASSERT_TRUE(between.ok());
  EXPECT_GT(*between, 0);
}

TEST(ProcessStatsTest, AProcessThatIsGoneIsAnError) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);  // reaped: its pid names nothing now
  EXPECT_FALSE(ReadProcessMemory(child).ok());
  EXPECT_FALSE(ReadProcessCpu(child).ok());
  CpuSampler sampler;
  EXPECT_FALSE(sampler.Percent(child).ok());
  sampler.Retain({});
}

}  // namespace
}  // namespace lumen
