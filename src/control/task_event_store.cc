#include "control/task_event_store.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace lumen::control {
namespace {

bool KnownState(int state) { return state > proto::TASK_STATE_NIL && state < proto::TaskState_ARRAYSIZE; }

}  // namespace

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

TaskEventStore::Name TaskEventStore::Intern(const std::string &s) {
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
  Record &r = it->second;
  if (fresh) {
    r.seq = next_seq_++;
    r.job = event.job_id();
    order_[r.job].push_back(key);
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
  while (records_.size() > limits_.max_total) {
    // The oldest attempt of all is the oldest of some job: the front with
    // the smallest sequence number (few jobs: a scan of the fronts).
    uint32_t oldest_job = 0;
    uint64_t oldest = std::numeric_limits<uint64_t>::max();
    for (auto &[job, keys] : order_) {
      if (keys.empty()) continue;
      uint64_t seq = records_.at(keys.front()).seq;
      if (seq < oldest) {
        oldest = seq;
        oldest_job = job;
      }
    }
    if (oldest == std::numeric_limits<uint64_t>::max()) break;
    DropOldest(oldest_job);
  }
}

void TaskEventStore::DropOldest(uint32_t job) {
  auto it = order_.find(job);
  if (it == order_.end() || it->second.empty()) return;
  records_.erase(it->second.front());
  it->second.pop_front();
  if (it->second.empty()) order_.erase(it);
  ++dropped_[job];
  ++dropped_total_;
}

int64_t TaskEventStore::Dropped(uint32_t job) const {
  auto it = dropped_.find(job);
  return it == dropped_.end() ? 0 : it->second;
}

void TaskEventStore::ToProto(const Key &key, const Record &r, proto::TaskRecord *out) {
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

proto::GetTaskEventsReply TaskEventStore::Get(const proto::GetTaskEventsRequest &request) const {
  proto::GetTaskEventsReply reply;
  // Oldest first across jobs: merge the jobs' orders by sequence number.
  std::vector<std::pair<const Key *, const Record *>> entries;
  for (const auto &[job, keys] : order_) {
    if (!request.all_jobs() && job != request.job_id()) continue;
    for (const Key &key : keys) entries.emplace_back(&key, &records_.at(key));
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto &a, const auto &b) { return a.second->seq < b.second->seq; });
  reply.mutable_tasks()->Reserve(static_cast<int>(entries.size()));
  for (const auto &[key, record] : entries) ToProto(*key, *record, reply.add_tasks());
  for (const auto &[job, n] : dropped_) {
    if (!request.all_jobs() && job != request.job_id()) continue;
    (*reply.mutable_dropped_per_job())[job] = n;
  }
  reply.set_dropped_total(dropped_total_);
  return reply;
}

}  // namespace lumen::control
