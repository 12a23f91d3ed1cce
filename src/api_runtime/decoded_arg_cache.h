// DecodedArgCache: decoded immutable task arguments kept for later tasks on
// the same worker that take the same object as the same type (see
// <ray/api/decode_support.h> for when the invoker uses it).
//
// Why: eight tasks on one worker that read the same 32 MiB object by const
// reference would otherwise each decode it into fresh memory; the copies and
// their page faults cost more than a filter over the data does.
//
// Bounded by the bytes of the objects cached (their serialized size, which is
// close to the decoded size for the arrays and strings that make it worth
// caching); the least recently used entry goes first, and an object larger
// than the whole budget is not kept. Entries are shared_ptrs: one evicted
// while a task still uses it lives on until that task is done.
//
// Thread-safe (one mutex; a lookup is a hash probe and a list splice).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <utility>

#include "base/mutex.h"

namespace lumen {

class DecodedArgCache {
 public:
  explicit DecodedArgCache(int64_t capacity_bytes) : capacity_(capacity_bytes) {}

  /// The process's cache, sized by LUMEN_ARG_CACHE_BYTES.
  static DecodedArgCache &Instance();

  std::shared_ptr<const void> Find(const std::string &object_id, std::type_index type);
  void Keep(const std::string &object_id, std::type_index type, std::shared_ptr<const void> value,
            size_t bytes);

  int64_t bytes() const;
  size_t entries() const;

 private:
  using Key = std::pair<std::string, std::type_index>;
  struct KeyHash {
    size_t operator()(const Key &k) const { return std::hash<std::string>()(k.first) ^ k.second.hash_code(); }
  };
  struct Entry {
    Key key;
    std::shared_ptr<const void> value;
    size_t bytes;
  };

  const int64_t capacity_;
  mutable Mutex mu_;
  std::list<Entry> lru_ GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> index_ GUARDED_BY(mu_);
  int64_t bytes_ GUARDED_BY(mu_) = 0;
};

}  // namespace lumen
