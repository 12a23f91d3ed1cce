#include "base/parallel_copy.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "base/mutex.h"

namespace lumen {
namespace {

constexpr size_t kChunkAlign = 4096;  // pieces start on page boundaries
constexpr unsigned kMaxThreads = 8;

// Counts finished pieces (std::latch would do, but this file also builds as
// C++17 into the API unit tests).
class Countdown {
 public:
  explicit Countdown(size_t n) : left_(n) {}
  void Done() {
    MutexLock lock(mu_);
    if (--left_ == 0) cv_.notify_all();
  }
  void Wait() {
    MutexLock lock(mu_);
    cv_.wait(lock.native(), [this]() REQUIRES(mu_) { return left_ == 0; });
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  size_t left_ GUARDED_BY(mu_);
};

// A piece of work for one thread: a copy, or (src == nullptr) filling in the
// page tables of dst for writing.
struct Piece {
  char *dst;
  const char *src;
  size_t n;
  Countdown *done;
};

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14+; older kernels take the loop below
#endif

void PopulateWrite(char *p, size_t n) {
  if (n == 0 || madvise(p, n, MADV_POPULATE_WRITE) == 0) return;
  // Adds zero to a byte of every page: a write fault per page, and contents
  // unchanged (another thread may be writing the same pages).
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t off = 0; off < n; off += page) __atomic_fetch_add(p + off, 0, __ATOMIC_RELAXED);
}

void RunPiece(const Piece &piece) {
  if (piece.src) {
    std::memcpy(piece.dst, piece.src, piece.n);
  } else {
    PopulateWrite(piece.dst, piece.n);
  }
}

// The helpers are an asio thread_pool: a fixed set of threads on one queue
// is all this needs. (The runtime's other sets of threads are not: local
// mode's task pool grows while tasks block in Get, and an actor's executors
// drain that actor's own queue and may end the process from inside.)
class CopyPool {
 public:
  /// This process's pool, made on first use and after StopParallelCopyThreads.
  /// A child made by fork() does not have its parent's threads, so it makes
  /// its own; the parent's pool object is then leaked in the child on purpose
  /// (its thread handles name threads that do not exist there).
  static std::shared_ptr<CopyPool> Get() {
    MutexLock lock(CurrentMu());
    auto &cur = Current();
    pid_t me = getpid();
    if (cur && cur->owner_ != me) {
      new std::shared_ptr<CopyPool>(std::move(cur));
      cur.reset();
    }
    if (!cur) cur = std::shared_ptr<CopyPool>(new CopyPool(me));
    return cur;
  }

  static void StopCurrent() {
    std::shared_ptr<CopyPool> pool;
    {
      MutexLock lock(CurrentMu());
      auto &cur = Current();
      if (!cur || cur->owner_ != getpid()) return;
      pool = std::move(cur);
      cur.reset();
    }
    pool->Stop();
  }

  unsigned threads() const { return threads_; }

  /// Queues a piece for a helper; false once the pool is stopping (the
  /// caller then copies the piece itself).
  bool Run(const Piece &piece) {
    MutexLock lock(mu_);
    if (stop_ || !helpers_) return false;
    boost::asio::post(*helpers_, [piece] {
      RunPiece(piece);
      piece.done->Done();
    });
    return true;
  }

 private:
  explicit CopyPool(pid_t owner) : owner_(owner) {
    unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    threads_ = std::min(hw, kMaxThreads);
    if (threads_ > 1) helpers_ = std::make_unique<boost::asio::thread_pool>(threads_ - 1);
  }

  static Mutex &CurrentMu() {
    static Mutex mu;
    return mu;
  }
  static std::shared_ptr<CopyPool> &Current() REQUIRES(CurrentMu()) {
    static auto *cur = new std::shared_ptr<CopyPool>();  // never destroyed: helpers may outlive main
    return *cur;
  }

  // thread_pool::join runs what is queued before the helpers exit, so a copy
  // in progress when the pool stops still completes.
  void Stop() {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    if (helpers_) helpers_->join();
  }

  const pid_t owner_;
  unsigned threads_ = 1;                               // the caller included
  std::unique_ptr<boost::asio::thread_pool> helpers_;  // threads_ - 1 threads; set once
  Mutex mu_;
  bool stop_ GUARDED_BY(mu_) = false;
};

// Splits [dst, dst + n) into page-aligned pieces, one per thread; the caller
// runs the first piece itself, helpers the rest.
void RunSplit(char *dst, const char *src, size_t n) {
  std::shared_ptr<CopyPool> pool = CopyPool::Get();
  size_t pieces = std::min<size_t>(pool->threads(), n / (kParallelCopyMinBytes / 2));
  if (pieces <= 1) {
    RunPiece({dst, src, n, nullptr});
    return;
  }
  size_t chunk = (n / pieces + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
  Countdown done(pieces - 1);
  for (size_t i = 1; i < pieces; ++i) {
    size_t off = i * chunk;
    size_t len = i + 1 == pieces ? n - off : chunk;
    Piece piece{dst + off, src ? src + off : nullptr, len, &done};
    if (!pool->Run(piece)) {
      RunPiece(piece);
      done.Done();
    }
  }
  RunPiece({dst, src, std::min(chunk, n), nullptr});
  done.Wait();
}

}  // namespace

void ParallelCopy(void *dst, const void *src, size_t n) {
  if (n < kParallelCopyMinBytes) {
    std::memcpy(dst, src, n);
    return;
  }
  RunSplit(static_cast<char *>(dst), static_cast<const char *>(src), n);
}

void ParallelPopulateWrite(void *p, size_t n) {
  if (n < kParallelCopyMinBytes) {
    PopulateWrite(static_cast<char *>(p), n);
    return;
  }
  RunSplit(static_cast<char *>(p), nullptr, n);
}

void StopParallelCopyThreads() { CopyPool::StopCurrent(); }

}  // namespace lumen
