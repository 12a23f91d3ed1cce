#include "control/task_event_store.h"

#include <algorithm>
#include <limits>
#include <functional>
#include <map>
#include <queue>
#include <tuple>
#include <vector>

#include "base/settings.h"

namespace lumen::control {
namespace {

bool KnownState(int state) { return state > proto::TASK_STATE_NIL && state < proto::TaskState_ARRAYSIZE; }

}  // namespace

TaskEventLimits TaskEventLimits::FromSettings() {
  const Settings &s = CurrentSettings();
  return {static_cast<size_t>(s.task_events_max), static_cast<size_t>(s.task_events_max_per_job)};
}

TaskEventStore::TaskEventStore(TaskEventLimits limits) : limits_(limits) {}

void TaskEventStore::Add(const proto::TaskEventBatch &batch) {
  for (const auto &[job, n] : batch.dropped_per_job()) {
    dropped_[job] += n;
    dropped_total_ += n;
  }
  const Place sender{NodeID::FromBinary(batch.node_id()), WorkerID::FromBinary(batch.worker_id()),
                     batch.pid()};
  for (const proto::TaskEvent &event : batch.events()) Merge(event, sender);
}

TaskAttempt::Name TaskEventStore::Intern(const std::string &s) {
  auto it = names_.find(std::string_view(s));
  if (it != names_.end()) return it->second;
  if (names_.size() >= 2 * std::max<size_t>(names_swept_at_, 512)) {
    // Names no record holds (their attempts were dropped) go; the table stays
    // within twice what the kept records name.
    for (auto n = names_.begin(); n != names_.end();) n = n->second.use_count() == 1 ? names_.erase(n) : ++n;
    names_swept_at_ = names_.size();
  }
  auto name = std::make_shared<const std::string>(s);
  names_.emplace(std::string_view(*name), name);
  return name;
}

void TaskEventStore::Merge(const proto::TaskEvent &event, const Place &sender) {
  if (event.task_id().size() != TaskID::kSize) return;  // not an attempt of any task
  const Key key{TaskID::FromBinary(event.task_id()), event.attempt()};
  auto [it, fresh] = records_.try_emplace(key);
  // A late event (the other process's batch) of an attempt the bounds just
  // dropped would bring it back as a new, partial record, newest of all,
  // pushing out another. Asked of new records only: not on every event.
  if (fresh && !recently_dropped_.empty()) {
    ForgetOldDrops();
    if (recently_dropped_.count(key)) {
      records_.erase(it);
      return;
    }
  }
  TaskAttempt &r = it->second;
  if (fresh) {
    r.seq = next_seq_++;
    r.job = event.job_id();
    auto &order = order_[r.job];
    if (order.empty()) fronts_.insert({r.seq, r.job});
    order.push_back(&*it);
    if (key.attempt > 0)
      if (auto earlier = records_.find(Key{key.task, key.attempt - 1}); earlier != records_.end())
        earlier->second.retried = true;
  }
  // The latest state wins: events of one attempt come from two processes
  // whose batches arrive in either order. FAILED (6) outranks FINISHED (5):
  // a result that ran but could not be delivered failed. Each state keeps
  // the first time it was entered.
  const int n = std::min(event.states_size(), event.times_ns_size());
  for (int i = 0; i < n; ++i) {
    const int state = event.states(i);
    if (!KnownState(state)) continue;  // from a newer peer: nothing here to keep it in
    if (state > r.state) r.state = static_cast<proto::TaskState>(state);
    int64_t &entered = r.entered_ns[state];
    if (entered == 0 || event.times_ns(i) < entered) entered = event.times_ns(i);
    if (state == proto::FINISHED || state == proto::FAILED)
      (event.at_sender() ? r.executor_ended : r.submitter_ended) = true;
  }
  if (!event.function_name().empty()) {
    r.type = event.type();
    if (!r.function_name || *r.function_name != event.function_name())
      r.function_name = Intern(event.function_name());
    if (!event.name().empty() && (!r.name || *r.name != event.name())) r.name = Intern(event.name());
    r.actor = ActorID::FromBinary(event.actor_id());
  }
  if (!event.parent_task_id().empty()) r.parent = TaskID::FromBinary(event.parent_task_id());
  if (event.at_sender()) {
    if (!sender.node.IsNil()) r.node = sender.node;
    if (!sender.worker.IsNil()) r.worker = sender.worker;
    if (sender.pid > 0) r.pid = sender.pid;
  }
  if (!event.node_id().empty()) r.node = NodeID::FromBinary(event.node_id());
  if (!event.worker_id().empty()) r.worker = WorkerID::FromBinary(event.worker_id());
  if (event.worker_pid() > 0) r.pid = event.worker_pid();
  if (event.error_type() != proto::NO_ERROR) {
    r.error_type = event.error_type();
    if (r.error_message.empty() || !event.error_message().empty()) r.error_message = event.error_message();
  }
  if (!fresh) return;
  if (order_[r.job].size() > limits_.max_per_job) DropOldest(r.job);
  while (records_.size() > limits_.max_total && !fronts_.empty()) {
    // The oldest attempt of all is the oldest of some job: the front with
    // the smallest sequence number.
    DropOldest(fronts_.begin()->second);
  }
}

void TaskEventStore::DropOldest(uint32_t job) {
  auto it = order_.find(job);
  if (it == order_.end() || it->second.empty()) return;
  const Key key = it->second.front()->first;
  const TaskAttempt &dropped = it->second.front()->second;
  const bool more_to_come = !(dropped.submitter_ended && dropped.executor_ended);
  fronts_.erase({dropped.seq, job});
  it->second.pop_front();
  if (!it->second.empty()) fronts_.insert({it->second.front()->second.seq, job});
  records_.erase(key);
  if (more_to_come) {
    if (recently_dropped_order_.size() >= kRememberDropped) {
      recently_dropped_.erase(recently_dropped_order_.front().first);
      recently_dropped_order_.pop_front();
    }
    recently_dropped_.insert(key);
    recently_dropped_order_.emplace_back(key, next_seq_);
  }
  if (it->second.empty()) order_.erase(it);
  ++dropped_[job];
  ++dropped_total_;
}

void TaskEventStore::ForgetOldDrops() {
  while (!recently_dropped_order_.empty() &&
         next_seq_ - recently_dropped_order_.front().second > kRememberDropped) {
    recently_dropped_.erase(recently_dropped_order_.front().first);
    recently_dropped_order_.pop_front();
  }
}

int64_t TaskEventStore::Dropped(uint32_t job) const {
  auto it = dropped_.find(job);
  return it == dropped_.end() ? 0 : it->second;
}

void TaskEventStore::ToProto(const Key &key, const TaskAttempt &r, proto::TaskRecord *out) {
  out->set_task_id(key.task.Binary());
  out->set_attempt(key.attempt);
  out->set_job_id(r.job);
  out->set_state(r.state);
  if (r.function_name) {
    out->set_type(r.type);
    out->set_function_name(*r.function_name);
    out->set_name(r.name ? *r.name : *r.function_name);
    if (!r.actor.IsNil()) out->set_actor_id(r.actor.Binary());
  }
  if (!r.parent.IsNil()) out->set_parent_task_id(r.parent.Binary());
  if (!r.node.IsNil()) out->set_node_id(r.node.Binary());
  if (!r.worker.IsNil()) out->set_worker_id(r.worker.Binary());
  if (r.pid > 0) out->set_worker_pid(r.pid);
  if (r.error_type != proto::NO_ERROR) {
    out->set_error_type(r.error_type);
    out->set_error_message(r.error_message);
  }
  auto &times = *out->mutable_state_time_ns();
  for (int s = 0; s < proto::TaskState_ARRAYSIZE; ++s)
    if (r.entered_ns[s] != 0) times[s] = r.entered_ns[s];
}

void TaskEventStore::ForEachInOrder(const proto::GetTaskEventsRequest &request,
                                    const std::function<void(const Entry &)> &visit) const {
  std::vector<const std::deque<const Entry *> *> jobs;
  for (const auto &[job, entries] : order_)
    if (request.all_jobs() || job == request.job_id()) jobs.push_back(&entries);
  if (jobs.size() == 1) {
    for (const Entry *e : *jobs.front()) visit(*e);
    return;
  }
  // Oldest first across jobs: each job's order is by sequence number, so a
  // merge of their fronts (a heap: a long-lived cluster has run many jobs)
  // gives the table's.
  using Front = std::pair<uint64_t, size_t>;  // (sequence number, job), smallest on top
  std::priority_queue<Front, std::vector<Front>, std::greater<>> fronts;
  std::vector<size_t> next(jobs.size(), 0);
  for (size_t j = 0; j < jobs.size(); ++j)
    if (!jobs[j]->empty()) fronts.push({jobs[j]->front()->second.seq, j});
  while (!fronts.empty()) {
    const size_t j = fronts.top().second;
    fronts.pop();
    visit(*(*jobs[j])[next[j]++]);
    if (next[j] < jobs[j]->size()) fronts.push({(*jobs[j])[next[j]]->second.seq, j});
  }
}

bool TaskEventStore::LaterAttemptMatches(const Key &key, const TaskMatcher &matcher) const {
  for (Key later{key.task, key.attempt + 1};; ++later.attempt) {
    auto it = records_.find(later);
    if (it == records_.end()) return false;
    if (matcher.Matches(later.task, later.attempt, it->second)) return true;
  }
}

StatusOr<proto::GetTaskEventsReply> TaskEventStore::Get(const proto::GetTaskEventsRequest &request) const {
  auto matcher = TaskMatcher::Make(request.filters());
  if (!matcher.ok()) return matcher.status();
  if (request.offset() < 0 || request.limit() < 0)
    return Status::InvalidArgument("a task query's offset and limit are not negative");
  proto::GetTaskEventsReply reply;
  int64_t total = 0, matched = 0;
  // Summary: tasks by (function, name, type, state) of their latest matching
  // attempt. Names are interned, so their addresses stand for them.
  using CountKey = std::tuple<const std::string *, const std::string *, int, int>;
  std::map<CountKey, int64_t> counts;
  CountKey last_key{};
  int64_t *last_count = nullptr;
  ForEachInOrder(request, [&](const Entry &e) {
    ++total;
    const auto &[key, r] = e;
    if (!matcher->empty() && !matcher->Matches(key.task, key.attempt, r)) return;
    const int64_t index = matched++;
    if (request.summary()) {
      if (r.retried && LaterAttemptMatches(key, *matcher)) return;
      const std::string *function = r.function_name.get();
      const std::string *name = function ? (r.name ? r.name.get() : function) : nullptr;
      const CountKey k{function, name, function ? r.type : proto::NORMAL_TASK, r.state};
      // Neighbours mostly share a function and state: one map lookup per run.
      if (!last_count || k != last_key) {
        last_key = k;
        last_count = &counts[k];
      }
      ++*last_count;
      return;
    }
    if (index < request.offset()) return;
    if (request.limit() > 0 && reply.tasks_size() >= request.limit()) return;
    ToProto(key, r, reply.add_tasks());
  });
  for (const auto &[k, n] : counts) {
    proto::TaskCount *c = reply.add_counts();
    if (const std::string *function = std::get<0>(k)) c->set_function_name(*function);
    if (const std::string *name = std::get<1>(k)) c->set_name(*name);
    c->set_type(static_cast<proto::TaskType>(std::get<2>(k)));
    c->set_state(static_cast<proto::TaskState>(std::get<3>(k)));
    c->set_count(n);
  }
  reply.set_total(total);
  reply.set_num_filtered(matched);
  for (const auto &[job, n] : dropped_) {
    if (!request.all_jobs() && job != request.job_id()) continue;
    (*reply.mutable_dropped_per_job())[job] = n;
  }
  reply.set_dropped_total(dropped_total_);
  return reply;
}

}  // namespace lumen::control
