#include "object_store/allocator.h"

#include <cassert>
#include <limits>

namespace lumen::object_store {

namespace {
// Rounds `size` up to a multiple of `alignment`; nullopt on overflow.
std::optional<size_t> RoundUp(size_t size, size_t alignment) {
  if (size == 0) size = 1;
  size_t rem = size % alignment;
  if (rem == 0) return size;
  size_t pad = alignment - rem;
  if (size > std::numeric_limits<size_t>::max() - pad) return std::nullopt;
  return size + pad;
}
}  // namespace

Allocator::Allocator(size_t capacity, size_t alignment)
    : capacity_(capacity), alignment_(alignment == 0 ? 1 : alignment) {
  if (capacity_ > 0) {
    free_by_offset_.emplace(0, capacity_);
    free_by_size_.emplace(capacity_, 0);
  }
}

std::optional<size_t> Allocator::Allocate(size_t size) {
  auto need = RoundUp(size, alignment_);
  if (!need) return std::nullopt;
  // Best fit: the smallest free block that holds `need`; among equals, the
  // lowest offset (keeps allocations packed toward the start).
  auto it = free_by_size_.lower_bound({*need, 0});
  if (it == free_by_size_.end()) return std::nullopt;
  const size_t block_size = it->first;
  const size_t offset = it->second;
  free_by_size_.erase(it);
  free_by_offset_.erase(offset);
  if (block_size > *need) {
    // Every block starts aligned and `need` is a multiple of the alignment,
    // so the remainder starts aligned too.
    size_t rest_off = offset + *need;
    size_t rest_size = block_size - *need;
    free_by_offset_.emplace(rest_off, rest_size);
    free_by_size_.emplace(rest_size, rest_off);
  }
  allocated_.emplace(offset, *need);
  used_ += *need;
  return offset;
}

bool Allocator::Free(size_t offset) {
  auto a = allocated_.find(offset);
  if (a == allocated_.end()) return false;
  size_t start = offset;
  size_t size = a->second;
  allocated_.erase(a);
  used_ -= size;

  // Coalesce with the free block that ends where this one starts...
  auto next = free_by_offset_.lower_bound(start);
  if (next != free_by_offset_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      free_by_size_.erase({prev->second, prev->first});
      start = prev->first;
      size += prev->second;
      free_by_offset_.erase(prev);
    }
  }
  // ...and with the one that starts where it ends.
  if (next != free_by_offset_.end() && next->first == start + size) {
    free_by_size_.erase({next->second, next->first});
    size += next->second;
    free_by_offset_.erase(next);
  }
  free_by_offset_.emplace(start, size);
  free_by_size_.emplace(size, start);
  return true;
}

size_t Allocator::largest_free_block() const {
  return free_by_size_.empty() ? 0 : free_by_size_.rbegin()->first;
}

}  // namespace lumen::object_store
