// Lumen Tune (a Lumen extension), internal: the experiment's files written
// off the experiment loop's thread. Every trial creates a folder and three
// files, and creating files is the slowest thing the loop did per trial
// (tens to hundreds of microseconds each on a disk file system, more right
// after many files were deleted); here it overlaps with the trials' own work.
//
// Jobs run one at a time in the order posted, so what the files say is
// always a prefix of what the loop decided: experiment_state.json, posted
// after a trial's results, is never written before them. A job that fails
// stops the writer: later jobs are dropped and the failure is rethrown, as a
// TuneError, by the next Post or Flush.
//
// Threading: one thread posts and flushes (the loop's); the writer's own
// thread runs the jobs. A job touches only what it captured.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace ray {
namespace tune {
namespace internal {

class FileWriter {
 public:
  FileWriter();
  /// Runs what is still queued, then ends the thread; a failure is dropped
  /// here (Flush reports it to a caller that wants it).
  ~FileWriter();
  FileWriter(const FileWriter &) = delete;
  FileWriter &operator=(const FileWriter &) = delete;

  /// Queues a job. Blocks while kMaxQueued jobs wait, so that a disk slower
  /// than the experiment bounds the memory queued for it. TuneError: an
  /// earlier job failed.
  void Post(std::function<void()> job);
  /// Waits until every job posted has run. TuneError: one failed.
  void Flush();

  static constexpr std::size_t kMaxQueued = 4096;

 private:
  void Loop();
  void ThrowIfFailed();  // with mu_ held

  std::mutex mu_;
  std::condition_variable work_;            // a job was posted, or closing_
  std::condition_variable space_;           // a job finished: room in the queue, or drained
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool running_job_ = false;                // guarded by mu_
  bool closing_ = false;                    // guarded by mu_
  std::optional<std::string> error_;        // guarded by mu_
  std::thread thread_;                      // last: started once the rest is ready
};

}  // namespace internal
}  // namespace tune
}  // namespace ray
