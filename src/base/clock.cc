#include "base/clock.h"

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

}  // namespace lumen
