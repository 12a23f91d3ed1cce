// How many tasks a submitter pipelines onto one leased worker (Ray's
// max_tasks_in_flight_per_worker, made adaptive). Pipelining saves a round
// trip per task, but a task waiting on one worker cannot move to another
// that frees up. So a task queues behind others only while all of them are
// of functions known to be short (a function that has not finished yet may
// be long), up to about kBudgetUs of expected work per worker and at most
// kMaxDepth tasks, and never behind a task that has run far longer than
// tasks of its kind do (a long call of a usually short function, or a
// stopped worker).
//
// One per scheduling queue. It learns from each task's time on its worker
// (from its push, or from the reply before it when it queued behind
// others) and decides; the core worker pushes. No I/O, no clock of its own.
// Threading: not thread-safe; the core worker calls it with its mu_ held.
#pragma once

#include <string>
#include <unordered_map>

#include "base/clock.h"

namespace lumen::worker {

class PipelinePolicy {
 public:
  static constexpr int kMaxDepth = 16;
  static constexpr double kBudgetUs = 2000;
  /// Well above a descheduled worker's silence on a busy machine (tens of
  /// ms with both CPUs loaded), which must not turn pipelining off.
  static constexpr double kStalledFloorUs = 50000;
  static constexpr double kStalledFactor = 4;

  /// A task of `function` took `us` on its worker.
  void RecordTask(const std::string &function, double us);
  /// Whether a task of `function` may be long: none of it has finished yet,
  /// or they take kBudgetUs or more. Nothing is pipelined behind such a task.
  bool MaybeLong(const std::string &function) const;
  /// Whether a worker with `in_flight` tasks, `maybe_long` of them possibly
  /// long, and no progress for `silent`, takes one more now.
  bool TakesMore(int in_flight, int maybe_long, Clock::Duration silent) const;

  /// Tasks per worker the budget allows (1 until a task has finished).
  int Depth() const;
  /// A worker silent for this long with tasks in flight is taken as stalled.
  Clock::Duration StalledAfter() const;
  /// The moving average of a task's time on its worker; < 0: none yet.
  double AverageUs() const { return avg_us_; }

 private:
  double avg_us_ = -1;
  std::unordered_map<std::string, double> function_avg_us_;  // the same, per function
};

}  // namespace lumen::worker
