// A worker's inbox (Ray's task receiver queue): the tasks pushed to this
// process, handed from the event loop that reads them to the executor
// threads that run them, in arrival order, and the worker's exit, which
// stops every executor. Tasks still queued at the exit are not run: their
// callers see the connection close. It also keeps the extra executor threads
// of a threaded actor (max_concurrency > 1) until they are joined.
//
// Threading: thread-safe. Push and RequestExit come from any thread (the
// event loop, whichever thread leads it); Next blocks an executor thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "protocol/common.pb.h"
#include "rpc/rpc.h"

namespace lumen::worker {

class ExecQueue {
 public:
  struct Task {
    rpc::ConnectionPtr conn;  // where the reply goes
    uint64_t call_id = 0;
    proto::TaskSpec spec;
  };

  ExecQueue() = default;
  ExecQueue(const ExecQueue &) = delete;
  ExecQueue &operator=(const ExecQueue &) = delete;

  /// Queues a task and wakes one executor.
  void Push(Task task);
  /// The worker is to exit: every executor's Next returns nullopt from now on.
  void RequestExit();
  /// Whether an executor has something to do: a task to take, or the exit.
  /// Cheap: the predicate of an executor that leads the event loop while idle.
  bool HasWork();
  /// No task waiting (the one running is not counted).
  bool Empty();
  /// Blocks until there is a task or the exit; nullopt at the exit. Sets
  /// `*backlog` when more tasks wait behind the one returned.
  std::optional<Task> Next(bool *backlog);

  /// Starts an extra executor thread running `run`.
  void StartExecutor(std::function<void()> run);
  /// The extra executor threads started so far, to join; with `exit`, the
  /// exit is requested at the same time (no executor starts unseen between).
  std::vector<std::thread> TakeExecutors(bool exit);

 private:
  bool HasWorkLocked() const { return exit_ || !tasks_.empty(); }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool exit_ = false;
  std::vector<std::thread> executors_;
};

}  // namespace lumen::worker
