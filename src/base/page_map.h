// Which pages of a range are mapped in this process's page tables, read from
// /proc/self/pagemap's "present" bit. The tests of ParallelPopulateWrite and
// Arena::PrepareWrite check populating with it: counting page faults instead
// would also count a sanitizer's shadow memory faulting on its own.
//
// Threading: a plain function; safe from any thread.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace lumen {

inline size_t PresentPages(const void *p, size_t n) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t present = 0;
  for (size_t off = 0; off < n; off += page) {
    uint64_t entry = 0;
    const off_t at = static_cast<off_t>((reinterpret_cast<uintptr_t>(p) + off) / page * sizeof entry);
    if (pread(fd, &entry, sizeof entry, at) == static_cast<ssize_t>(sizeof entry) && (entry >> 63) & 1)
      ++present;
  }
  close(fd);
  return present;
}

}  // namespace lumen
