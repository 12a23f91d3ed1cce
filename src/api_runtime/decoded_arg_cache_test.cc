#include "api_runtime/decoded_arg_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <typeindex>
#include <vector>

namespace lumen {
namespace {

std::shared_ptr<const void> Value(int v) { return std::make_shared<const int>(v); }
int Read(const std::shared_ptr<const void> &p) { return *std::static_pointer_cast<const int>(p); }

TEST(DecodedArgCacheTest, FindsByObjectAndType) {
  DecodedArgCache cache(1000);
  cache.Keep("a", typeid(int), Value(1), 10);
  ASSERT_NE(cache.Find("a", typeid(int)), nullptr);
  EXPECT_EQ(Read(cache.Find("a", typeid(int))), 1);
  EXPECT_EQ(cache.Find("a", typeid(double)), nullptr);  // same object, another type
  EXPECT_EQ(cache.Find("b", typeid(int)), nullptr);
}

TEST(DecodedArgCacheTest, KeepsTheFirstValueForAKey) {
  DecodedArgCache cache(1000);
  cache.Keep("a", typeid(int), Value(1), 10);
  cache.Keep("a", typeid(int), Value(2), 10);  // a second thread decoded it too
  EXPECT_EQ(Read(cache.Find("a", typeid(int))), 1);
  EXPECT_EQ(cache.bytes(), 10);
}

TEST(DecodedArgCacheTest, EvictsLeastRecentlyUsedBeyondCapacity) {
  DecodedArgCache cache(30);
  cache.Keep("a", typeid(int), Value(1), 10);
  cache.Keep("b", typeid(int), Value(2), 10);
  cache.Keep("c", typeid(int), Value(3), 10);
  ASSERT_NE(cache.Find("a", typeid(int)), nullptr);  // a is now the most recent
  cache.Keep("d", typeid(int), Value(4), 10);        // b goes
  EXPECT_EQ(cache.Find("b", typeid(int)), nullptr);
  EXPECT_NE(cache.Find("a", typeid(int)), nullptr);
  EXPECT_NE(cache.Find("c", typeid(int)), nullptr);
  EXPECT_NE(cache.Find("d", typeid(int)), nullptr);
  EXPECT_EQ(cache.bytes(), 30);
  EXPECT_EQ(cache.entries(), 3u);
}

TEST(DecodedArgCacheTest, ValuesLargerThanTheBudgetAreNotKept) {
  DecodedArgCache cache(30);
  cache.Keep("a", typeid(int), Value(1), 10);
  cache.Keep("big", typeid(int), Value(2), 31);
  EXPECT_EQ(cache.Find("big", typeid(int)), nullptr);
  EXPECT_NE(cache.Find("a", typeid(int)), nullptr);  // nothing was evicted for it
  DecodedArgCache off(0);
  off.Keep("a", typeid(int), Value(1), 1);
  EXPECT_EQ(off.entries(), 0u);
}

TEST(DecodedArgCacheTest, AnEvictedValueLivesWhileInUse) {
  DecodedArgCache cache(10);
  cache.Keep("a", typeid(int), Value(7), 10);
  std::shared_ptr<const void> in_use = cache.Find("a", typeid(int));
  cache.Keep("b", typeid(int), Value(8), 10);  // evicts a
  EXPECT_EQ(cache.Find("a", typeid(int)), nullptr);
  EXPECT_EQ(Read(in_use), 7);
}

}  // namespace
}  // namespace lumen
