// How a Lumen process that allocates and frees large buffers over and over
// (a worker decoding large arguments, a node serving and receiving object
// chunks) keeps its heap.
//
// Threading: call once, early, before the process has threads that allocate.
#pragma once

#include <cstddef>

namespace lumen {

/// Large blocks come from the heap and stay mapped when freed, rather than
/// each being a fresh mmap that the kernel zero-fills a page fault at a time
/// (glibc maps every block of 32 MiB or more, and smaller ones once its
/// dynamic threshold says so, and returns them at free). The next buffer of
/// the same size then reuses the memory the last one freed: for an 8 MiB
/// chunk or a 32 MiB array the faults cost more than the copy. Free memory
/// beyond `keep_free_bytes` at the top of the heap is still given back.
void KeepFreedMemoryMapped(size_t keep_free_bytes);

}  // namespace lumen
