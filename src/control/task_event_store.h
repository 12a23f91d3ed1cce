// The control service's table of task attempts, made from the task events
// core workers send (worker/task_event_recorder.h): one TaskRecord per
// (task id, attempt), the events of its submitter and its executor merged
// (the latest state reached, when each state was entered, where it ran, how
// it failed). Bounded per job and in total: when either bound is passed the
// oldest attempt (the first recorded) of that job, or of the whole table, is
// dropped, and each job counts what it lost, together with the events its
// processes dropped before sending.
//
// Threading: not thread-safe; the control service's loop thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>

#include "protocol/control.pb.h"

namespace lumen::control {

struct TaskEventLimits {
  size_t max_total = 100000;    // attempts kept, all jobs together
  size_t max_per_job = 100000;  // attempts kept per job
};

class TaskEventStore {
 public:
  explicit TaskEventStore(TaskEventLimits limits = {});

  void Add(const proto::TaskEventBatch &batch);
  /// The attempts of `request.job_id` (all jobs with `all_jobs`), oldest first.
  proto::GetTaskEventsReply Get(const proto::GetTaskEventsRequest &request) const;

  size_t size() const { return records_.size(); }
  /// Attempts dropped for `job`, by the bounds here or by its processes.
  int64_t Dropped(uint32_t job) const;

 private:
  struct Entry {
    proto::TaskRecord record;
    uint64_t seq = 0;  // insertion order, across jobs
  };
  void Merge(const proto::TaskEvent &event);
  /// Drops the oldest attempt of `job`.
  void DropOldest(uint32_t job);

  const TaskEventLimits limits_;
  // Key: task id bytes + attempt (4 bytes).
  std::unordered_map<std::string, Entry> records_;
  // Each job's keys in insertion order: a drop takes a front.
  std::map<uint32_t, std::deque<std::string>> order_;
  std::map<uint32_t, int64_t> dropped_;
  int64_t dropped_total_ = 0;
  uint64_t next_seq_ = 0;
};

}  // namespace lumen::control
