// ray::internal::RayRuntimeHolder: Ray's accessor object for the process-wide
// runtime. In Lumen the runtime lives behind ray::internal::GetRayRuntime()
// (one per process, owned by libray_api.so); the holder simply forwards to it.
//
// Public header: must stay valid C++17.
#pragma once

#include <memory>

#include <ray/api/ray_runtime.h>

namespace ray {
namespace internal {

class RayRuntimeHolder {
 public:
  static RayRuntimeHolder &Instance() {
    static RayRuntimeHolder instance;
    return instance;
  }

  /// The current runtime, or null before Init / after Shutdown.
  std::shared_ptr<RayRuntime> Runtime() const { return GetRayRuntime(); }

 private:
  RayRuntimeHolder() = default;
};

}  // namespace internal
}  // namespace ray
