#include "scheduler/resources.h"

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

}  // namespace lumen::scheduler
