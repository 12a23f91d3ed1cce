#include "base/serial_executor.h"

#include <pthread.h>

#include <utility>

namespace lumen {

bool SerialExecutor::Post(std::function<void()> fn) {
  {
    MutexLock lock(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(fn));
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  }
  cv_.notify_one();
  return true;
}

void SerialExecutor::Stop() {
  std::deque<std::function<void()>> dropped;
  std::thread thread;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    // Destroyed below, outside the lock (a closure's captures may own
    // something whose destructor posts here) and before the join.
    dropped.swap(queue_);
    if (thread_.get_id() != std::this_thread::get_id()) thread = std::move(thread_);
  }
  cv_.notify_all();
  dropped.clear();
  if (thread.joinable()) thread.join();
}

void SerialExecutor::Run() {
  if (!name_.empty()) pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  for (;;) {
    std::function<void()> fn;
    {
      MutexLock lock(mu_);
      while (!stopping_ && queue_.empty()) cv_.wait(lock.native());
      if (stopping_) return;
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
  }
}

}  // namespace lumen
