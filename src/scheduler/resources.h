// Resource accounting for one node: totals and what is free, in fixed point
// (1/10000 of a unit) so repeated fractional grants never drift.
// Not thread-safe: owned by the node service's loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>

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

 private:
  std::map<std::string, int64_t> amounts_;
};

}  // namespace lumen::scheduler
