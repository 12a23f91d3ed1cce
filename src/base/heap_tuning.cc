#include "base/heap_tuning.h"

#include <malloc.h>

#include <climits>

namespace lumen {

void KeepFreedMemoryMapped(size_t keep_free_bytes) {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(keep_free_bytes > INT_MAX ? INT_MAX : keep_free_bytes));
  mallopt(M_TOP_PAD, 64 << 20);  // grow the heap in large steps: fewer brk calls
}

}  // namespace lumen
