#include "control/task_event_store.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace lumen::control {
namespace {

std::string KeyOf(const std::string &task_id, int32_t attempt) {
  std::string key = task_id;
  key.append(reinterpret_cast<const char *>(&attempt), sizeof(attempt));
  return key;
}

}  // namespace

TaskEventStore::TaskEventStore(TaskEventLimits limits) : limits_(limits) {}

void TaskEventStore::Add(const proto::TaskEventBatch &batch) {
  for (const auto &[job, n] : batch.dropped_per_job()) {
    dropped_[job] += n;
    dropped_total_ += n;
  }
  for (const proto::TaskEvent &event : batch.events()) Merge(event);
}

void TaskEventStore::Merge(const proto::TaskEvent &event) {
  if (event.task_id().empty()) return;
  std::string key = KeyOf(event.task_id(), event.attempt());
  auto [it, fresh] = records_.try_emplace(key);
  proto::TaskRecord &r = it->second.record;
  if (fresh) {
    it->second.seq = next_seq_++;
    r.set_task_id(event.task_id());
    r.set_attempt(event.attempt());
    r.set_job_id(event.job_id());
    order_[event.job_id()].push_back(key);
  }
  // The latest state wins: events of one attempt come from two processes
  // whose batches arrive in either order. FAILED (6) outranks FINISHED (5):
  // a result that ran but could not be delivered failed.
  if (event.state() > r.state()) r.set_state(event.state());
  auto &times = *r.mutable_state_time_ns();
  auto t = times.find(event.state());
  if (t == times.end() || event.time_ns() < t->second) times[event.state()] = event.time_ns();
  if (!event.function_name().empty()) {
    r.set_type(event.type());
    r.set_name(event.name().empty() ? event.function_name() : event.name());
    r.set_function_name(event.function_name());
    r.set_actor_id(event.actor_id());
  }
  if (!event.parent_task_id().empty()) r.set_parent_task_id(event.parent_task_id());
  if (!event.node_id().empty()) r.set_node_id(event.node_id());
  if (!event.worker_id().empty()) r.set_worker_id(event.worker_id());
  if (event.worker_pid() > 0) r.set_worker_pid(event.worker_pid());
  if (event.error_type() != proto::NO_ERROR) {
    r.set_error_type(event.error_type());
    if (r.error_message().empty() || !event.error_message().empty())
      r.set_error_message(event.error_message());
  }
  if (!fresh) return;
  if (order_[event.job_id()].size() > limits_.max_per_job) DropOldest(event.job_id());
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

proto::GetTaskEventsReply TaskEventStore::Get(const proto::GetTaskEventsRequest &request) const {
  proto::GetTaskEventsReply reply;
  // Oldest first across jobs: merge the jobs' orders by sequence number.
  std::vector<const Entry *> entries;
  for (const auto &[job, keys] : order_) {
    if (!request.all_jobs() && job != request.job_id()) continue;
    for (const std::string &key : keys) entries.push_back(&records_.at(key));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry *a, const Entry *b) { return a->seq < b->seq; });
  reply.mutable_tasks()->Reserve(static_cast<int>(entries.size()));
  for (const Entry *e : entries) *reply.add_tasks() = e->record;
  for (const auto &[job, n] : dropped_) {
    if (!request.all_jobs() && job != request.job_id()) continue;
    (*reply.mutable_dropped_per_job())[job] = n;
  }
  reply.set_dropped_total(dropped_total_);
  return reply;
}

}  // namespace lumen::control
