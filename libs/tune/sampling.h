// Random draws for Lumen Tune's samplers and searchers, from the experiment's
// Rng (std::mt19937_64, whose output the standard fixes). <random>'s
// distributions are not used: their output differs between standard libraries,
// and a seed must give the same configs everywhere. Stateless: every draw reads
// only the Rng, so saving the Rng saves everything.
#pragma once

#include <cstdint>
#include <string>

#include "ray/tune/types.h"

namespace ray {
namespace tune {
namespace internal {

/// Uniform in [0, 1), 53 random bits.
double UniformUnit(Rng &rng);
/// Uniform in [lower, upper); lower < upper.
double UniformReal(Rng &rng, double lower, double upper);
/// Uniform integer in [lower, upper); lower < upper. Unbiased (rejection).
int64_t UniformInt(Rng &rng, int64_t lower, int64_t upper);
/// Standard normal (Box-Muller, one value per call).
double StandardNormal(Rng &rng);
/// Round half to even, as numpy's round.
double RoundHalfEven(double x);

/// The Rng's full state as text, and back (Save/Restore of searchers).
std::string RngState(const Rng &rng);
void SetRngState(Rng &rng, const std::string &state);
/// A seed from the OS, for a searcher given no seed (Ray's random_state=None).
uint64_t RandomSeed();

}  // namespace internal
}  // namespace tune
}  // namespace ray
