// Lumen extension (not part of Ray's C++ API): what one Lumen Tune trial
// holds while it runs (Ray Tune's resources_per_trial). Two forms, as in Ray:
//
// - plain amounts: CPUs, GPUs and custom resources, reserved by the trial's
//   actor for its whole life. As in Ray, a trial takes 1 CPU unless told
//   otherwise;
// - placement-group bundles (Ray's PlacementGroupFactory): each trial reserves
//   a placement group of the bundles before it starts. The trial's actor runs
//   in the first bundle and holds it; the trainable places its own tasks and
//   actors in the others (GetContext().placement_group, trainable.h). The
//   group is removed when the trial ends, which ends what still runs in it.
//
// Threading: a plain value.
//
// Public header: must stay valid C++17.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ray/api/task_options.h>

namespace ray {
namespace tune {

struct Resources {
  using Bundle = std::map<std::string, double>;

  double cpu = 1;
  double gpu = 0;
  /// Custom resources by name, as a node's --resources declares them.
  std::map<std::string, double> custom;

  /// Bundles of a placement group per trial; empty: the plain amounts above.
  /// When set, they alone say what a trial holds (cpu, gpu and custom are not
  /// used). Every bundle must ask for something.
  std::vector<Bundle> bundles;
  /// How the bundles are placed over the nodes (Ray's default: PACK).
  ray::PlacementStrategy strategy = ray::PlacementStrategy::PACK;

  /// Ray's PlacementGroupFactory(bundles, strategy).
  static Resources PlacementGroup(std::vector<Bundle> bundles,
                                  ray::PlacementStrategy strategy = ray::PlacementStrategy::PACK) {
    Resources r;
    r.bundles = std::move(bundles);
    r.strategy = strategy;
    return r;
  }

  bool UsesPlacementGroup() const { return !bundles.empty(); }

  /// What the trial's actor holds, as Lumen's actor options take it (the
  /// first bundle when bundles are set); zero amounts left out.
  std::unordered_map<std::string, double> ToMap() const {
    std::unordered_map<std::string, double> out;
    if (UsesPlacementGroup()) {
      for (const auto &entry : bundles.front())
        if (entry.second != 0) out[entry.first] = entry.second;
      return out;
    }
    if (cpu != 0) out["CPU"] = cpu;
    if (gpu != 0) out["GPU"] = gpu;
    for (const auto &entry : custom)
      if (entry.second != 0) out[entry.first] = entry.second;
    return out;
  }

  /// Everything one trial reserves, summed by name (all bundles when set).
  std::map<std::string, double> Total() const {
    if (!UsesPlacementGroup()) {
      auto own = ToMap();
      return std::map<std::string, double>(own.begin(), own.end());
    }
    std::map<std::string, double> out;
    for (const Bundle &bundle : bundles)
      for (const auto &entry : bundle)
        if (entry.second != 0) out[entry.first] += entry.second;
    return out;
  }
};

}  // namespace tune
}  // namespace ray
