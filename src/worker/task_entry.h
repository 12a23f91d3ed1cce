// A task this process submitted, as its submitters track it until it ends:
// its spec, the argument refs it holds, its retries and where its attempt
// stands. Shared by the core worker, the normal-task submitter and the
// actor-task submitter.
//
// Threading: none of its own. Every field is guarded by the core worker's
// mutex (CoreWorker::mu_), which the submitters share.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/id.h"
#include "protocol/worker.pb.h"

namespace lumen::worker {

/// Work to run once the core worker's lock is released: waiters woken, user
/// callbacks, anything that may take the lock again.
using After = std::vector<std::function<void()>>;

inline void RunAll(After &after) {
  for (auto &fn : after) fn();
  after.clear();
}

struct TaskEntry {
  proto::TaskSpec spec;
  ObjectID return_id;
  std::vector<ObjectID> arg_refs;  // counted as submitted refs until the task ends
  int pending_deps = 0;
  int retries_left = 0;
  Clock::TimePoint pushed_at;  // read from the core worker's clock, as every time here
  bool maybe_long = false;     // its function was not known to be short when it was pushed
  std::string key;             // normal tasks: their scheduling queue (NormalTaskSubmitter)
  bool resolved = false;       // actor tasks: arguments ready, may be sent
  bool done = false;           // finished (result or error set)
  TaskID parent;               // the task that submitted it (nil: the driver's main thread)
  bool events_kept = false;    // its attempt's task events are recorded (TaskEventRecorder)
};

}  // namespace lumen::worker
