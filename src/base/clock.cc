#include "base/clock.h"

#include <cassert>

namespace lumen {
namespace {

class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

Clock &Clock::Real() {
  // Never destroyed: code running from static destructors or exit handlers may still ask the time.
  static Clock *clock = new SteadyClock;
  return *clock;
}

void Clock::Listener::Reset() {
  if (clock_) std::exchange(clock_, nullptr)->Remove(id_);
}

FakeClock::~FakeClock() {
  MutexLock lock(mu_);
  assert(listeners_.empty() && "a Listener outlives its FakeClock");
}

void FakeClock::Set(TimePoint t) {
  // Under mu_, so that a listener's owner, removing it, waits for a run in
  // progress (listeners capture their owner).
  MutexLock lock(mu_);
  now_.store(t, std::memory_order_release);
  for (auto &[id, f] : listeners_) f();
}

Clock::Listener FakeClock::OnAdvance(std::function<void()> f) {
  MutexLock lock(mu_);
  uint64_t id = ++next_id_;
  listeners_.emplace(id, std::move(f));
  return Listener(this, id);
}

void FakeClock::Remove(uint64_t id) {
  MutexLock lock(mu_);
  listeners_.erase(id);
}

}  // namespace lumen
