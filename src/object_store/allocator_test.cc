#include "object_store/allocator.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace lumen::object_store {
namespace {

size_t RoundUp(size_t n, size_t a) { return ((n == 0 ? 1 : n) + a - 1) / a * a; }

TEST(AllocatorTest, Basics) {
  Allocator a(1 << 20);
  EXPECT_EQ(a.largest_free_block(), 1u << 20);
  auto x = a.Allocate(0);
  ASSERT_TRUE(x);
  EXPECT_EQ(a.used(), 64u);
  auto y = a.Allocate(100);
  ASSERT_TRUE(y);
  EXPECT_EQ(*y % 64, 0u);
  EXPECT_EQ(a.used(), 64u + 128u);
  EXPECT_FALSE(a.Allocate((1 << 20) + 1));
  EXPECT_FALSE(a.Free(12345));
  EXPECT_TRUE(a.Free(*x));
  EXPECT_FALSE(a.Free(*x));
  EXPECT_TRUE(a.Free(*y));
  EXPECT_EQ(a.used(), 0u);
  EXPECT_EQ(a.largest_free_block(), 1u << 20);
  EXPECT_EQ(a.num_allocations(), 0u);
}

TEST(AllocatorTest, ExactFillAndBestFit) {
  Allocator a(64 * 10);
  std::vector<size_t> offs;
  for (int i = 0; i < 10; ++i) {
    auto o = a.Allocate(64);
    ASSERT_TRUE(o);
    offs.push_back(*o);
  }
  EXPECT_FALSE(a.Allocate(1));
  EXPECT_EQ(a.largest_free_block(), 0u);
  // Holes of 1 block (at 1) and 3 blocks (at 5..7): best fit takes the small one.
  a.Free(offs[1]);
  a.Free(offs[5]);
  a.Free(offs[6]);
  a.Free(offs[7]);
  EXPECT_EQ(a.largest_free_block(), 64u * 3);
  EXPECT_EQ(*a.Allocate(10), offs[1]);
  EXPECT_EQ(*a.Allocate(128), offs[5]);
  EXPECT_EQ(*a.Allocate(64), offs[7]);
  EXPECT_EQ(a.used(), 640u);
}

TEST(AllocatorTest, HugeSizeDoesNotOverflow) {
  Allocator a(1 << 20);
  EXPECT_FALSE(a.Allocate(~size_t{0}));
  EXPECT_FALSE(a.Allocate(~size_t{0} - 10));
}

TEST(AllocatorTest, RandomizedProperty) {
  for (uint32_t seed : {1u, 2u, 3u, 42u, 1234u}) {
    const size_t capacity = 1 << 22;
    Allocator a(capacity);
    std::mt19937_64 rng(seed);
    std::map<size_t, size_t> live;  // offset -> rounded size
    size_t expected_used = 0;
    for (int step = 0; step < 20000; ++step) {
      bool do_alloc = live.empty() || rng() % 100 < 55;
      if (do_alloc) {
        size_t size = (rng() % 4 == 0) ? rng() % 200000 : rng() % 4096;
        auto off = a.Allocate(size);
        if (!off) {
          EXPECT_LT(a.largest_free_block(), RoundUp(size, 64));
          continue;
        }
        size_t r = RoundUp(size, 64);
        ASSERT_EQ(*off % 64, 0u);
        ASSERT_LE(*off + r, capacity);
        // No overlap with the neighbours.
        auto next = live.lower_bound(*off);
        if (next != live.end()) {
          ASSERT_LE(*off + r, next->first);
        }
        if (next != live.begin()) {
          auto prev = std::prev(next);
          ASSERT_LE(prev->first + prev->second, *off);
        }
        live.emplace(*off, r);
        expected_used += r;
      } else {
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        ASSERT_TRUE(a.Free(it->first));
        expected_used -= it->second;
        live.erase(it);
      }
      ASSERT_EQ(a.used(), expected_used);
      ASSERT_EQ(a.num_allocations(), live.size());
    }
    for (auto &[off, size] : live) ASSERT_TRUE(a.Free(off));
    EXPECT_EQ(a.used(), 0u);
    EXPECT_EQ(a.largest_free_block(), capacity);
    // Everything coalesced back: one allocation of the full capacity works.
    auto whole = a.Allocate(capacity);
    ASSERT_TRUE(whole);
    EXPECT_EQ(*whole, 0u);
  }
}

}  // namespace
}  // namespace lumen::object_store
