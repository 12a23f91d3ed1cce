// Offset allocator for the shared-memory arena: best fit over a free list
// ordered by size, with neighbour coalescing on free. It hands out offsets,
// never touches the memory itself. Not thread-safe: the object store calls it
// from its own thread only.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace lumen::object_store {

class Allocator {
 public:
  /// Manages [0, capacity). Every block starts at a multiple of `alignment`.
  explicit Allocator(size_t capacity, size_t alignment = 64);

  /// Returns the offset of a block of at least `size` bytes, or nullopt when
  /// no free block is big enough. size 0 is treated as 1.
  std::optional<size_t> Allocate(size_t size);
  /// Frees a block returned by Allocate. Freeing an unknown offset is a no-op
  /// that returns false.
  bool Free(size_t offset);

  size_t capacity() const { return capacity_; }
  size_t used() const { return used_; }
  size_t largest_free_block() const;
  size_t num_allocations() const { return allocated_.size(); }

 private:
  size_t capacity_;
  size_t alignment_;
  size_t used_ = 0;
  std::map<size_t, size_t> free_by_offset_;           // offset -> size
  std::set<std::pair<size_t, size_t>> free_by_size_;  // (size, offset)
  std::map<size_t, size_t> allocated_;                // offset -> size
};

}  // namespace lumen::object_store
