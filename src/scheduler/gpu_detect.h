// Finding the GPUs a node offers: NVML (loaded at run time, so nodes without
// NVIDIA drivers need nothing extra), narrowed by CUDA_VISIBLE_DEVICES, or an
// explicit --num-gpus (which also works without any GPU: virtual devices, so
// GPU scheduling is testable anywhere). Thread-compatible; call at start-up.
#pragma once

#include <vector>

namespace lumen::scheduler {

/// Device indices the node hands out. `requested` < 0: detect; otherwise that
/// many (from CUDA_VISIBLE_DEVICES when it is set, else 0..requested-1).
std::vector<int> DetectGpus(int requested);

}  // namespace lumen::scheduler
