// A process's record of what its tasks went through (issue 18's task events):
// the submitter records a task's submission, its wait for arguments and for a
// worker, its push and its end (with the error's text); the executor records
// when it ran, with where (node, worker, pid). Events go into a small buffer and
// leave in batches (TakeBatch, called off the per-call path by the core
// worker's flush timer and at shutdown) for the control service, which merges
// them per task attempt (control/task_event_store.h).
//
// Cheap on the per-call path: an event is a plain struct appended to a
// vector under the recorder's own lock (held for the append only, never
// while anything waits); the task's facts (names, ids) are copied on its
// first event only; building messages happens in TakeBatch. A full buffer
// drops new events and counts them per job; the count travels with the next
// batch.
//
// Threading: every method is safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/mutex.h"
#include "protocol/control.pb.h"

namespace lumen::worker {

/// Where an attempt runs (the executor's, or the worker its submitter leased).
struct TaskPlace {
  NodeID node;      // nil: unknown
  WorkerID worker;  // nil: unknown
  int32_t pid = 0;
};

class TaskEventRecorder {
 public:
  /// `enabled` false: every Record is a no-op (LUMEN_TASK_EVENTS=0).
  /// `max_buffered`: events kept between two batches.
  TaskEventRecorder(bool enabled, size_t max_buffered);

  bool enabled() const { return enabled_; }

  /// The first event of an attempt in this process: with the task's facts.
  /// `parent`: the task running on the submitting thread (nil: none).
  void RecordWithFacts(const proto::TaskSpec &spec, proto::TaskState state, const TaskID &parent)
      EXCLUDES(mu_);
  /// A later state change of the attempt.
  void Record(const proto::TaskSpec &spec, proto::TaskState state) EXCLUDES(mu_);
  /// A state change with where it happens (SUBMITTED_TO_WORKER, RUNNING),
  /// with facts when `with_facts` (the executor's first event).
  void RecordAt(const proto::TaskSpec &spec, proto::TaskState state, const TaskPlace &place, bool with_facts)
      EXCLUDES(mu_);
  /// The attempt ended: FINISHED when `error` is NO_ERROR, else FAILED with it.
  void RecordEnd(const proto::TaskSpec &spec, proto::ErrorType error, const std::string &message)
      EXCLUDES(mu_);

  /// Everything recorded since the last batch, and what was dropped; empty
  /// (no events, no drops) when there is nothing to send.
  proto::TaskEventBatch TakeBatch() EXCLUDES(mu_);
  /// Events waiting for the next batch; for tests.
  size_t NumBuffered() EXCLUDES(mu_);

  /// The task the calling thread is running (its submissions' parent).
  static TaskID CurrentTask();
  /// Sets the calling thread's current task while in scope.
  class ScopedCurrentTask {
   public:
    explicit ScopedCurrentTask(const TaskID &id);
    ~ScopedCurrentTask();

   private:
    TaskID previous_;
  };

 private:
  struct Event {
    TaskID task_id;
    int32_t attempt = 0;
    uint32_t job_id = 0;
    proto::TaskState state = proto::TASK_STATE_NIL;
    int64_t time_ns = 0;
    bool has_facts = false;
    proto::TaskType type = proto::NORMAL_TASK;
    std::string name;
    std::string function_name;
    ActorID actor_id;
    TaskID parent;
    TaskPlace place;
    proto::ErrorType error_type = proto::NO_ERROR;
    std::string error_message;
  };
  static Event Base(const proto::TaskSpec &spec, proto::TaskState state);
  static void AddFacts(const proto::TaskSpec &spec, Event *e);
  void Push(Event e) EXCLUDES(mu_);

  const bool enabled_;
  const size_t max_buffered_;
  Mutex mu_;
  std::vector<Event> events_ GUARDED_BY(mu_);
  std::map<uint32_t, int64_t> dropped_ GUARDED_BY(mu_);  // per job, since the last batch
};

}  // namespace lumen::worker
