// The control service's table of task attempts, made from the task events
// core workers send (worker/task_event_recorder.h): one TaskRecord per
// (task id, attempt), the events of its submitter and its executor merged
// (the latest state reached, when each state was entered, where it ran, how
// it failed). Bounded per job and in total: when either bound is passed the
// oldest attempt (the first recorded) of that job, or of the whole table, is
// dropped, and each job counts what it lost, together with the events its
// processes dropped before sending.
//
// Merging is on the path of every call the cluster makes (a busy caller sends
// ~60k attempts a second), so a record is a plain struct, not the message Get
// returns: fixed-size ids, the states' times in an array, and the task's names
// shared by every attempt of that function (interned) instead of copied.
//
// Threading: not thread-safe; the control service's loop thread owns it.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "base/id.h"
#include "base/status.h"
#include "control/task_query.h"
#include "protocol/control.pb.h"

namespace lumen::control {

struct TaskEventLimits {
  size_t max_total = 100000;    // attempts kept, all jobs together
  size_t max_per_job = 100000;  // attempts kept per job

  /// LUMEN_TASK_EVENTS_MAX and LUMEN_TASK_EVENTS_MAX_PER_JOB (base/settings.h).
  static TaskEventLimits FromSettings();
};

class TaskEventStore {
 public:
  explicit TaskEventStore(TaskEventLimits limits = {});

  void Add(const proto::TaskEventBatch &batch);
  /// The attempts of `request.job_id` (all jobs with `all_jobs`), oldest
  /// first, with the request's filters, offset and limit applied, or their
  /// counts (`summary`); a filter with an unknown key, or a negative offset
  /// or limit, is an InvalidArgument.
  StatusOr<proto::GetTaskEventsReply> Get(const proto::GetTaskEventsRequest &request) const;

  size_t size() const { return records_.size(); }
  /// Dropped attempts remembered against their late events; for tests.
  size_t NumRememberedDropped() const { return recently_dropped_.size(); }
  /// Attempts dropped for `job`, by the bounds here or by its processes.
  int64_t Dropped(uint32_t job) const;

 private:
  struct Key {
    TaskID task;
    int32_t attempt = 0;
    bool operator==(const Key &o) const { return attempt == o.attempt && task == o.task; }
  };
  struct KeyHash {
    size_t operator()(const Key &k) const { return k.task.Hash() ^ static_cast<size_t>(k.attempt); }
  };
  using Records = std::unordered_map<Key, TaskAttempt, KeyHash>;
  // An entry of records_: its address stays put as the table grows, so the
  // orders below hold it instead of a key to look up again.
  using Entry = Records::value_type;
  // Where a batch's sender runs (for its events with at_sender).
  struct Place {
    NodeID node;
    WorkerID worker;
    int32_t pid = 0;
  };

  void Merge(const proto::TaskEvent &event, const Place &sender);
  /// The one copy of `s` that every record naming it shares.
  TaskAttempt::Name Intern(const std::string &s);
  /// Drops the oldest attempt of `job`.
  void DropOldest(uint32_t job);
  /// Calls `visit` with each kept attempt of the request's job (or all
  /// jobs), oldest first.
  void ForEachInOrder(const proto::GetTaskEventsRequest &request,
                      const std::function<void(const Entry &)> &visit) const;
  /// Whether a later attempt of `key`'s task is kept and matches.
  bool LaterAttemptMatches(const Key &key, const TaskMatcher &matcher) const;
  static void ToProto(const Key &key, const TaskAttempt &r, proto::TaskRecord *out);

  const TaskEventLimits limits_;
  Records records_;
  // Each job's attempts in insertion order: a drop takes a front.
  std::map<uint32_t, std::deque<const Entry *>> order_;
  // Each job's front (its oldest attempt) by sequence number: the table's
  // oldest is the first, however many jobs a long-lived cluster has run.
  std::set<std::pair<uint64_t, uint32_t>> fronts_;
  std::map<uint32_t, int64_t> dropped_;
  int64_t dropped_total_ = 0;
  uint64_t next_seq_ = 0;
  // The attempts dropped last, so that their late events (from the other
  // process, up to a batch interval later) do not bring them back, each
  // until kRememberDropped more attempts were recorded after its drop: about
  // two seconds of the busiest callers' (~60k attempts a second), ~15 MB
  // at most. An attempt whose submitter and executor have both sent its end
  // has no late events to come and is not remembered: with every event
  // kept, that is nearly all of them, and merging then pays for no lookups
  // in this set (the largest cost it had).
  static constexpr size_t kRememberDropped = 1 << 17;
  std::unordered_set<Key, KeyHash> recently_dropped_;
  std::deque<std::pair<Key, uint64_t>> recently_dropped_order_;  // with next_seq_ at the drop
  /// Forgets the remembered drops older than kRememberDropped attempts.
  void ForgetOldDrops();
  // Interned names; those no record holds any more are swept out when the
  // table has doubled since the last sweep.
  std::unordered_map<std::string_view, TaskAttempt::Name> names_;
  size_t names_swept_at_ = 0;
};

}  // namespace lumen::control
