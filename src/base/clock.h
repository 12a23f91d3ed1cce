// Clock: where the runtime's time-dependent logic (a user's Wait/Get timeout,
// the node's scheduling throttle, the grace period before an idle lease is
// returned) reads "now". Production code uses Clock::Real(), the steady
// clock; a unit test passes a FakeClock and moves time by hand, so a test of
// "after the grace period the lease goes back" neither sleeps nor depends on
// how busy the machine is.
//
// Only logic that *decides* something from elapsed time goes through a Clock.
// Deadlines that only bound a hang (src/base/timeouts.h) and the event loop's
// own timer wheel keep reading the steady clock.
//
// Threading: Real() is stateless. FakeClock's Now/Advance/Set may be called
// from any thread; waiters registered with OnAdvance run on the thread that
// calls Advance or Set, after the new time is visible.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <utility>
#include <vector>

#include "base/mutex.h"

namespace lumen {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;

  /// The steady clock; lives for the whole process.
  static Clock &Real();
};

/// A clock that moves only when the test says so. Starts at an arbitrary
/// fixed point (not the epoch, so code that subtracts durations from Now()
/// stays in range).
class FakeClock final : public Clock {
 public:
  FakeClock() : now_(TimePoint{} + std::chrono::hours(24 * 365)) {}

  TimePoint Now() const override { return now_.load(std::memory_order_acquire); }

  void Advance(Duration d) { Set(Now() + d); }
  void Set(TimePoint t) {
    now_.store(t, std::memory_order_release);
    std::vector<std::function<void()>> run;
    {
      MutexLock lock(mu_);
      run = listeners_;
    }
    for (auto &f : run) f();
  }

  /// `f` runs after every Advance/Set: code under test that blocks until a
  /// time passes (a condition variable waiting on a deadline) registers a
  /// notify here so that moving the fake clock wakes it.
  void OnAdvance(std::function<void()> f) {
    MutexLock lock(mu_);
    listeners_.push_back(std::move(f));
  }

 private:
  std::atomic<TimePoint> now_;
  mutable Mutex mu_;
  std::vector<std::function<void()>> listeners_ GUARDED_BY(mu_);
};

}  // namespace lumen
