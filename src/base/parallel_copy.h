// Copying large buffers with a few threads at once. One core's memcpy is
// bound by how many cache-line misses it can keep in flight, not by memory
// bandwidth: on the 2-core VM this suite runs on, an 800 MiB copy runs at
// ~11.5 GB/s on one thread and ~20 GB/s on two. Ray's plasma client splits
// large puts across threads for the same reason.
//
// Threading: ParallelCopy may be called from any thread, concurrently. The
// helper threads are started on first use (per process: a forked child
// starts its own) and wait on one queue until StopParallelCopyThreads.
#pragma once

#include <cstddef>

namespace lumen {

/// Below this, ParallelCopy is a plain memcpy: handing work to another
/// thread costs a wake-up (microseconds), a 4 MiB copy ~0.35 ms.
constexpr size_t kParallelCopyMinBytes = 8u << 20;

/// memcpy(dst, src, n) for non-overlapping buffers, split across up to
/// min(hardware threads, 8) threads (the caller included) when n is large.
void ParallelCopy(void *dst, const void *src, size_t n);

/// Fills in this process's page tables for writing [p, p + n) -- what the
/// first write to each page would otherwise do one fault at a time -- split
/// across the same threads when n is large. Contents are unchanged. Writing a
/// large value serially (msgpack) into fresh shared memory is bound by those
/// faults, not by the copy: on the 2-core VM, 20 MiB into an untouched arena
/// took ~16-21 ms faulting as it went, ~8-10 ms populated on two threads
/// first, then ~2-3 ms to write.
void ParallelPopulateWrite(void *p, size_t n);

/// Joins the helper threads (copies in progress complete first); the next
/// large copy starts new ones. ray::Init calls it before forking its fork
/// server, which must be a copy of a process without Lumen's threads.
void StopParallelCopyThreads();

}  // namespace lumen
