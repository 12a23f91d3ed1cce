#include "base/clock.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

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
  Clock::Listener listener = clock.OnAdvance([&] { seen = clock.Now(); });
  clock.Advance(std::chrono::milliseconds(5));
  EXPECT_EQ(seen, clock.Now());
}

TEST(FakeClockTest, AListenerRunsUntilItIsDestroyed) {
  FakeClock clock;
  int runs = 0;
  {
    Clock::Listener listener = clock.OnAdvance([&] { ++runs; });
    clock.Advance(std::chrono::seconds(1));
    Clock::Listener moved = std::move(listener);  // the registration moves with it
    clock.Advance(std::chrono::seconds(1));
  }
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(runs, 2);
}

TEST(ClockTest, TheRealClockNeverRunsListenersAndWakesAtTheDeadline) {
  auto deadline = Clock::Real().Now() + std::chrono::hours(1);
  EXPECT_EQ(Clock::Real().WakeAt(deadline), deadline);
  Clock::Listener listener = Clock::Real().OnAdvance([] { FAIL() << "the real clock does not jump"; });
}

// A thread waiting for a deadline on a FakeClock sleeps through any number
// of wake-ups before the deadline and wakes for good once Advance passes it.
TEST(FakeClockTest, WaitUntilReturnsOnceTheClockPassesTheDeadline) {
  FakeClock clock;
  std::mutex mu;
  std::condition_variable cv;       // the waiter's
  std::condition_variable changed;  // the test's: `sleeps` or `passed` changed
  Clock::Listener wake = clock.OnAdvance([&] {
    std::lock_guard<std::mutex> hold(mu);
    cv.notify_all();
  });
  const auto deadline = clock.Now() + std::chrono::seconds(10);
  int sleeps = 0;  // guarded by mu, as is `passed`
  bool passed = false;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mu);
    do {
      ++sleeps;
      changed.notify_all();
    } while (!WaitUntil(clock, cv, lock, deadline));
    passed = true;
    changed.notify_all();
  });
  // Each Advance before the deadline wakes the waiter (it sleeps by then, or
  // has not looked at the time yet), which must go back to sleep.
  for (int i = 1; i <= 10; ++i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      changed.wait(lock, [&] { return sleeps >= i || passed; });
      EXPECT_FALSE(passed) << "returned " << 11 - i << " s before the deadline";
      if (passed) break;
    }
    clock.Advance(std::chrono::seconds(1) - std::chrono::nanoseconds(i == 10 ? 1 : 0));
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    changed.wait(lock, [&] { return sleeps >= 11 || passed; });
    EXPECT_FALSE(passed) << "returned a nanosecond before the deadline";
  }
  clock.Advance(std::chrono::nanoseconds(1));
  waiter.join();
  EXPECT_TRUE(passed);
}

}  // namespace
}  // namespace lumen
