#include "base/clock.h"

#include <gtest/gtest.h>

namespace lumen {
namespace {

TEST(ClockTest, RealClockMovesForward) {
  auto a = Clock::Real().Now();
  auto b = Clock::Real().Now();
  EXPECT_LE(a, b);
}

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock;
  auto start = clock.Now();
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(std::chrono::seconds(3));
  EXPECT_EQ(clock.Now() - start, std::chrono::seconds(3));
}

TEST(FakeClockTest, AdvanceRunsListenersAfterTheNewTimeIsVisible) {
  FakeClock clock;
  Clock::TimePoint seen{};
  clock.OnAdvance([&] { seen = clock.Now(); });
  clock.Advance(std::chrono::milliseconds(5));
  EXPECT_EQ(seen, clock.Now());
}

}  // namespace
}  // namespace lumen
