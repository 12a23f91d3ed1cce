// Resource accounting for one node: totals and what is free, in fixed point
// (1/10000 of a unit) so repeated fractional grants never drift.
// Not thread-safe: owned by the node service's loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>
#include <string>

#include "base/resource_names.h"
#include "protocol/common.pb.h"

namespace lumen::scheduler {

class ResourceSet {
 public:
  static constexpr int64_t kUnit = 10000;
  ResourceSet() = default;
  static ResourceSet FromProto(const proto::ResourceSet &p);
  static ResourceSet FromMap(const std::map<std::string, double> &m);
  void ToProto(proto::ResourceSet *p) const;

  /// Each amount of `req` is present here in at least that quantity.
  bool Contains(const ResourceSet &req) const;
  void Add(const ResourceSet &other);
  void Subtract(const ResourceSet &other);  // may go negative (blocked workers taking CPU back)
  double Get(const std::string &name) const;
  void Set(const std::string &name, double amount);
  bool Empty() const { return amounts_.empty(); }
  /// Keeps only the entries named `name` (e.g. only CPU for a blocked worker).
  ResourceSet Only(const std::string &name) const;
  std::string ToString() const;
  bool operator==(const ResourceSet &o) const { return amounts_ == o.amounts_; }
  /// Amounts in fixed point (kUnit per unit).
  const std::map<std::string, int64_t> &fixed() const { return amounts_; }
  int64_t GetFixed(const std::string &name) const;
  void SetFixed(const std::string &name, int64_t amount);

 private:
  std::map<std::string, int64_t> amounts_;
};

/// GPU devices a grant holds and how much of each (fixed point).
using GpuGrant = std::vector<std::pair<int, int64_t>>;

/// Device-level GPU accounting. A request of one or more whole GPUs gets that
/// many devices that are entirely free; a fraction shares one device, packed
/// onto the busiest device it fits on (as Ray does) so whole devices stay free.
class GpuPool {
 public:
  GpuPool() = default;
  /// Devices with their capacities (a whole device is kUnit).
  explicit GpuPool(std::map<int, int64_t> capacity);
  bool CanAllocate(int64_t amount) const;
  /// Precondition: CanAllocate(amount).
  GpuGrant Allocate(int64_t amount);
  void Release(const GpuGrant &grant);
  bool Empty() const { return capacity_.empty(); }
  const std::map<int, int64_t> &free() const { return free_; }

 private:
  std::map<int, int64_t> capacity_;
  std::map<int, int64_t> free_;
};

/// Device ids a grant gives the worker, for CUDA_VISIBLE_DEVICES.
std::vector<int> GpuIds(const GpuGrant &grant);

/// A node's resources: amounts by name plus GPU devices, and the resources
/// placement-group bundles reserve (named <name>_group_<index>_<group> and
/// <name>_group_<group>, as Ray names them). Every grant is all or nothing.
class NodeResources {
 public:
  struct Grant {
    ResourceSet amounts;
    GpuGrant gpus;
    std::string gpu_pool;  // which pool `gpus` came from ("GPU" or a bundle's GPU resource)
  };

  NodeResources() = default;
  NodeResources(ResourceSet total, const std::vector<int> &gpu_ids);
  const ResourceSet &total() const { return total_; }
  const ResourceSet &available() const { return available_; }

  /// `need` is free now (GPU devices included). Placement-group names count
  /// as Ray counts them: a bundle's <name>_group_<i>_<g> also uses the group's
  /// <name>_group_<g>, and an any-bundle <name>_group_<g> is served from one
  /// bundle that has room (its devices and amounts), so neither kind can
  /// overcommit the group.
  bool CanGrant(const ResourceSet &need) const;
  /// Takes `hold` (what the lease keeps; an actor may hold less than it
  /// needed to be placed), with group names counted as in CanGrant; the
  /// grant's `amounts` are what was taken. Precondition: CanGrant(need).
  Grant Allocate(const ResourceSet &need, const ResourceSet &hold);
  void Release(const Grant &grant);
  /// Blocked workers lend their CPU back; `available` may go negative briefly.
  void Lend(const ResourceSet &r) { available_.Add(r); }
  void Unlend(const ResourceSet &r) { available_.Subtract(r); }

  /// A bundle of a group, by its index in the whole group (a node may hold
  /// only some of a group's bundles).
  using IndexedBundle = std::pair<int, ResourceSet>;

  /// All bundles fit in what is free now.
  bool CanReserve(const std::vector<ResourceSet> &bundles) const;
  /// Precondition: CanReserve(bundles). Prepare then Commit, bundles 0..n-1.
  void Reserve(const std::string &group, const std::vector<ResourceSet> &bundles);
  /// Phase one of a reservation across nodes: takes the bundles' resources
  /// out of what is free, all or nothing, without making the group's
  /// resource names usable yet. False (nothing taken) if they do not fit
  /// now. True at once for a group prepared or committed already.
  bool Prepare(const std::string &group, const std::vector<IndexedBundle> &bundles);
  /// Phase two: the prepared group's resource names (<name>_group_<i>_<g>,
  /// <name>_group_<g>) appear in total and available. False if the group
  /// was not prepared (nor committed already).
  bool Commit(const std::string &group);
  bool HasGroup(const std::string &group) const { return groups_.count(group) > 0; }
  bool IsPrepared(const std::string &group) const { return prepared_.count(group) > 0; }
  /// Gives a group's resources back, committed or only prepared (the
  /// cancel of a reservation). Leases on them must be released first.
  void ReturnGroup(const std::string &group);

 private:
  std::string GpuPoolFor(const ResourceSet &request, int64_t *amount) const;
  bool CanGrantExactly(const ResourceSet &need) const;
  /// The group and bundle index (-1: any bundle) a resource name belongs to.
  bool ParseGroupName(const std::string &name, std::string *resource, int *index, std::string *group) const;
  /// `r` with each bundle name's group-wide twin added and each any-bundle
  /// name bound to the bundle `bundle_of` picks for its group.
  ResourceSet Expand(const ResourceSet &r, const std::map<std::string, int> &bundle_of) const;
  /// A bundle for each group that `need` asks for by any-bundle names only,
  /// such that the expanded request is grantable; false if there is none.
  bool ChooseBundles(const ResourceSet &need, std::map<std::string, int> *bundle_of) const;

  ResourceSet total_;
  ResourceSet available_;
  std::map<std::string, GpuPool> gpu_pools_;  // "GPU", and per bundle "GPU_group_<i>_<group>"
  struct GroupGrants {
    std::vector<int> indices;  // each bundle's index in the whole group
    std::vector<Grant> grants;
  };
  std::map<std::string, GroupGrants> groups_;    // committed
  std::map<std::string, GroupGrants> prepared_;  // prepared, not committed yet: only their amounts are taken
};

}  // namespace lumen::scheduler
