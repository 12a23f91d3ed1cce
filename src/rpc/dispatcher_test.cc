#include <gtest/gtest.h>

#include "rpc/rpc.h"

namespace lumen::rpc {
namespace {

TEST(DispatcherTest, FindsWhatWasRegistered) {
  Dispatcher d;
  int called = 0;
  d.Register(7, [&](const ConnectionPtr &, uint64_t, std::string_view) { ++called; });
  ASSERT_NE(d.Find(7), nullptr);
  (*d.Find(7))(nullptr, 0, "");
  EXPECT_EQ(called, 1);
  EXPECT_EQ(d.Find(8), nullptr);
}

// Two protocols' methods on one dispatcher must not share a number: the
// second registration would silently take the first one's messages.
TEST(DispatcherDeathTest, AMethodRegisteredTwiceStopsTheProcess) {
  EXPECT_DEATH(
      {
        Dispatcher d;
        d.Register(40, [](const ConnectionPtr &, uint64_t, std::string_view) {});
        d.Register(40, [](const ConnectionPtr &, uint64_t, std::string_view) {});
      },
      "rpc method 40 registered twice");
}

}  // namespace
}  // namespace lumen::rpc
