// Placement-group types and task-option validation (Ray's task_options.h).
//
// PlacementGroup is a plain value: an id, the creation options and a state
// snapshot, plus a wait callback installed by the runtime. Copies share the
// callback. Not synchronized: do not mutate one PlacementGroup object from
// several threads at once.
//
// Public header: must stay valid C++17.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ray/api/ray_exception.h>

namespace ray {

enum class PlacementStrategy {
  PACK = 0,
  SPREAD = 1,
  STRICT_PACK = 2,
  STRICT_SPREAD = 3,
  UNRECOGNIZED = -1,
};

// Deliberately unscoped, as in Ray: the enumerators are also visible in ray::.
enum PlacementGroupState {
  PENDING = 0,
  PREPARED = 1,
  CREATED = 2,
  REMOVED = 3,
  RESCHEDULING = 4,
  UNRECOGNIZED = -1,
};

/// Aggregate, brace-initialized as {name, bundles, strategy}.
struct PlacementGroupCreationOptions {
  std::string name;
  std::vector<std::unordered_map<std::string, double>> bundles;
  PlacementStrategy strategy;
};

class PlacementGroup {
 public:
  PlacementGroup() = default;
  PlacementGroup(std::string id, PlacementGroupCreationOptions options,
                 PlacementGroupState state = PlacementGroupState::UNRECOGNIZED)
      : id_(std::move(id)), options_(std::move(options)), state_(state) {}

  std::string GetID() const { return id_; }
  std::string GetName() const { return options_.name; }
  std::vector<std::unordered_map<std::string, double>> GetBundles() const { return options_.bundles; }
  PlacementGroupState GetState() const { return state_; }
  PlacementStrategy GetStrategy() const { return options_.strategy; }
  bool Empty() const { return id_.empty(); }

  /// Blocks up to timeout_seconds (seconds, not milliseconds) until the group
  /// is created; true if it is. Uses the callback set by the runtime, or asks
  /// the runtime directly when none was set.
  bool Wait(int timeout_seconds);

  /// The misspelling is Ray's public API.
  void SetWaitCallbak(std::function<bool(const std::string &, int)> callback) {
    callback_ = std::move(callback);
  }

 private:
  std::string id_;
  PlacementGroupCreationOptions options_{"", {}, PlacementStrategy::PACK};
  PlacementGroupState state_ = PlacementGroupState::UNRECOGNIZED;
  std::function<bool(const std::string &, int)> callback_;
};

namespace internal {

/// Validates a resource request, throwing RayException for an empty name, a
/// zero, negative or NaN amount, or a fractional amount above 1.
inline void CheckTaskOptions(const std::unordered_map<std::string, double> &resources) {
  for (const auto &entry : resources) {
    const std::string &name = entry.first;
    const double value = entry.second;
    if (name.empty()) {
      throw RayException("Resource name should not be empty.");
    }
    if (!(value > 0)) {
      throw RayException("Resource '" + name + "' must be a positive amount, got " + std::to_string(value) +
                         ".");
    }
    if (value > 1 && std::fmod(value, 1.0) != 0) {
      throw RayException("Resource '" + name + "': an amount above 1 must be a whole number, got " +
                         std::to_string(value) + ".");
    }
  }
}

}  // namespace internal
}  // namespace ray
