// CpuRelax: the pause a spin-wait makes between two looks at what it waits
// for. It tells the core (and an SMT sibling) that this thread is spinning,
// which saves power and lets the sibling run, and on x86 avoids the
// memory-order mis-speculation that ends a tight loop.
//
// Threading: any thread; no state.
#pragma once

namespace lumen {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace lumen
