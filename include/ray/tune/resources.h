// Lumen extension (not part of Ray's C++ API): what one Lumen Tune trial
// holds while it runs (Ray Tune's resources_per_trial): CPUs, GPUs and custom
// resources, reserved by the trial's actor for its whole life. As in Ray, a
// trial takes 1 CPU unless told otherwise.
//
// Threading: a plain value.
//
// Public header: must stay valid C++17.
#pragma once

#include <map>
#include <string>
#include <unordered_map>

namespace ray {
namespace tune {

struct Resources {
  double cpu = 1;
  double gpu = 0;
  /// Custom resources by name, as a node's --resources declares them.
  std::map<std::string, double> custom;

  /// The request as Lumen's actor options take it; zero amounts left out.
  std::unordered_map<std::string, double> ToMap() const {
    std::unordered_map<std::string, double> out;
    if (cpu != 0) out["CPU"] = cpu;
    if (gpu != 0) out["GPU"] = gpu;
    for (const auto &entry : custom)
      if (entry.second != 0) out[entry.first] = entry.second;
    return out;
  }
};

}  // namespace tune
}  // namespace ray
