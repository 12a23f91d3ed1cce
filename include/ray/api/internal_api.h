// Entry points used by Lumen's own worker executable, not by user programs.
//
// Public header: must stay valid C++17.
#pragma once

namespace ray {

/// Runs the worker's task loop until the worker is told to exit. Call after
/// ray::Init with RayConfig::is_worker_ = true. Defined by the runtime.
void RunTaskExecutionLoop();

}  // namespace ray
