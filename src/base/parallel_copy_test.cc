// Unit tests for ParallelCopy: every byte lands where memcpy would put it, for
// sizes around the split thresholds, odd offsets, concurrent callers and a
// forked child (which has none of its parent's helper threads). And
// ParallelPopulateWrite: mapped, writable pages afterwards, contents unchanged.
#include "base/parallel_copy.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "base/page_map.h"

namespace lumen {
namespace {

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed;
  for (auto &b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

// Copies `n` bytes at odd offsets and checks the copy and the guard bytes around it.
bool CopyIsExact(size_t n, uint32_t seed) {
  const size_t pad = 37;
  auto src = Pattern(n + 2 * pad, seed);
  std::vector<uint8_t> dst(n + 2 * pad, 0xEE);
  ParallelCopy(dst.data() + pad + 3, src.data() + 5, n);
  if (std::memcmp(dst.data() + pad + 3, src.data() + 5, n) != 0) return false;
  for (size_t i = 0; i < pad + 3; ++i)
    if (dst[i] != 0xEE) return false;
  for (size_t i = pad + 3 + n; i < dst.size(); ++i)
    if (dst[i] != 0xEE) return false;
  return true;
}

// `rounds` copies of size n, n + 1, ... with seeds seed, seed + 1, ...
bool CopiesAreExact(int rounds, size_t n, uint32_t seed) {
  bool all = true;
  for (int r = 0; r < rounds; ++r) all = CopyIsExact(n + r, seed + r) && all;
  return all;
}

TEST(ParallelCopyTest, SizesAroundTheThresholds) {
  const size_t t = kParallelCopyMinBytes;
  for (size_t n :
       {size_t{0}, size_t{1}, size_t{4095}, t - 1, t, t + 1, 2 * t + 12345, 5 * t + 7, 9 * t + 4097}) {
    EXPECT_TRUE(CopyIsExact(n, static_cast<uint32_t>(n))) << n;
  }
}

TEST(ParallelCopyTest, StoppingTheHelpersWhileCopying) {
  // Copies racing with StopParallelCopyThreads all complete, done by the
  // helpers before they exit or by their callers.
  std::vector<std::thread> threads;
  std::vector<int> ok(3, 0);
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back(
        [&, i] { ok[i] = CopiesAreExact(4, 2 * kParallelCopyMinBytes + 64 * i, 100 + i * 10); });
  }
  for (int r = 0; r < 20; ++r) {
    StopParallelCopyThreads();
    std::this_thread::yield();
  }
  for (auto &t : threads) t.join();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(ok[i]) << i;
  StopParallelCopyThreads();
  EXPECT_TRUE(CopyIsExact(3 * kParallelCopyMinBytes, 7));  // a new pool after a stop
}

TEST(ParallelCopyTest, ConcurrentCallers) {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { ok[i] = CopiesAreExact(3, 3 * kParallelCopyMinBytes + 1000 * i, i * 10); });
  }
  for (auto &t : threads) t.join();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ok[i]) << i;
}

#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif

TEST(ParallelCopyTest, ForkedChildCopiesWithItsOwnHelpers) {
  // TSan stops a child of a multi-threaded parent that starts threads.
  if (kThreadSanitizer)
    GTEST_SKIP() << "ThreadSanitizer does not support threads after a multi-threaded fork";
  ASSERT_TRUE(CopyIsExact(3 * kParallelCopyMinBytes, 1));  // the parent's pool exists now
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(CopyIsExact(3 * kParallelCopyMinBytes + 11, 2) ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ParallelPopulateWriteTest, MapsEveryPageAndKeepsContents) {
  for (size_t n : {size_t{1} << 20, kParallelCopyMinBytes, kParallelCopyMinBytes * 3 + 4096}) {
    void *m = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(m, MAP_FAILED);
    auto *p = static_cast<uint8_t *>(m);
    // Some pages written before, the rest untouched.
    for (size_t i = 0; i < n; i += 3 * 4096) p[i] = static_cast<uint8_t>(i / 4096 + 1);
    EXPECT_LE(PresentPages(p, n), n / 4096 / 3 + 1) << n;
    ParallelPopulateWrite(p, n);
    EXPECT_EQ(PresentPages(p, n), n / 4096) << n;
    for (size_t i = 0; i < n; i += 3 * 4096)
      ASSERT_EQ(p[i], static_cast<uint8_t>(i / 4096 + 1)) << n << " " << i;
    munmap(m, n);
  }
}

}  // namespace
}  // namespace lumen
