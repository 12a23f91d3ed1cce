#include "worker/task_event_recorder.h"

#include <time.h>

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

void TaskEventRecorder::AddFacts(const proto::TaskSpec &spec, Event *e) {
  e->has_facts = true;
  e->type = spec.type();
  e->name = spec.name();
  e->function_name = spec.function().function_name();
  if (!spec.actor_id().empty()) e->actor_id = ActorID::FromBinary(spec.actor_id());
}

void TaskEventRecorder::Push(Event e) {
  MutexLock lock(mu_);
  if (events_.size() >= max_buffered_) {
    ++dropped_[e.job_id];
    return;
  }
  events_.push_back(std::move(e));
}

void TaskEventRecorder::RecordWithFacts(const proto::TaskSpec &spec, proto::TaskState state,
                                        const TaskID &parent) {
  if (!enabled_) return;
  Event e = Base(spec, state);
  AddFacts(spec, &e);
  e.parent = parent;
  Push(std::move(e));
}

void TaskEventRecorder::Record(const proto::TaskSpec &spec, proto::TaskState state) {
  if (!enabled_) return;
  Push(Base(spec, state));
}

void TaskEventRecorder::RecordAt(const proto::TaskSpec &spec, proto::TaskState state, const TaskPlace &place,
                                 bool with_facts) {
  if (!enabled_) return;
  Event e = Base(spec, state);
  if (with_facts) AddFacts(spec, &e);
  e.place = place;
  Push(std::move(e));
}

void TaskEventRecorder::RecordEnd(const proto::TaskSpec &spec, proto::ErrorType error,
                                  const std::string &message) {
  if (!enabled_) return;
  Event e = Base(spec, error == proto::NO_ERROR ? proto::FINISHED : proto::FAILED);
  e.error_type = error;
  if (error != proto::NO_ERROR) e.error_message = message;
  Push(std::move(e));
}

size_t TaskEventRecorder::NumBuffered() {
  MutexLock lock(mu_);
  return events_.size();
}

proto::TaskEventBatch TaskEventRecorder::TakeBatch() {
  std::vector<Event> events;
  std::map<uint32_t, int64_t> dropped;
  {
    MutexLock lock(mu_);
    events.swap(events_);
    dropped.swap(dropped_);
    // Small: a busy second's buffer grows as it fills rather than being
    // allocated (and its pages touched) up front every second.
    events_.reserve(std::min<size_t>(max_buffered_, 1024));
  }
  proto::TaskEventBatch batch;
  batch.mutable_events()->Reserve(static_cast<int>(events.size()));
  for (Event &e : events) {
    proto::TaskEvent *out = batch.add_events();
    out->set_task_id(e.task_id.Binary());
    out->set_attempt(e.attempt);
    out->set_job_id(e.job_id);
    out->set_state(e.state);
    out->set_time_ns(e.time_ns);
    if (e.has_facts) {
      out->set_type(e.type);
      out->set_name(std::move(e.name));
      out->set_function_name(std::move(e.function_name));
      if (!e.actor_id.IsNil()) out->set_actor_id(e.actor_id.Binary());
      if (!e.parent.IsNil()) out->set_parent_task_id(e.parent.Binary());
    }
    if (!e.place.node.IsNil()) out->set_node_id(e.place.node.Binary());
    if (!e.place.worker.IsNil()) out->set_worker_id(e.place.worker.Binary());
    out->set_worker_pid(e.place.pid);
    out->set_error_type(e.error_type);
    out->set_error_message(std::move(e.error_message));
  }
  for (auto &[job, n] : dropped) (*batch.mutable_dropped_per_job())[job] = n;
  return batch;
}

}  // namespace lumen::worker
