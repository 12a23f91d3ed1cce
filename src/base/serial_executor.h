// SerialExecutor: one helper thread that runs posted closures one at a time,
// in the order they were posted. For work that blocks (a connect and its
// handshake, a call to another process) and so must stay off an event-loop
// thread, where running it in order and one at a time is enough.
//
// Threading: Post and Stop may be called from any thread. Closures run on the
// executor's own thread, never concurrently with each other. The thread is
// started by the first Post, so a process may make an executor before it
// forks (a fork copies no threads). Stop drops the closures that have not
// started, waits for the running one and joins the thread; Post after Stop
// drops its closure. A closure may Post, or Stop the executor, but must not
// destroy it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "base/mutex.h"

namespace lumen {

class SerialExecutor {
 public:
  /// `name` (at most 15 characters are kept) is what `ps -L` and a debugger
  /// show for the thread.
  explicit SerialExecutor(std::string name) : name_(std::move(name)) {}
  ~SerialExecutor() { Stop(); }
  SerialExecutor(const SerialExecutor &) = delete;
  SerialExecutor &operator=(const SerialExecutor &) = delete;

  /// Queues `fn`. False (and `fn` is destroyed unrun) once Stop has begun.
  bool Post(std::function<void()> fn) EXCLUDES(mu_);

  /// Idempotent. From one of the executor's closures it only stops the queue
  /// (a thread cannot join itself): the destructor, or a later Stop from
  /// another thread, joins the thread.
  void Stop() EXCLUDES(mu_);

 private:
  void Run() EXCLUDES(mu_);

  const std::string name_;
  Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_ GUARDED_BY(mu_);
};

}  // namespace lumen
