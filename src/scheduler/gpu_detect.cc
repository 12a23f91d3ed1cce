#include "scheduler/gpu_detect.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

#include "base/logging.h"

namespace lumen::scheduler {
namespace {

/// CUDA_VISIBLE_DEVICES as integers; nullopt when unset. Entries that are not
/// integers (GPU UUIDs) are skipped with a warning.
std::optional<std::vector<int>> VisibleDevices() {
  const char *env = std::getenv("CUDA_VISIBLE_DEVICES");
  if (!env) return std::nullopt;
  std::vector<int> ids;
  std::stringstream in(env);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    try {
      size_t used = 0;
      int id = std::stoi(item, &used);
      if (used == item.size() && id >= 0) {
        ids.push_back(id);
        continue;
      }
    } catch (const std::exception &) {
    }
    LUMEN_LOG_WARN("CUDA_VISIBLE_DEVICES entry '{}' is not a device index; ignored", item);
  }
  return ids;
}

/// Number of NVIDIA GPUs per NVML, 0 without a driver.
int NvmlDeviceCount() {
  // No NVIDIA kernel driver, no GPU: NVML could only fail. Looking for the
  // library costs a node's start ~0.25 ms (a failed dlopen searches every
  // library path), on the path of every ray::Init.
  if (access("/dev/nvidiactl", F_OK) != 0) return 0;
  void *lib = dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!lib) return 0;
  using InitFn = int (*)();
  using CountFn = int (*)(unsigned int *);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "nvmlInit_v2"));
  auto count = reinterpret_cast<CountFn>(dlsym(lib, "nvmlDeviceGetCount_v2"));
  auto shutdown = reinterpret_cast<InitFn>(dlsym(lib, "nvmlShutdown"));
  unsigned int n = 0;
  if (init && count && init() == 0) {
    if (count(&n) != 0) n = 0;
    if (shutdown) shutdown();
  }
  dlclose(lib);
  return static_cast<int>(n);
}

}  // namespace

std::vector<int> DetectGpus(int requested) {
  auto visible = VisibleDevices();
  std::vector<int> ids;
  if (requested >= 0) {
    if (visible) {
      if (static_cast<int>(visible->size()) < requested)
        LUMEN_LOG_WARN("--num-gpus={} but CUDA_VISIBLE_DEVICES names only {} device(s); using those",
                       requested, visible->size());
      for (int i = 0; i < requested && i < static_cast<int>(visible->size()); ++i)
        ids.push_back((*visible)[i]);
    } else {
      for (int i = 0; i < requested; ++i) ids.push_back(i);
    }
    return ids;
  }
  if (visible) return *visible;
  int n = NvmlDeviceCount();
  for (int i = 0; i < n; ++i) ids.push_back(i);
  return ids;
}

}  // namespace lumen::scheduler
