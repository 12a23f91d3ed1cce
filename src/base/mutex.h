// Mutexes the compiler can check: Clang's thread-safety analysis
// (-Wthread-safety) proves at compile time that data marked GUARDED_BY(mu) is
// touched only with `mu` held and that functions marked REQUIRES(mu) are
// called with it held. libstdc++'s std::mutex carries no such annotations, so
// Lumen's locks are this thin wrapper over it (the same shape as abseil's
// absl::Mutex annotations; abseil itself is not a dependency, and its Mutex
// would also replace every std::condition_variable wait in the runtime).
//
// Threading: Mutex is a std::mutex; MutexLock is a std::unique_lock that the
// analysis understands. Condition variables wait on MutexLock::native().
// Outside Clang the macros expand to nothing.
#pragma once

#include <mutex>

#if defined(__clang__)
#define LUMEN_TSA(x) __attribute__((x))
#else
#define LUMEN_TSA(x)
#endif

#define CAPABILITY(x) LUMEN_TSA(capability(x))
#define SCOPED_CAPABILITY LUMEN_TSA(scoped_lockable)
#define GUARDED_BY(x) LUMEN_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) LUMEN_TSA(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) LUMEN_TSA(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) LUMEN_TSA(acquired_after(__VA_ARGS__))
#define REQUIRES(...) LUMEN_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) LUMEN_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) LUMEN_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) LUMEN_TSA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) LUMEN_TSA(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) LUMEN_TSA(assert_capability(x))
#define RETURN_CAPABILITY(x) LUMEN_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS LUMEN_TSA(no_thread_safety_analysis)

namespace lumen {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex &) = delete;
  Mutex &operator=(const Mutex &) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  /// Tells the analysis the caller holds this mutex (checked nowhere).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

  std::mutex &native() { return mu_; }

 private:
  std::mutex mu_;
};

/// Holds `mu` for its scope; may be released and taken again within it
/// (Unlock/Lock), as code that drops a lock around a blocking call does.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex &mu) ACQUIRE(mu) : lock_(mu.native()) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock &) = delete;
  MutexLock &operator=(const MutexLock &) = delete;

  void Unlock() RELEASE() { lock_.unlock(); }
  void Lock() ACQUIRE() { lock_.lock(); }
  /// For std::condition_variable::wait, which releases and retakes the lock.
  std::unique_lock<std::mutex> &native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace lumen
