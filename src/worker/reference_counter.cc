#include "worker/reference_counter.h"

namespace lumen::worker {

const ReferenceCounter::Refs *ReferenceCounter::Find(const ObjectID &id) const {
  auto it = refs_.find(id);
  return it == refs_.end() ? nullptr : &it->second;
}

bool ReferenceCounter::AddLocal(const ObjectID &id) {
  Refs &r = refs_[id];
  r.local++;
  if (Owned(id) || r.borrow_registered) return false;
  r.borrow_registered = true;
  return true;
}

void ReferenceCounter::RemoveLocal(const ObjectID &id) {
  auto it = refs_.find(id);
  if (it != refs_.end() && it->second.local > 0) it->second.local--;
}

void ReferenceCounter::AddSubmitted(const ObjectID &id) { refs_[id].submitted++; }

void ReferenceCounter::RemoveSubmitted(const ObjectID &id) {
  auto it = refs_.find(id);
  if (it != refs_.end() && it->second.submitted > 0) it->second.submitted--;
}

void ReferenceCounter::AddBorrower(const ObjectID &id, const std::string &borrower) {
  auto it = refs_.find(id);
  if (it != refs_.end()) it->second.borrowers.insert(borrower);
}

void ReferenceCounter::RemoveBorrower(const ObjectID &id, const std::string &borrower) {
  auto it = refs_.find(id);
  if (it != refs_.end()) it->second.borrowers.erase(borrower);
}

void ReferenceCounter::AddNested(const ObjectID &id, const std::vector<ObjectID> &nested) {
  for (const ObjectID &n : nested) {
    Refs &r = refs_[n];
    r.contained++;
    if (!Owned(n)) r.borrow_registered = true;
  }
  // After the loop: refs_[n] may rehash, and `id` may be among `nested`.
  std::vector<ObjectID> &list = refs_[id].nested;
  list.insert(list.end(), nested.begin(), nested.end());
}

std::vector<ObjectID> ReferenceCounter::TakeNested(const ObjectID &id) {
  auto it = refs_.find(id);
  if (it == refs_.end()) return {};
  std::vector<ObjectID> nested = std::move(it->second.nested);
  it->second.nested.clear();
  return nested;
}

void ReferenceCounter::RemoveContained(const ObjectID &id) {
  auto it = refs_.find(id);
  if (it != refs_.end() && it->second.contained > 0) it->second.contained--;
}

bool ReferenceCounter::InScope(const ObjectID &id) const {
  auto it = refs_.find(id);
  return it != refs_.end() && Held(it->second);
}

void ReferenceCounter::FreeIfUnused(const ObjectID &id, const MayFree &may_free, const OnFree &on_free) {
  auto it = refs_.find(id);
  if (it == refs_.end() || Held(it->second) || !may_free(id)) return;
  const Refs freed = std::move(it->second);
  refs_.erase(it);
  on_free(id, freed);
  for (const ObjectID &n : freed.nested) {
    RemoveContained(n);
    FreeIfUnused(n, may_free, on_free);
  }
}

}  // namespace lumen::worker
