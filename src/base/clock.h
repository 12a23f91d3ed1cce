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
// Waiting for a deadline on a Clock. A thread that sleeps until a deadline
// (a condition variable, an asio timer) sleeps until WakeAt(deadline) by the
// steady clock, and tells that the deadline passed by Now(), never by how
// its sleep ended: for the real clock the two agree; a FakeClock never wakes
// a sleeper by itself (WakeAt is "never"), and whoever sleeps on it registers
// an OnAdvance listener that wakes it when the test moves the time.
// WaitUntil() does this for a condition variable.
//
// Threading: Real() is stateless. FakeClock's Now/Advance/Set may be called
// from any thread; listeners run on the thread that calls Advance or Set,
// after the new time is visible, one Advance/Set at a time, under the
// clock's lock. So a Listener's destructor waits for a run of its function in
// progress to end, and the lock order is the clock's, then whatever a
// listener takes: register and destroy a Listener without holding a lock its
// function takes, and never call Advance, Set or OnAdvance from a listener.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "base/mutex.h"

namespace lumen {

class FakeClock;

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  /// Keeps a function registered with OnAdvance until destroyed (or reset).
  class Listener {
   public:
    Listener() = default;
    ~Listener() { Reset(); }
    Listener(Listener &&other) noexcept : clock_(std::exchange(other.clock_, nullptr)), id_(other.id_) {}
    Listener &operator=(Listener &&other) noexcept {
      if (this != &other) {
        Reset();
        clock_ = std::exchange(other.clock_, nullptr);
        id_ = other.id_;
      }
      return *this;
    }
    void Reset();

   private:
    friend class FakeClock;
    Listener(FakeClock *clock, uint64_t id) : clock_(clock), id_(id) {}
    FakeClock *clock_ = nullptr;
    uint64_t id_ = 0;
  };

  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  /// When, by the steady clock, a thread waiting for `deadline` on this clock
  /// must wake up to look at Now() again: `deadline` itself, or
  /// TimePoint::max() for a clock whose waiters are woken by OnAdvance.
  virtual TimePoint WakeAt(TimePoint deadline) const { return deadline; }
  /// Runs `f` after every jump of this clock, until the returned Listener
  /// goes. The real clock never jumps: it never runs `f`.
  [[nodiscard]] virtual Listener OnAdvance(std::function<void()> /*f*/) { return {}; }

  /// The steady clock; lives for the whole process.
  static Clock &Real();
};

/// Waits on `cv` (with `lock` held) until notified or `deadline` on `clock`
/// has passed; returns whether it has. May return early like any condition
/// variable wait. With a FakeClock, the caller must have an OnAdvance
/// listener that notifies `cv` while holding `lock`'s mutex (so a move of the
/// time between the check and the sleep is not lost).
template <typename CondVar, typename Lock>
bool WaitUntil(const Clock &clock, CondVar &cv, Lock &lock, Clock::TimePoint deadline) {
  if (clock.Now() >= deadline) return true;
  Clock::TimePoint wake = clock.WakeAt(deadline);
  if (wake == Clock::TimePoint::max()) {
    cv.wait(lock);
  } else {
    cv.wait_until(lock, wake);
  }
  return clock.Now() >= deadline;
}

/// A clock that moves only when the test says so. Starts at an arbitrary
/// fixed point (not the epoch, so code that subtracts durations from Now()
/// stays in range).
class FakeClock final : public Clock {
 public:
  FakeClock() : now_(TimePoint{} + std::chrono::hours(24 * 365)) {}
  ~FakeClock() override;  // every Listener must be gone by then

  TimePoint Now() const override { return now_.load(std::memory_order_acquire); }
  TimePoint WakeAt(TimePoint) const override { return TimePoint::max(); }

  void Advance(Duration d) { Set(Now() + d); }
  void Set(TimePoint t) EXCLUDES(mu_);

  /// Code under test that sleeps until a time passes (a condition variable
  /// waiting on a deadline) registers a wake-up here, so that moving the fake
  /// clock wakes it.
  [[nodiscard]] Listener OnAdvance(std::function<void()> f) override EXCLUDES(mu_);

 private:
  friend class Clock::Listener;
  void Remove(uint64_t id) EXCLUDES(mu_);

  std::atomic<TimePoint> now_;
  // Held while listeners run: Set calls are serialized, and removing a
  // listener waits for its run to end.
  Mutex mu_;
  uint64_t next_id_ GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::function<void()>> listeners_ GUARDED_BY(mu_);
};

}  // namespace lumen
