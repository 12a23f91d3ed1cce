// The references a core worker counts for each object it tracks (Ray's
// ReferenceCounter; ownership-based reference counting). For every object
// this process owns or borrows:
//   local      ObjectRefs held by user code in this process;
//   submitted  arguments of tasks this process submitted that have not ended;
//   contained  refs to it inside the values of other objects tracked here;
// and, for an object it owns, the other processes borrowing it (by their
// address), or, for one it borrows, whether its owner counts this process as
// a borrower. An object is in scope while any of them holds it; once none
// does, it is freed, and the refs nested in its value are released in turn.
//
// This class counts and decides; the core worker acts. It knows nothing of
// values, connections or threads: FreeIfUnused asks the core worker whether
// an object may go (a value a dependent task still waits for may not) and
// tells it each object that went, nested ones included, so that it drops
// the value, deletes stored copies and tells the owner.
//
// Threading: not thread-safe; the core worker calls it with its mu_ held.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/id.h"

namespace lumen::worker {

class ReferenceCounter {
 public:
  struct Refs {
    int64_t local = 0;
    int64_t submitted = 0;
    int64_t contained = 0;
    std::set<std::string> borrowers;  // owned: the borrowing processes' addresses
    bool borrow_registered = false;   // borrowed: the owner counts this process
    std::vector<ObjectID> nested;     // refs inside this object's value, each counted as contained
  };

  /// `self`: this process's worker id; an object it made (ObjectID::Owner) is owned.
  explicit ReferenceCounter(const WorkerID &self) : self_(self) {}

  bool Owned(const ObjectID &id) const { return id.Owner() == self_; }
  /// Starts counting `id`, with no references yet; nothing if counted already.
  void Track(const ObjectID &id) { refs_.try_emplace(id); }
  bool IsTracked(const ObjectID &id) const { return refs_.count(id) != 0; }
  /// The counts of `id`; null when it is not tracked.
  const Refs *Find(const ObjectID &id) const;
  size_t size() const { return refs_.size(); }
  void Clear() { refs_.clear(); }

  /// A local reference to `id` (tracked from now on). True when `id` is
  /// borrowed and its owner does not count this process yet: the caller
  /// tells the owner, which counts it from then on.
  bool AddLocal(const ObjectID &id);
  /// These do nothing for an object not tracked; a count never goes below 0.
  void RemoveLocal(const ObjectID &id);
  void AddSubmitted(const ObjectID &id);  // tracked from now on
  void RemoveSubmitted(const ObjectID &id);
  void AddBorrower(const ObjectID &id, const std::string &borrower);
  void RemoveBorrower(const ObjectID &id, const std::string &borrower);
  /// The value of `id` holds refs to `nested`: each is counted as contained
  /// in it (and tracked from now on). A borrowed one's owner was told of
  /// this process by whoever made the value, so it counts as registered.
  void AddNested(const ObjectID &id, const std::vector<ObjectID> &nested);
  /// The value of `id` is gone (made again): returns its nested refs, no
  /// longer listed. Each is still counted as contained until RemoveContained.
  std::vector<ObjectID> TakeNested(const ObjectID &id);
  void RemoveContained(const ObjectID &id);

  /// Whether anything holds `id` (false when it is not tracked).
  bool InScope(const ObjectID &id) const;
  /// Frees `id` when nothing holds it and `may_free(id)`: stops tracking it,
  /// runs `on_free(id, its refs)`, then releases its nested refs, freeing
  /// those that go out of scope in turn (each also through `may_free` and
  /// `on_free`). Nothing for an object not tracked.
  using MayFree = std::function<bool(const ObjectID &)>;
  using OnFree = std::function<void(const ObjectID &, const Refs &)>;
  void FreeIfUnused(const ObjectID &id, const MayFree &may_free, const OnFree &on_free);

 private:
  static bool Held(const Refs &r) {
    return r.local > 0 || r.submitted > 0 || r.contained > 0 || !r.borrowers.empty();
  }

  const WorkerID self_;
  std::unordered_map<ObjectID, Refs> refs_;
};

}  // namespace lumen::worker
