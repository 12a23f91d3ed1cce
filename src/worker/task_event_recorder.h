// A process's record of what its tasks went through (issue 18's task events):
// the submitter records a task's submission, its wait for arguments and for a
// worker, its push and its end (with the error's text); the executor records
// when it ran (RecordHere: where is this process, said once per batch). Events
// go into a buffer and leave in batches (TakeBatch, called off the per-call
// path by the core worker's flush timer and at shutdown) for the control
// service, which merges them per task attempt (control/task_event_store.h).
//
// Cheap on the per-call path, because a busy caller makes ~60k calls a
// second and every event is paid for three times (recorded here, sent, merged
// by the control service): an event is a plain struct appended to a vector
// under the recorder's own lock (held for the append only); the task's names
// are interned, not copied, so a call allocates nothing; building messages
// happens in TakeBatch, which also folds an attempt's events of one batch
// into one message. A full buffer drops new events and counts them per job;
// the count travels with the next batch.
//
// Threading: every method is safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
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

  // An attempt is kept or dropped whole in each process: its first event
  // here decides (dropped when the buffer is full), and its later events
  // follow that decision, so that no attempt is shown stuck in a state whose
  // end was dropped. Kept attempts' later events may pass the buffer's bound
  // (by at most the attempts in flight).

  /// The submitter's first event of an attempt, with the task's facts.
  /// `parent`: the task running on the submitting thread (nil: none).
  /// Whether the attempt is kept (pass it to the later events).
  bool RecordWithFacts(const proto::TaskSpec &spec, proto::TaskState state, const TaskID &parent)
      EXCLUDES(mu_);
  /// A later state change of a kept (or dropped) attempt.
  void Record(const proto::TaskSpec &spec, proto::TaskState state, bool kept) EXCLUDES(mu_);
  /// A state change with where it happens (SUBMITTED_TO_WORKER: the worker
  /// the submitter pushed it to).
  void RecordAt(const proto::TaskSpec &spec, proto::TaskState state, const TaskPlace &place, bool kept)
      EXCLUDES(mu_);
  /// The attempt ended: FINISHED when `error` is NO_ERROR, else FAILED with it.
  void RecordEnd(const proto::TaskSpec &spec, proto::ErrorType error, const std::string &message, bool kept)
      EXCLUDES(mu_);
  /// The executor's first event (RUNNING), at the place given to
  /// SetSelfPlace, which the batch carries once. Whether it is kept.
  bool RecordHere(const proto::TaskSpec &spec, proto::TaskState state) EXCLUDES(mu_);
  /// The executor's end of the attempt (as RecordEnd), here, with the task's
  /// facts: its record stands alone if the submitter dropped the attempt.
  void RecordHereEnd(const proto::TaskSpec &spec, proto::ErrorType error, const std::string &message,
                     bool kept) EXCLUDES(mu_);
  /// Where this process is (its node, worker id and pid), once known.
  void SetSelfPlace(const TaskPlace &place) EXCLUDES(mu_);

  /// Everything recorded since the last batch, one message per attempt, and
  /// what was dropped, into `batch` (empty, possibly arena-allocated); false
  /// (and `batch` left empty) when there is nothing to send.
  bool TakeBatch(proto::TaskEventBatch *batch) EXCLUDES(mu_);
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
  // Names seen since the last batch; an event points into it. Node-based:
  // what an event points to stays where it is as the set grows.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using NameSet = std::unordered_set<std::string, NameHash, std::equal_to<>>;

  struct Event {
    TaskID task_id;
    int32_t attempt = 0;
    uint32_t job_id = 0;
    proto::TaskState state = proto::TASK_STATE_NIL;
    bool here = false;  // at this process's place
    proto::TaskType type = proto::NORMAL_TASK;
    proto::ErrorType error_type = proto::NO_ERROR;
    int64_t time_ns = 0;
    // The task's facts: set on its first event only (function_name non-null).
    const std::string *function_name = nullptr;
    const std::string *name = nullptr;  // null: no name option
    ActorID actor_id;
    TaskID parent;
    TaskPlace place;
    std::string error_message;
  };
  static Event Base(const proto::TaskSpec &spec, proto::TaskState state);
  void AddFactsLocked(const proto::TaskSpec &spec, Event *e) REQUIRES(mu_);
  const std::string *InternLocked(const std::string &s) REQUIRES(mu_);
  void PushLocked(Event e) REQUIRES(mu_);  // past the bound too: the attempt is kept
  /// True (and the drop counted) when the buffer is full: a busy caller
  /// fills it within a fraction of a second and then drops most of its
  /// events, so a drop skips reading the clock and building the event.
  bool DroppedForFull(const proto::TaskSpec &spec) EXCLUDES(mu_);
  /// Counts a later event of a dropped attempt.
  void CountDropped(const proto::TaskSpec &spec) EXCLUDES(mu_);
  /// A first event: pushed and true unless the buffer is full.
  bool PushFirst(Event e, const proto::TaskSpec &spec, bool with_facts) EXCLUDES(mu_);
  static void Fold(const Event &e, proto::TaskEvent *out);

  const bool enabled_;
  const size_t max_buffered_;
  Mutex mu_;
  std::atomic<bool> full_{false};  // events_ holds max_buffered_ (a hint: checked again under mu_)
  std::vector<Event> events_ GUARDED_BY(mu_);
  std::vector<Event> spare_ GUARDED_BY(mu_);  // empty: the last batch's, kept for its capacity
  NameSet names_ GUARDED_BY(mu_);
  TaskPlace self_ GUARDED_BY(mu_);
  std::map<uint32_t, int64_t> dropped_ GUARDED_BY(mu_);  // per job, since the last batch
};

}  // namespace lumen::worker
