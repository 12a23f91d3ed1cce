// The decoded-argument cache and the rest of <ray/api/decode_support.h>.
#include "api_runtime/decoded_arg_cache.h"

#include <ray/api/decode_support.h>

#include "base/settings.h"

namespace lumen {

DecodedArgCache &DecodedArgCache::Instance() {
  // Never destroyed: executor threads may still decode while the process exits.
  static auto *cache = new DecodedArgCache(CurrentSettings().arg_cache_bytes);
  return *cache;
}

std::shared_ptr<const void> DecodedArgCache::Find(const std::string &object_id, std::type_index type) {
  MutexLock lock(mu_);
  auto it = index_.find(Key(object_id, type));
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void DecodedArgCache::Keep(const std::string &object_id, std::type_index type,
                           std::shared_ptr<const void> value, size_t bytes) {
  if (static_cast<int64_t>(bytes) > capacity_) return;
  std::list<Entry> evicted;  // destroyed after the lock is released: a destructor may be long
  MutexLock lock(mu_);
  Key key(object_id, type);
  if (index_.count(key)) return;  // another thread decoded it first
  lru_.push_front(Entry{key, std::move(value), bytes});
  index_.emplace(std::move(key), lru_.begin());
  bytes_ += static_cast<int64_t>(bytes);
  while (bytes_ > capacity_) {
    auto last = std::prev(lru_.end());
    bytes_ -= static_cast<int64_t>(last->bytes);
    index_.erase(last->key);
    evicted.splice(evicted.begin(), lru_, last);
  }
}

int64_t DecodedArgCache::bytes() const {
  MutexLock lock(mu_);
  return bytes_;
}

size_t DecodedArgCache::entries() const {
  MutexLock lock(mu_);
  return lru_.size();
}

}  // namespace lumen

namespace ray {
namespace internal {
namespace {
thread_local const DecodeSource *t_source = nullptr;
thread_local uint64_t t_retains = 0;
}  // namespace

const DecodeSource *CurrentDecodeSource() { return t_source; }
void SetCurrentDecodeSource(const DecodeSource *source) { t_source = source; }
void NoteDecodeRetains() { ++t_retains; }
uint64_t DecodeRetainCount() { return t_retains; }

std::shared_ptr<const void> FindDecodedArg(std::string_view object_id, const std::type_info &type) {
  return lumen::DecodedArgCache::Instance().Find(std::string(object_id), std::type_index(type));
}

void KeepDecodedArg(std::string_view object_id, const std::type_info &type, std::shared_ptr<const void> value,
                    size_t bytes) {
  lumen::DecodedArgCache::Instance().Keep(std::string(object_id), std::type_index(type), std::move(value),
                                          bytes);
}

}  // namespace internal
}  // namespace ray
