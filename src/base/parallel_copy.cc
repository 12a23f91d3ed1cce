#include "base/parallel_copy.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

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
    std::lock_guard<std::mutex> lock(mu_);
    if (--left_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return left_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t left_;
};

struct Piece {
  char *dst;
  const char *src;
  size_t n;
  Countdown *done;
};

class CopyPool {
 public:
  /// The pool of this process: a child made by fork() does not have its
  /// parent's threads, so it gets a fresh pool. Never destroyed (helpers may
  /// still be waiting when the process exits).
  static CopyPool &Get() {
    static std::mutex mu;
    static CopyPool *pool = nullptr;
    static pid_t owner = 0;
    std::lock_guard<std::mutex> lock(mu);
    pid_t me = getpid();
    if (pool == nullptr || owner != me) {
      pool = new CopyPool();  // a forked child's old pool is left alone: its threads do not exist
      owner = me;
    }
    return *pool;
  }

  unsigned threads() const { return threads_; }

  void Run(const Piece &piece) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(piece);
    }
    cv_.notify_one();
  }

 private:
  CopyPool() {
    unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    threads_ = std::min(hw, kMaxThreads);
    for (unsigned i = 1; i < threads_; ++i) std::thread([this] { Serve(); }).detach();
  }

  void Serve() {
    for (;;) {
      Piece p;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        p = queue_.front();
        queue_.pop_front();
      }
      std::memcpy(p.dst, p.src, p.n);
      p.done->Done();
    }
  }

  unsigned threads_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Piece> queue_;
};

}  // namespace

void ParallelCopy(void *dst, const void *src, size_t n) {
  if (n < kParallelCopyMinBytes) {
    std::memcpy(dst, src, n);
    return;
  }
  CopyPool &pool = CopyPool::Get();
  size_t pieces = std::min<size_t>(pool.threads(), n / (kParallelCopyMinBytes / 2));
  if (pieces <= 1) {
    std::memcpy(dst, src, n);
    return;
  }
  size_t chunk = (n / pieces + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
  auto *d = static_cast<char *>(dst);
  auto *s = static_cast<const char *>(src);
  Countdown done(pieces - 1);
  // The caller copies the first piece itself, helpers the rest.
  for (size_t i = 1; i < pieces; ++i) {
    size_t off = i * chunk;
    size_t len = i + 1 == pieces ? n - off : chunk;
    pool.Run({d + off, s + off, len, &done});
  }
  std::memcpy(d, s, std::min(chunk, n));
  done.Wait();
}

}  // namespace lumen
