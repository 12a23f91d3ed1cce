// Lumen Tune's timeouts and grace periods (a Lumen extension), in the style of
// the runtime's src/base/timeouts.h, which libs/tune may not include. Each
// bounds a wait that only a hung trainable or a broken worker makes long: a
// healthy trial answers far inside it, so a value decides how long a hang
// takes to be reported, never how fast anything runs.
//
// Threading: constants only.
#pragma once

#include <chrono>

namespace ray {
namespace tune {
namespace internal {

/// How long a STOP waits for the trainable to finish on its own (the
/// function's next Report throws; the class's Step in progress returns and
/// Cleanup runs) before the trial's actor is killed. Ray's own force-cleanup
/// default is 600 s; 60 s lets a slow Cleanup finish on a loaded machine and
/// still ends a trainable that ignores the stop (a function that never calls
/// Report again) in a bounded time.
inline constexpr std::chrono::seconds kStopGrace{60};

/// Saving or loading a checkpoint, resetting a config: user code that may
/// write a large model to disk. Thirty minutes only ends a real hang.
inline constexpr std::chrono::minutes kCheckpointTimeout{30};

/// A result Wait has reported ready is fetched at once; the deadline only
/// guards against a runtime that lost it.
inline constexpr std::chrono::seconds kReadyResultTimeout{60};

}  // namespace internal
}  // namespace tune
}  // namespace ray
