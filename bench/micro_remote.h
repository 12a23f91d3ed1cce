// The remote functions and actor classes the microbenchmarks run: the shapes
// of Ray's ray_perf.py (its Actor, Client and tasks), registered with
// RAY_REMOTE in micro_remote.cc. Built against Lumen and, by bench/compare,
// against Ray's C++ API (so only <ray/api.h> and C++17).
#pragma once

#include <ray/api.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

int Noop();

// Ray's ray_perf.py `Actor`: small_value / small_value_arg.
class BenchActor {
 public:
  static BenchActor *Create() { return new BenchActor(); }
  int SmallValue() { return 0; }
  int SmallValueArg(int /*x*/) { return 0; }
};

// Ray's ray_perf.py `Client`: an actor that drives its server actors.
class BenchClient {
 public:
  explicit BenchClient(std::vector<ray::ActorHandle<BenchActor>> servers) : servers_(std::move(servers)) {}
  static BenchClient *Create(std::vector<ray::ActorHandle<BenchActor>> servers) {
    return new BenchClient(std::move(servers));
  }
  // n calls to every server, then one Get over all of them.
  int SmallValueBatch(int n);
  // Same, each call passing a ray::Put(0) reference as its argument.
  int SmallValueBatchArg(int n);

 private:
  std::vector<ray::ActorHandle<BenchActor>> servers_;
};

// ray_perf.py's multi_client_tasks_async `Actor.small_value_batch`: an actor
// that submits n no-op tasks and Gets them all.
class TaskClient {
 public:
  static TaskClient *Create() { return new TaskClient(); }
  int SmallValueBatch(int n);
};

// Ray's n:n `work` task: n calls spread round-robin over all the actors.
int ActorCallsWork(std::vector<ray::ActorHandle<BenchActor>> actors, int n);
// ray_perf.py's multi_client_put_calls `do_put_small`: 100 small puts in a task.
int PutSmallMany();
// ray_perf.py's multi_client_put_gigabytes `do_put`: `count` puts of `bytes`
// zero bytes (Ray: 10 puts of np.zeros(10Mi, int64) = 80 MiB).
int PutLargeMany(int64_t bytes, int count);
// ray_perf.py's `create_object_containing_ref`: a result holding n refs.
std::vector<ray::ObjectRef<int>> MakeRefs(int n);
// The process id of the worker that runs it (for idle worker memory).
int WorkerPid();

// Large arguments and gets (Lumen only: they read through ray::Buffer<T>, a
// Lumen extension; Ray's C++ headers have no <ray/api/buffer.h>).
#if __has_include(<ray/api/buffer.h>)
#define LUMEN_BENCH_HAS_BUFFER 1
// task_arg_gigabytes: the argument read in place from the stored object.
double SumBuffer(ray::Buffer<double> a);
// task_arg_gigabytes_vector: the plain way, a std::vector taken by value (by
// value so that every task decodes its own copy; a const& argument would come
// from the worker's cache of decoded arguments after the first task).
double SumVector(std::vector<double> a);
#endif

// The put benchmarks' payload, made the way Ray's np.zeros makes it: calloc,
// whose large blocks are fresh mmap pages that stay the kernel's shared zero
// page until written, so the put reads one cached page over and over (as
// Ray's does) and is bound by writing. construct() leaves the elements alone:
// the memory is zero already, and std::vector would otherwise write every byte.
template <typename T>
struct ZeroPageAllocator {
  using value_type = T;
  ZeroPageAllocator() = default;
  template <typename U>
  ZeroPageAllocator(const ZeroPageAllocator<U> &) {}
  T *allocate(size_t n) {
    void *p = std::calloc(n, sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T *>(p);
  }
  void deallocate(T *p, size_t) { std::free(p); }
  template <typename U>
  void construct(U *) noexcept {}
  template <typename U, typename... Args>
  void construct(U *p, Args &&...args) {
    ::new (static_cast<void *>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const ZeroPageAllocator<U> &) const {
    return true;
  }
  template <typename U>
  bool operator!=(const ZeroPageAllocator<U> &) const {
    return false;
  }
};
using ZeroBytes = std::vector<uint8_t, ZeroPageAllocator<uint8_t>>;
