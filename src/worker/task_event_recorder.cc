#include "worker/task_event_recorder.h"

#include <time.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace lumen::worker {
namespace {

thread_local TaskID current_task;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

TaskEventRecorder::TaskEventRecorder(bool enabled, size_t max_buffered)
    : enabled_(enabled), max_buffered_(max_buffered) {
  if (enabled_) {
    MutexLock lock(mu_);
    events_.reserve(std::min<size_t>(max_buffered_, 1024));
  }
}

TaskID TaskEventRecorder::CurrentTask() { return current_task; }

TaskEventRecorder::ScopedCurrentTask::ScopedCurrentTask(const TaskID &id) : previous_(current_task) {
  current_task = id;
}

TaskEventRecorder::ScopedCurrentTask::~ScopedCurrentTask() { current_task = previous_; }

TaskEventRecorder::Event TaskEventRecorder::Base(const proto::TaskSpec &spec, proto::TaskState state) {
  Event e;
  e.task_id = TaskID::FromBinary(spec.task_id());
  e.attempt = spec.attempt();
  e.job_id = spec.job_id();
  e.state = state;
  e.time_ns = NowNs();
  return e;
}

const std::string *TaskEventRecorder::InternLocked(const std::string &s) {
  auto it = names_.find(std::string_view(s));
  if (it == names_.end()) it = names_.insert(s).first;
  return &*it;
}

void TaskEventRecorder::AddFactsLocked(const proto::TaskSpec &spec, Event *e) {
  e->type = spec.type();
  e->function_name = InternLocked(spec.function().function_name());
  if (!spec.name().empty()) e->name = InternLocked(spec.name());
  if (!spec.actor_id().empty()) e->actor_id = ActorID::FromBinary(spec.actor_id());
}

void TaskEventRecorder::PushLocked(Event e) {
  events_.push_back(std::move(e));
  if (events_.size() >= max_buffered_) full_.store(true, std::memory_order_relaxed);
}

bool TaskEventRecorder::DroppedForFull(const proto::TaskSpec &spec) {
  if (!full_.load(std::memory_order_relaxed)) return false;
  MutexLock lock(mu_);
  if (events_.size() < max_buffered_) return false;  // a batch was just taken
  ++dropped_[spec.job_id()];
  return true;
}

void TaskEventRecorder::CountDropped(const proto::TaskSpec &spec) {
  MutexLock lock(mu_);
  ++dropped_[spec.job_id()];
}

bool TaskEventRecorder::PushFirst(Event e, const proto::TaskSpec &spec, bool with_facts) {
  MutexLock lock(mu_);
  if (events_.size() >= max_buffered_) {
    ++dropped_[e.job_id];
    return false;
  }
  if (with_facts) AddFactsLocked(spec, &e);
  PushLocked(std::move(e));
  return true;
}

bool TaskEventRecorder::RecordWithFacts(const proto::TaskSpec &spec, proto::TaskState state,
                                        const TaskID &parent) {
  if (!enabled_ || DroppedForFull(spec)) return false;
  Event e = Base(spec, state);
  e.parent = parent;
  return PushFirst(std::move(e), spec, /*with_facts=*/true);
}

bool TaskEventRecorder::RecordHere(const proto::TaskSpec &spec, proto::TaskState state) {
  if (!enabled_ || DroppedForFull(spec)) return false;
  Event e = Base(spec, state);
  e.here = true;
  // The facts go with the end (RecordHereEnd), after the reply: not on the call's path.
  return PushFirst(std::move(e), spec, /*with_facts=*/false);
}

void TaskEventRecorder::Record(const proto::TaskSpec &spec, proto::TaskState state, bool kept) {
  if (!enabled_) return;
  if (!kept) return CountDropped(spec);
  Event e = Base(spec, state);
  MutexLock lock(mu_);
  PushLocked(std::move(e));
}

void TaskEventRecorder::RecordAt(const proto::TaskSpec &spec, proto::TaskState state, const TaskPlace &place,
                                 bool kept) {
  if (!enabled_) return;
  if (!kept) return CountDropped(spec);
  Event e = Base(spec, state);
  e.place = place;
  MutexLock lock(mu_);
  PushLocked(std::move(e));
}

void TaskEventRecorder::SetSelfPlace(const TaskPlace &place) {
  MutexLock lock(mu_);
  self_ = place;
}

void TaskEventRecorder::RecordEnd(const proto::TaskSpec &spec, proto::ErrorType error,
                                  const std::string &message, bool kept) {
  if (!enabled_) return;
  if (!kept) return CountDropped(spec);
  Event e = Base(spec, error == proto::NO_ERROR ? proto::FINISHED : proto::FAILED);
  e.error_type = error;
  if (error != proto::NO_ERROR) e.error_message = message;
  MutexLock lock(mu_);
  PushLocked(std::move(e));
}

void TaskEventRecorder::RecordHereEnd(const proto::TaskSpec &spec, proto::ErrorType error,
                                      const std::string &message, bool kept) {
  if (!enabled_) return;
  if (!kept) return CountDropped(spec);
  Event e = Base(spec, error == proto::NO_ERROR ? proto::FINISHED : proto::FAILED);
  e.here = true;
  e.error_type = error;
  if (error != proto::NO_ERROR) e.error_message = message;
  MutexLock lock(mu_);
  AddFactsLocked(spec, &e);
  PushLocked(std::move(e));
}

size_t TaskEventRecorder::NumBuffered() {
  MutexLock lock(mu_);
  return events_.size();
}

void TaskEventRecorder::Fold(const Event &e, proto::TaskEvent *out) {
  out->add_states(e.state);
  out->add_times_ns(e.time_ns);
  if (e.function_name != nullptr) {
    out->set_type(e.type);
    out->set_function_name(*e.function_name);
    if (e.name != nullptr) out->set_name(*e.name);
    if (!e.actor_id.IsNil()) out->set_actor_id(e.actor_id.Binary());
    if (!e.parent.IsNil()) out->set_parent_task_id(e.parent.Binary());
  }
  if (e.here) out->set_at_sender(true);
  if (!e.place.node.IsNil()) out->set_node_id(e.place.node.Binary());
  if (!e.place.worker.IsNil()) out->set_worker_id(e.place.worker.Binary());
  if (e.place.pid > 0) out->set_worker_pid(e.place.pid);
  if (e.error_type != proto::NO_ERROR) {
    out->set_error_type(e.error_type);
    out->set_error_message(e.error_message);
  }
}

bool TaskEventRecorder::TakeBatch(proto::TaskEventBatch *batch) {
  std::vector<Event> events;
  NameSet names;  // what `events` point to: alive until they are folded
  std::map<uint32_t, int64_t> dropped;
  TaskPlace self;
  {
    MutexLock lock(mu_);
    events.swap(events_);
    // The next second's buffer is the one the last batch emptied: a busy
    // caller's appends then reuse its memory instead of growing a new
    // vector (reallocating and touching fresh pages) every second.
    events_.swap(spare_);
    if (events_.capacity() == 0) events_.reserve(std::min<size_t>(max_buffered_, 1024));
    names.swap(names_);
    dropped.swap(dropped_);
    self = self_;
    full_.store(false, std::memory_order_relaxed);
  }
  // Handed back for reuse once folded (below, or now when there is nothing).
  struct GiveBack {
    TaskEventRecorder *self;
    std::vector<Event> *events;
    ~GiveBack() {
      events->clear();
      MutexLock lock(self->mu_);
      if (self->spare_.capacity() < events->capacity()) self->spare_.swap(*events);
    }
  } give_back{this, &events};
  if (events.empty() && dropped.empty()) return false;
  // One message per attempt, in the order of each attempt's first event.
  struct Attempt {
    TaskID id;
    int32_t attempt;
    bool operator==(const Attempt &o) const { return attempt == o.attempt && id == o.id; }
  };
  struct AttemptHash {
    size_t operator()(const Attempt &a) const { return a.id.Hash() ^ static_cast<size_t>(a.attempt); }
  };
  std::unordered_map<Attempt, proto::TaskEvent *, AttemptHash> by_attempt;
  by_attempt.reserve(events.size());
  bool any_here = false;
  batch->mutable_events()->Reserve(static_cast<int>(events.size()));
  for (const Event &e : events) {
    auto [it, fresh] = by_attempt.try_emplace(Attempt{e.task_id, e.attempt}, nullptr);
    if (fresh) {
      it->second = batch->add_events();
      it->second->set_task_id(e.task_id.Binary());
      it->second->set_attempt(e.attempt);
      it->second->set_job_id(e.job_id);
    }
    Fold(e, it->second);
    any_here = any_here || e.here;
  }
  if (any_here) {
    if (!self.node.IsNil()) batch->set_node_id(self.node.Binary());
    if (!self.worker.IsNil()) batch->set_worker_id(self.worker.Binary());
    batch->set_pid(self.pid);
  }
  for (auto &[job, n] : dropped) (*batch->mutable_dropped_per_job())[job] = n;
  return true;
}

}  // namespace lumen::worker
