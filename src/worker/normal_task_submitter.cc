#include "worker/normal_task_submitter.h"

#include <algorithm>

#include "base/id.h"
#include "base/logging.h"

namespace lumen::worker {
struct NormalTaskSubmitter::LeasedWorker {
  uint64_t lease_id = 0;
  proto::Address address;
  Peer conn;
  Peer lease_node;           // the node that granted it; null: this process's node
  std::vector<int> gpu_ids;  // devices the lease holds
  int in_flight = 0;
  Clock::TimePoint idle_since;
  // Its last sign of progress: the last reply, or the push that ended an
  // idle spell. A worker silent for much longer than tasks take is running
  // a long task (or is stopped): nothing more is pipelined onto it.
  Clock::TimePoint last_progress;
  int maybe_long = 0;  // tasks in flight of functions not known to be short when pushed
  std::vector<std::shared_ptr<TaskEntry>> running;
};

struct NormalTaskSubmitter::Queue {
  std::string key;
  std::map<std::string, double> resources;
  std::string runtime_env;  // its tasks' (serialized ray::RuntimeEnv), which their workers start with
  std::deque<std::shared_ptr<TaskEntry>> tasks;
  std::map<uint64_t, std::unique_ptr<LeasedWorker>> workers;  // by lease id
  size_t pending_leases = 0;
  bool cancel_sent = false;  // pending requests were canceled since the last request
  // Other nodes this queue's lease requests were spilled to (SPILLBACK), by
  // address: a cancel goes to them too.
  std::map<std::string, Peer> spill_nodes;
  PipelinePolicy pipeline;  // how many tasks each of `workers` takes at once

  proto::WorkerLeaseRequest Request() const {
    proto::WorkerLeaseRequest req;
    for (auto &[k, v] : resources) (*req.mutable_resources()->mutable_amounts())[k] = v;
    req.set_runtime_env(runtime_env);
    return req;
  }
};

NormalTaskSubmitter::NormalTaskSubmitter(std::mutex &mu, Clock &clock, LeaseTransport &transport,
                                         Owner &owner, TaskEventRecorder &events)
    : mu_(mu), clock_(clock), transport_(transport), owner_(owner), events_(events) {}

NormalTaskSubmitter::~NormalTaskSubmitter() = default;

std::string NormalTaskSubmitter::ResourceKey(const std::map<std::string, double> &resources) {
  std::string key;
  for (auto &[k, v] : resources) key += k + "=" + std::to_string(v) + ";";
  return key;
}

std::string NormalTaskSubmitter::QueueKey(const std::map<std::string, double> &resources,
                                          const std::string &runtime_env, bool *created) {
  // Work with its own env_vars runs on workers started with them: a queue
  // (and its leases) of its own.
  std::string key = ResourceKey(resources) + runtime_env;
  auto &q = queues_[key];
  *created = !q;
  if (!q) {
    q = std::make_unique<Queue>();
    q->key = key;
    q->resources = resources;
    q->runtime_env = runtime_env;
  }
  return key;
}

NormalTaskSubmitter::Queue *NormalTaskSubmitter::Find(const std::string &key) {
  auto it = queues_.find(key);
  return it == queues_.end() ? nullptr : it->second.get();
}

void NormalTaskSubmitter::Submit(std::shared_ptr<TaskEntry> task, After *after) {
  Queue *q = Find(task->key);
  if (!q) return;  // stopped: the queues are gone
  events_.Record(task->spec, proto::PENDING_NODE_ASSIGNMENT, task->events_kept);
  q->tasks.push_back(std::move(task));
  FailQueuedIfLost(*q, after);
  Pump(*q);
}

void NormalTaskSubmitter::OnLost(const Status &why, After *after) {
  if (!lost_.ok()) return;
  lost_ = why;
  for (auto &[key, q] : queues_) {
    FailQueuedIfLost(*q, after);
    Pump(*q);  // cancels the lease requests still pending
  }
}

void NormalTaskSubmitter::FailQueuedIfLost(Queue &q, After *after) {
  if (!lost_.ok()) FailQueued(q, lost_.message(), after);
}

void NormalTaskSubmitter::FailQueued(Queue &q, const std::string &why, After *after) {
  auto tasks = std::move(q.tasks);
  q.tasks.clear();
  for (auto &t : tasks)
    owner_.FailTask(*t, proto::WORKER_DIED,
                    "Task '" + t->spec.function().function_name() + "' cannot run: " + why, after);
}

void NormalTaskSubmitter::Pump(Queue &q) {
  auto now = clock_.Now();
  auto takes_more = [&](const LeasedWorker &w) {
    return q.pipeline.TakesMore(w.in_flight, w.maybe_long, now - w.last_progress);
  };
  while (!q.tasks.empty()) {
    LeasedWorker *best = nullptr;
    for (auto &[id, w] : q.workers)
      if (takes_more(*w) && (!best || w->in_flight < best->in_flight)) best = w.get();
    if (!best) break;
    auto task = q.tasks.front();
    q.tasks.pop_front();
    Push(q, *best, task);
  }
  while (lost_.ok() && q.pending_leases < std::min(q.tasks.size(), kMaxPendingLeases)) {
    q.pending_leases++;
    q.cancel_sent = false;
    SendLeaseRequest(q, nullptr, 0);
  }
  if (q.tasks.empty() && q.pending_leases > 0 && !q.cancel_sent) {
    // Every task has a worker: the requests still pending at the node would
    // only bring idle workers and hold them from other submitters.
    q.cancel_sent = true;
    proto::WorkerLeaseRequest cancel = q.Request();
    transport_.CancelLeases(nullptr, cancel);
    for (auto &[address, node] : q.spill_nodes) transport_.CancelLeases(node, cancel);
  }
}

void NormalTaskSubmitter::SendLeaseRequest(Queue &q, const Peer &node, int hops) {
  proto::WorkerLeaseRequest req = q.Request();
  req.set_spill_hops(hops);
  transport_.RequestLease(node, std::move(req),
                          [this, key = q.key, node, hops](Status st, std::string_view body) {
                            OnLeaseReply(key, node, hops, st, body);
                          });
}

void NormalTaskSubmitter::OnLeaseReply(const std::string &key, const Peer &node, int hops, Status st,
                                       std::string_view body) {
  proto::WorkerLeaseReply rep;
  if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("bad lease reply");
  if (st.ok() && !rep.granted() && !rep.spillback_address().empty()) {
    FollowSpillback(key, rep, hops);
    return;
  }
  if (st.ok() && rep.granted()) {
    OnLeaseGranted(key, node, rep);
    return;
  }
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Queue *q = Find(key);
    if (!q) return;
    if (!st.ok() && node) {
      // The node a request was spilled to failed it (or died): our own node
      // decides again, without it once it is seen dead.
      LUMEN_LOG_WARN("a spilled lease request failed at {}: {}; asking this node again",
                     transport_.NodeName(node), st.ToString());
      if (q->tasks.empty() || stopped_ || !lost_.ok()) {
        q->pending_leases--;
        Pump(*q);
      } else {
        SendLeaseRequest(*q, nullptr, hops + 1);
      }
      return;
    }
    q->pending_leases--;
    if (st.ok()) {
      // Canceled (we asked), or refused: the node can never grant it, so
      // asking again would be refused again.
      if (rep.refusal() != proto::LEASE_CANCELED && !stopped_) {
        LUMEN_LOG_WARN("worker lease refused: {}", rep.error());
        FailQueued(*q, "the node refused a worker for it: " + rep.error(), &after);
      }
      Pump(*q);
    } else {
      if (stopped_) return;
      LUMEN_LOG_WARN("worker lease failed: {}", st.ToString());
      // A node that is still connected answered with an error: a request it
      // cannot handle, which asking again would not change. Else the node is
      // gone: its loss (OnLost) fails the queue with the reason, and later
      // tasks with it.
      if (transport_.NodeConnected())
        FailQueued(*q, "the worker lease request failed: " + st.ToString(), &after);
      FailQueuedIfLost(*q, &after);
    }
  }
  RunAll(after);
}

void NormalTaskSubmitter::FollowSpillback(const std::string &key, const proto::WorkerLeaseReply &rep,
                                          int hops) {
  // Connected here, on the loop thread, without waiting for the handshake:
  // the request follows the hello.
  Peer node = transport_.ConnectNode(rep.spillback_address());
  std::lock_guard<std::mutex> lock(mu_);
  Queue *q = Find(key);
  if (!q) return;
  if (q->tasks.empty() || stopped_ || !lost_.ok()) {
    q->pending_leases--;  // no longer needed (or never will be)
    return;
  }
  if (!node) {
    // Unreachable: our own node decides again (the hop count bounds this).
    LUMEN_LOG_WARN("could not reach node {} at {} for a spilled lease; asking this node again",
                   ToHex(rep.spillback_node_id()), rep.spillback_address());
    SendLeaseRequest(*q, nullptr, hops + 1);
    return;
  }
  q->spill_nodes[rep.spillback_address()] = node;
  SendLeaseRequest(*q, node, hops + 1);
}

void NormalTaskSubmitter::OnLeaseGranted(const std::string &key, const Peer &node,
                                         const proto::WorkerLeaseReply &rep) {
  // Pipelined: the task follows the hello on the new connection, here on
  // the loop thread, with no thread hop and no round trip for the
  // handshake (a worker's first task went from ~1.3 to ~0.7 ms).
  Peer conn = transport_.ConnectWorker(rep.worker());
  std::lock_guard<std::mutex> lock(mu_);
  Queue *q = Find(key);
  if (!q) return;
  q->pending_leases--;
  if (!conn) {
    transport_.ReturnWorker(node, rep.lease_id(), /*worker_failed=*/true);
    Pump(*q);
    return;
  }
  if (q->tasks.empty()) {
    // Granted after its tasks found other workers: give it straight back.
    transport_.ReturnWorker(node, rep.lease_id(), /*worker_failed=*/false);
    return;
  }
  auto w = std::make_unique<LeasedWorker>();
  w->lease_id = rep.lease_id();
  w->address = rep.worker();
  w->conn = std::move(conn);
  w->lease_node = node;
  w->gpu_ids.assign(rep.gpu_ids().begin(), rep.gpu_ids().end());
  w->idle_since = w->last_progress = clock_.Now();
  q->workers[w->lease_id] = std::move(w);
  Pump(*q);
}

void NormalTaskSubmitter::Push(Queue &q, LeasedWorker &w, std::shared_ptr<TaskEntry> task) {
  task->pushed_at = clock_.Now();
  if (w.in_flight == 0) w.last_progress = task->pushed_at;
  task->maybe_long = q.pipeline.MaybeLong(task->spec.function().function_name());
  w.maybe_long += task->maybe_long;
  w.in_flight++;
  w.running.push_back(task);
  events_.RecordAt(task->spec, proto::SUBMITTED_TO_WORKER,
                   {NodeID::FromBinary(w.address.node_id()), WorkerID::FromBinary(w.address.worker_id()), 0},
                   task->events_kept);
  proto::PushTaskRequest req;
  *req.mutable_spec() = task->spec;
  for (int id : w.gpu_ids) req.mutable_spec()->add_gpu_ids(id);
  // A lone task is latency-bound (its submitter likely waits for it next):
  // written now. Pipelined bursts go through the loop and leave batched.
  transport_.PushTask(w.conn, req, /*write_now=*/w.in_flight == 1,
                      [this, key = q.key, lease_id = w.lease_id, task](Status st, std::string_view body) {
                        OnPushReply(key, lease_id, task, st, body);
                      });
}

void NormalTaskSubmitter::OnPushReply(const std::string &key, uint64_t lease_id,
                                      std::shared_ptr<TaskEntry> task, Status st, std::string_view body) {
  proto::PushTaskReply rep;
  if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("malformed task reply");
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Queue *q = Find(key);
    if (!q) return;
    if (!st.ok()) {
      OnWorkerFailed(*q, lease_id, std::move(task), st, &after);
    } else {
      auto now = clock_.Now();
      // Queued behind others on its worker, the task started when the one
      // before it replied.
      auto started = task->pushed_at;
      auto wit = q->workers.find(lease_id);
      if (wit != q->workers.end()) {
        auto &w = *wit->second;
        started = std::max(started, w.last_progress);
        w.last_progress = now;
        w.in_flight--;
        w.maybe_long -= task->maybe_long;
        auto rit = std::find(w.running.begin(), w.running.end(), task);
        if (rit != w.running.end()) w.running.erase(rit);
        if (w.in_flight == 0) w.idle_since = now;
        if (rep.worker_exiting()) {
          transport_.ReturnWorker(w.lease_node, lease_id, /*worker_failed=*/true);
          q->workers.erase(wit);
        } else if (w.in_flight == 0 && q->tasks.empty() && now < leases_wanted_until_) {
          // Others wait for workers: no idle grace period.
          transport_.ReturnWorker(w.lease_node, lease_id, /*worker_failed=*/false);
          q->workers.erase(wit);
        }
      }
      q->pipeline.RecordTask(task->spec.function().function_name(),
                             std::chrono::duration<double, std::micro>(now - started).count());
      owner_.CompleteTask(*task, rep, &after);
      Pump(*q);
    }
  }
  RunAll(after);
}

void NormalTaskSubmitter::OnWorkerFailed(Queue &q, uint64_t lease_id, std::shared_ptr<TaskEntry> task,
                                         const Status &st, After *after) {
  // The worker died (or its connection broke) with tasks in flight: perhaps
  // with a process the job depends on (the fork server), whose loss explains
  // the worker's and ends the retries.
  owner_.CheckForLoss(after);
  std::vector<std::shared_ptr<TaskEntry>> lost;
  std::string where;  // the worker's node, which may have died with it
  auto wit = q.workers.find(lease_id);
  if (wit != q.workers.end()) {
    if (!wit->second->address.node_id().empty()) where = " on node " + ToHex(wit->second->address.node_id());
    lost = std::move(wit->second->running);
    transport_.ReturnWorker(wit->second->lease_node, lease_id, /*worker_failed=*/true);
    q.workers.erase(wit);
  } else {
    lost.push_back(std::move(task));
  }
  for (auto &t : lost) {
    if (!lost_.ok()) {
      q.tasks.push_front(t);  // failed below with the loss that killed the worker
    } else if (t->retries_left > 0) {
      t->retries_left--;
      // A retry is a new attempt: this one failed with its worker.
      events_.RecordEnd(t->spec, proto::WORKER_DIED,
                        "The worker died while executing the task (" + st.ToString() + "); retried.",
                        t->events_kept);
      t->spec.set_attempt(t->spec.attempt() + 1);
      t->events_kept = events_.RecordWithFacts(t->spec, proto::PENDING_NODE_ASSIGNMENT, t->parent);
      q.tasks.push_front(t);
    } else {
      owner_.FailTask(*t, proto::WORKER_DIED,
                      "The worker" + where + " died unexpectedly while executing task '" +
                          t->spec.function().function_name() + "' (" + st.ToString() +
                          "); retries exhausted (max_retries=" + std::to_string(t->spec.max_retries()) + ").",
                      after);
    }
  }
  FailQueuedIfLost(q, after);
  Pump(q);
}

void NormalTaskSubmitter::ReturnIdle(Clock::Duration min_idle) {
  auto now = clock_.Now();
  for (auto &[key, q] : queues_) {
    if (!q->tasks.empty()) continue;
    for (auto it = q->workers.begin(); it != q->workers.end();) {
      auto &w = *it->second;
      if (w.in_flight == 0 && now - w.idle_since >= min_idle) {
        transport_.ReturnWorker(w.lease_node, w.lease_id, /*worker_failed=*/false);
        it = q->workers.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void NormalTaskSubmitter::ReturnIdleLeases() { ReturnIdle(kLeaseIdle); }

void NormalTaskSubmitter::OnLeasesWanted() {
  leases_wanted_until_ = clock_.Now() + kLeasesWantedFor;
  ReturnIdle(Clock::Duration::zero());  // leases idle right now go back at once
}

void NormalTaskSubmitter::Stop() { stopped_ = true; }

std::vector<NormalTaskSubmitter::Peer> NormalTaskSubmitter::TakeWorkers() {
  std::vector<Peer> workers;
  for (auto &[k, q] : queues_)
    for (auto &[id, w] : q->workers)
      if (w->conn) workers.push_back(w->conn);
  queues_.clear();
  return workers;
}

size_t NormalTaskSubmitter::NumLeases() const {
  size_t n = 0;
  for (auto &[k, q] : queues_) n += q->workers.size();
  return n;
}

size_t NormalTaskSubmitter::NumPendingLeaseRequests() const {
  size_t n = 0;
  for (auto &[k, q] : queues_) n += q->pending_leases;
  return n;
}

}  // namespace lumen::worker
