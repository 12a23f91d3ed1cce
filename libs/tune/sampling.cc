#include "sampling.h"

#include <cmath>
#include <limits>
#include <random>
#include <sstream>

namespace ray {
namespace tune {
namespace internal {

double UniformUnit(Rng &rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double UniformReal(Rng &rng, double lower, double upper) {
  double x = lower + (upper - lower) * UniformUnit(rng);
  // lower + width * u can round up to `upper` itself; the range is half-open.
  return x < upper ? x : std::nextafter(upper, lower);
}

int64_t UniformInt(Rng &rng, int64_t lower, int64_t upper) {
  const uint64_t range = static_cast<uint64_t>(upper) - static_cast<uint64_t>(lower);
  // Reject the top partial block of 2^64 so every value is equally likely.
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % range;
  uint64_t draw;
  do {
    draw = rng();
  } while (draw >= limit);
  return static_cast<int64_t>(static_cast<uint64_t>(lower) + draw % range);
}

double StandardNormal(Rng &rng) {
  // 1 - u lies in (0, 1], so the logarithm is finite.
  const double u1 = 1.0 - UniformUnit(rng);
  const double u2 = UniformUnit(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double RoundHalfEven(double x) {
  double r = std::round(x);  // halves away from zero
  if (std::fabs(x - std::trunc(x)) == 0.5) r = 2.0 * std::round(x / 2.0);
  return r;
}

std::string RngState(const Rng &rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

void SetRngState(Rng &rng, const std::string &state) {
  std::istringstream in(state);
  in >> rng;
  if (in.fail()) throw TuneError("saved state has a malformed random-generator state");
}

uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
