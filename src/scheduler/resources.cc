#include "scheduler/resources.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

namespace lumen::scheduler {

ResourceSet ResourceSet::FromProto(const proto::ResourceSet &p) {
  ResourceSet r;
  for (auto &[k, v] : p.amounts()) r.Set(k, v);
  return r;
}

ResourceSet ResourceSet::FromMap(const std::map<std::string, double> &m) {
  ResourceSet r;
  for (auto &[k, v] : m) r.Set(k, v);
  return r;
}

void ResourceSet::ToProto(proto::ResourceSet *p) const {
  for (auto &[k, v] : amounts_) (*p->mutable_amounts())[k] = static_cast<double>(v) / kUnit;
}

void ResourceSet::Set(const std::string &name, double amount) {
  int64_t fixed = std::llround(amount * kUnit);
  if (fixed == 0) {
    amounts_.erase(name);
  } else {
    amounts_[name] = fixed;
  }
}

double ResourceSet::Get(const std::string &name) const {
  auto it = amounts_.find(name);
  return it == amounts_.end() ? 0.0 : static_cast<double>(it->second) / kUnit;
}

bool ResourceSet::Contains(const ResourceSet &req) const {
  for (auto &[k, v] : req.amounts_) {
    if (v <= 0) continue;
    auto it = amounts_.find(k);
    if (it == amounts_.end() || it->second < v) return false;
  }
  return true;
}

void ResourceSet::Add(const ResourceSet &other) {
  for (auto &[k, v] : other.amounts_) {
    int64_t n = (amounts_[k] += v);
    if (n == 0) amounts_.erase(k);
  }
}

void ResourceSet::Subtract(const ResourceSet &other) {
  for (auto &[k, v] : other.amounts_) {
    int64_t n = (amounts_[k] -= v);
    if (n == 0) amounts_.erase(k);
  }
}

ResourceSet ResourceSet::Only(const std::string &name) const {
  ResourceSet r;
  auto it = amounts_.find(name);
  if (it != amounts_.end()) r.amounts_[name] = it->second;
  return r;
}

int64_t ResourceSet::GetFixed(const std::string &name) const {
  auto it = amounts_.find(name);
  return it == amounts_.end() ? 0 : it->second;
}

void ResourceSet::SetFixed(const std::string &name, int64_t amount) {
  if (amount == 0) {
    amounts_.erase(name);
  } else {
    amounts_[name] = amount;
  }
}

std::string ResourceSet::ToString() const {
  std::ostringstream os;
  os << "{";
  bool first = true;
  for (auto &[k, v] : amounts_) {
    if (!first) os << ", ";
    first = false;
    os << k << ": " << static_cast<double>(v) / kUnit;
  }
  os << "}";
  return os.str();
}

// ---------------------------------------------------------------- GpuPool

GpuPool::GpuPool(std::map<int, int64_t> capacity) : capacity_(capacity), free_(std::move(capacity)) {}

bool GpuPool::CanAllocate(int64_t amount) const {
  if (amount <= 0) return true;
  if (amount >= ResourceSet::kUnit) {
    if (amount % ResourceSet::kUnit != 0) return false;  // validated at submission; never a fraction above 1
    int64_t whole = 0;
    for (auto &[dev, f] : free_) whole += f == ResourceSet::kUnit;
    return whole >= amount / ResourceSet::kUnit;
  }
  for (auto &[dev, f] : free_)
    if (f >= amount) return true;
  return false;
}

GpuGrant GpuPool::Allocate(int64_t amount) {
  GpuGrant grant;
  if (amount <= 0) return grant;
  if (amount >= ResourceSet::kUnit) {
    int64_t n = amount / ResourceSet::kUnit;
    for (auto &[dev, f] : free_) {
      if (n == 0) break;
      if (f != ResourceSet::kUnit) continue;
      grant.emplace_back(dev, f);
      f = 0;
      --n;
    }
    return grant;
  }
  // The device with the least room that still fits: keeps whole devices whole.
  int best = -1;
  for (auto &[dev, f] : free_)
    if (f >= amount && (best < 0 || f < free_[best])) best = dev;
  if (best >= 0) {
    free_[best] -= amount;
    grant.emplace_back(best, amount);
  }
  return grant;
}

void GpuPool::Release(const GpuGrant &grant) {
  for (auto &[dev, amount] : grant) {
    auto it = free_.find(dev);
    if (it == free_.end()) continue;
    it->second = std::min(it->second + amount, capacity_[dev]);
  }
}

std::vector<int> GpuIds(const GpuGrant &grant) {
  std::vector<int> ids;
  for (auto &[dev, amount] : grant) ids.push_back(dev);
  return ids;
}

// ---------------------------------------------------------------- NodeResources

NodeResources::NodeResources(ResourceSet total, const std::vector<int> &gpu_ids)
    : total_(std::move(total)), available_(total_) {
  std::map<int, int64_t> devices;
  for (int id : gpu_ids) devices[id] = ResourceSet::kUnit;
  if (!devices.empty()) gpu_pools_["GPU"] = GpuPool(devices);
}

std::string NodeResources::GpuPoolFor(const ResourceSet &request, int64_t *amount) const {
  // Device ids come from the node's GPUs, or from one bundle's share of them.
  for (auto &[name, v] : request.fixed()) {
    if (v > 0 && gpu_pools_.count(name)) {
      *amount = v;
      return name;
    }
  }
  *amount = 0;
  return "";
}

bool NodeResources::CanGrantExactly(const ResourceSet &need) const {
  if (!available_.Contains(need)) return false;
  int64_t amount;
  std::string pool = GpuPoolFor(need, &amount);
  return pool.empty() || gpu_pools_.at(pool).CanAllocate(amount);
}

bool NodeResources::ParseGroupName(const std::string &name, std::string *resource, int *index,
                                   std::string *group) const {
  static const std::string kTag = "_group_";
  for (auto &[g, grants] : groups_) {
    if (name.size() <= g.size() + kTag.size() || name.compare(name.size() - g.size(), g.size(), g) != 0)
      continue;
    std::string head = name.substr(0, name.size() - g.size());  // "<res>_group_" or "<res>_group_<i>_"
    if (head.compare(head.size() - kTag.size(), kTag.size(), kTag) == 0) {
      *resource = head.substr(0, head.size() - kTag.size());
      *index = -1;
      *group = g;
      return true;
    }
    if (head.back() != '_') continue;
    size_t end = head.size() - 1, start = end;
    while (start > 0 && std::isdigit(static_cast<unsigned char>(head[start - 1]))) --start;
    if (start == end || start < kTag.size() + 1 || head.compare(start - kTag.size(), kTag.size(), kTag) != 0)
      continue;
    *resource = head.substr(0, start - kTag.size());
    *index = std::stoi(head.substr(start, end - start));
    *group = g;
    return true;
  }
  return false;
}

ResourceSet NodeResources::Expand(const ResourceSet &r, const std::map<std::string, int> &bundle_of) const {
  // Per (group, resource): the bundle-indexed amounts and the any-bundle amount.
  struct Ask {
    std::map<int, int64_t> indexed;
    int64_t any = 0;
  };
  std::map<std::pair<std::string, std::string>, Ask> asks;
  ResourceSet out;
  for (auto &[name, v] : r.fixed()) {
    std::string res, group;
    int index;
    if (v <= 0 || !ParseGroupName(name, &res, &index, &group)) {
      out.SetFixed(name, v);
      continue;
    }
    Ask &a = asks[{group, res}];
    if (index < 0) {
      a.any = v;
    } else {
      a.indexed[index] = v;
    }
  }
  for (auto &[key, a] : asks) {
    auto &[group, res] = key;
    std::map<int, int64_t> indexed = a.indexed;
    auto chosen = bundle_of.find(group);
    if (indexed.empty() && chosen != bundle_of.end()) indexed[chosen->second] = a.any;
    int64_t sum = 0;
    for (auto &[i, v] : indexed) {
      out.SetFixed(GroupResourceName(res, i, group), v);
      sum += v;
    }
    out.SetFixed(GroupResourceName(res, -1, group), std::max(a.any, sum));
  }
  return out;
}

bool NodeResources::ChooseBundles(const ResourceSet &need, std::map<std::string, int> *bundle_of) const {
  // Groups asked for by any-bundle names only.
  std::map<std::string, bool> any_only;
  for (auto &[name, v] : need.fixed()) {
    std::string res, group;
    int index;
    if (v <= 0 || !ParseGroupName(name, &res, &index, &group)) continue;
    auto it = any_only.emplace(group, true).first;
    if (index >= 0) it->second = false;
  }
  bundle_of->clear();
  for (auto &[group, only] : any_only) {
    if (!only) continue;
    bool found = false;
    for (int i : groups_.at(group).indices) {
      (*bundle_of)[group] = i;
      found = CanGrantExactly(Expand(need, *bundle_of));
      if (found) break;
    }
    if (!found) return false;
  }
  return CanGrantExactly(Expand(need, *bundle_of));
}

bool NodeResources::CanGrant(const ResourceSet &need) const {
  std::map<std::string, int> bundle_of;
  return ChooseBundles(need, &bundle_of);
}

NodeResources::Grant NodeResources::Allocate(const ResourceSet &need, const ResourceSet &requested_hold) {
  std::map<std::string, int> bundle_of;
  ChooseBundles(need, &bundle_of);
  ResourceSet hold = Expand(requested_hold, bundle_of);
  Grant g;
  g.amounts = hold;
  available_.Subtract(hold);
  int64_t amount;
  std::string pool = GpuPoolFor(hold, &amount);
  if (!pool.empty()) {
    g.gpus = gpu_pools_[pool].Allocate(amount);
    g.gpu_pool = pool;
  }
  return g;
}

void NodeResources::Release(const Grant &grant) {
  available_.Add(grant.amounts);
  if (!grant.gpu_pool.empty()) {
    auto it = gpu_pools_.find(grant.gpu_pool);
    if (it != gpu_pools_.end()) it->second.Release(grant.gpus);
  }
}

bool NodeResources::CanReserve(const std::vector<ResourceSet> &bundles) const {
  // Try it on a copy: GPU devices must fit bundle by bundle.
  NodeResources trial = *this;
  for (auto &b : bundles) {
    if (!trial.CanGrant(b)) return false;
    trial.Allocate(b, b);
  }
  return true;
}

void NodeResources::Reserve(const std::string &group, const std::vector<ResourceSet> &bundles) {
  std::vector<IndexedBundle> indexed;
  for (size_t i = 0; i < bundles.size(); ++i) indexed.emplace_back(static_cast<int>(i), bundles[i]);
  Prepare(group, indexed);
  Commit(group);
}

bool NodeResources::Prepare(const std::string &group, const std::vector<IndexedBundle> &bundles) {
  if (groups_.count(group) || prepared_.count(group)) return true;
  std::vector<ResourceSet> sets;
  for (auto &[index, b] : bundles) sets.push_back(b);
  if (!CanReserve(sets)) return false;
  GroupGrants &g = prepared_[group];
  for (auto &[index, b] : bundles) {
    g.indices.push_back(index);
    g.grants.push_back(Allocate(b, b));
  }
  return true;
}

// The names a bundle's grant makes usable: <name>_group_<i>_<g> and <name>_group_<g>.
static ResourceSet GroupNames(const ResourceSet &amounts, int index, const std::string &group) {
  ResourceSet names;
  for (auto &[name, v] : amounts.fixed()) {
    names.SetFixed(GroupResourceName(name, index, group), v);
    names.SetFixed(GroupResourceName(name, -1, group), v);
  }
  return names;
}

bool NodeResources::Commit(const std::string &group) {
  if (groups_.count(group)) return true;
  auto it = prepared_.find(group);
  if (it == prepared_.end()) return false;
  GroupGrants g = std::move(it->second);
  prepared_.erase(it);
  for (size_t k = 0; k < g.grants.size(); ++k) {
    ResourceSet names = GroupNames(g.grants[k].amounts, g.indices[k], group);
    total_.Add(names);
    available_.Add(names);
    if (!g.grants[k].gpus.empty()) {
      std::map<int, int64_t> share;
      for (auto &[dev, amount] : g.grants[k].gpus) share[dev] += amount;
      gpu_pools_[GroupResourceName("GPU", g.indices[k], group)] = GpuPool(share);
    }
  }
  groups_[group] = std::move(g);
  return true;
}

void NodeResources::ReturnGroup(const std::string &group) {
  if (auto p = prepared_.find(group); p != prepared_.end()) {
    for (auto &grant : p->second.grants) Release(grant);
    prepared_.erase(p);
    return;
  }
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  GroupGrants &g = it->second;
  for (size_t k = 0; k < g.grants.size(); ++k) {
    ResourceSet names = GroupNames(g.grants[k].amounts, g.indices[k], group);
    total_.Subtract(names);
    available_.Subtract(names);
    gpu_pools_.erase(GroupResourceName("GPU", g.indices[k], group));
    Release(g.grants[k]);
  }
  groups_.erase(it);
}

}  // namespace lumen::scheduler
