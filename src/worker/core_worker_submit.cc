// Task submission: dependency resolution, worker leases from the node
// service, pushing tasks to leased workers (pipelined when tasks are short),
// retries when a worker dies, and giving idle leases back.
#include <algorithm>
#include <iostream>
#include <optional>

#include "base/logging.h"
#include "base/timeouts.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {
namespace {

constexpr int64_t kLeaseIdleMs = 100;     // give a lease back after this long unused
constexpr size_t kMaxPendingLeases = 16;  // per scheduling key

std::string KeyOf(const std::map<std::string, double> &resources) {
  std::string key;
  for (auto &[k, v] : resources) key += k + "=" + std::to_string(v) + ";";
  return key;
}

// The first resource of `need` that `total` has too little of, and how much
// it has (skipping placement-group names: bundles appear later); none if it fits.
struct Shortfall {
  std::string name;
  double need = 0, have = 0;
};
template <class Map>
std::optional<Shortfall> ShortOf(const Map &total, const std::map<std::string, double> &need) {
  for (auto &[k, v] : need) {
    if (k.find("_group_") != std::string::npos) continue;
    auto it = total.find(k);
    if (it == total.end() || it->second < v) return Shortfall{k, v, it == total.end() ? 0.0 : it->second};
  }
  return std::nullopt;
}

void PrintInfeasible(const std::string &what, const Shortfall &s) {
  std::cerr << "Warning: " << (what[0] == 'a' ? "an " : "a ") << what << " requests " << s.name << "="
            << s.need << " but no node in the cluster has that much (" << s.name << " total: " << s.have
            << "). It stays pending until such a node joins.\n";
}

}  // namespace

// ---------------------------------------------------------------- submission

ObjectID CoreWorker::SubmitTask(const std::string &function_name, std::vector<SubmitArg> args,
                                const TaskOptions &options) {
  After after;
  std::unique_lock<std::mutex> lock(mu_);
  auto task = NewTaskLocked(proto::NORMAL_TASK, function_name, options.name);
  auto &spec = task->spec;
  spec.set_max_retries(options.max_retries);
  spec.set_runtime_env(options.runtime_env);
  auto resources = options.resources;
  if (resources.empty()) resources["CPU"] = 1;  // Ray's default for a task
  for (auto &[k, v] : resources) (*spec.mutable_resources()->mutable_amounts())[k] = v;
  task->retries_left = options.max_retries;
  task->key = QueueLocked(resources, options.runtime_env).key;
  EntryLocked(task->return_id).pushed_result = true;  // owned, pending
  AddArgsLocked(args, *task);
  task->events_kept = task_events_.RecordWithFacts(spec, proto::PENDING_ARGS_AVAIL, task->parent);
  ResolveAndQueueLocked(task, &after);
  lock.unlock();
  RunAll(after);
  return task->return_id;
}

CoreWorker::SchedulingQueue &CoreWorker::QueueLocked(const std::map<std::string, double> &resources,
                                                     const std::string &runtime_env) {
  // Work with its own env_vars runs on workers started with them: a queue
  // (and its leases) of its own.
  std::string key = KeyOf(resources) + runtime_env;
  auto &q = queues_[key];
  if (!q) {
    q = std::make_unique<SchedulingQueue>();
    q->key = key;
    q->resources = resources;
    q->runtime_env = runtime_env;
    WarnIfInfeasibleLocked("task", resources);
  }
  return *q;
}

std::shared_ptr<TaskEntry> CoreWorker::NewTaskLocked(proto::TaskType type, const std::string &function_name,
                                                     const std::string &name) {
  auto task = std::make_shared<TaskEntry>();
  TaskID task_id = TaskID::Of(options_.worker_id, ++task_seq_);
  task->return_id = ObjectID::ForTaskReturn(task_id, 1);
  auto &spec = task->spec;
  spec.set_task_id(task_id.Binary());
  spec.set_job_id(options_.job_id);
  spec.set_type(type);
  spec.mutable_function()->set_function_name(function_name);
  *spec.mutable_caller() = self_address_;
  spec.set_name(name);
  task->parent = TaskEventRecorder::CurrentTask();
  return task;
}

void CoreWorker::WarnIfInfeasibleLocked(const char *what, const std::map<std::string, double> &resources) {
  // Warn once per resource shape when no node could ever run this. This
  // node's totals answer at once; when they fall short another node may
  // have it (the lease is spilled there), so the control service's node
  // table decides, on the loop thread when its answer comes.
  auto short_here = ShortOf(node_info_.total().amounts(), resources);
  if (!short_here || !warned_infeasible_.insert(KeyOf(resources)).second) return;
  rpc::ConnectionPtr control;
  {
    std::lock_guard<std::mutex> lock(control_mu_);  // after mu_, as SendCreateActorLocked
    control = control_;
  }
  if (!control || !control->IsOpen()) {
    PrintInfeasible(what, *short_here);  // no node table to ask: this node's view
    return;
  }
  control->Call(
      proto::GET_ALL_NODES, proto::GetAllNodesRequest(),
      [what = std::string(what), resources, fallback = *short_here](Status st, std::string_view body) {
        proto::GetAllNodesReply rep;
        if (!st.ok() || !rpc::ParseBody(body, &rep)) {
          PrintInfeasible(what, fallback);
          return;
        }
        Shortfall most = fallback;  // the largest amount of it an alive node has
        most.have = 0;
        for (auto &node : rep.nodes()) {
          if (!node.alive()) continue;
          if (!ShortOf(node.total().amounts(), resources)) return;  // that node could run it
          auto it = node.total().amounts().find(most.name);
          if (it != node.total().amounts().end()) most.have = std::max(most.have, it->second);
        }
        PrintInfeasible(what, most);
      },
      kDefaultCallTimeout);
}

void CoreWorker::AddArgsLocked(std::vector<SubmitArg> &args, TaskEntry &task) {
  for (auto &a : args) {
    auto *arg = task.spec.add_args();
    if (a.value) {
      arg->set_data(a.value->data(), a.value->size());
      for (auto &n : a.nested) {
        arg->add_nested_ids(n.Binary());
        EntryLocked(n);
        refs_.AddSubmitted(n);
        task.arg_refs.push_back(n);
      }
    } else {
      arg->set_is_ref(true);
      arg->set_object_id(a.ref.Binary());
      EntryLocked(a.ref);
      refs_.AddSubmitted(a.ref);
      task.arg_refs.push_back(a.ref);
    }
  }
}

void CoreWorker::ResolveAndQueueLocked(std::shared_ptr<TaskEntry> task, After *after) {
  // Wait for by-reference arguments; small ready values are inlined, large
  // ones are read by the worker from the node's shared-memory store.
  auto &spec = task->spec;
  for (int i = 0; i < spec.args_size(); ++i) {
    auto *arg = spec.mutable_args(i);
    if (!arg->is_ref()) continue;
    ObjectID id = ObjectID::FromBinary(arg->object_id());
    auto &e = EntryLocked(id);
    if (e.ready) continue;
    task->pending_deps++;
    RequestFromOwnerLocked(id, e);
    e.on_ready.push_back([this, task] {
      After after2;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--task->pending_deps == 0) ResolveAndQueueLocked(task, &after2);
      }
      RunAll(after2);
    });
  }
  if (task->pending_deps > 0) return;
  for (int i = 0; i < spec.args_size(); ++i) {
    auto *arg = spec.mutable_args(i);
    if (!arg->is_ref() || !arg->data().empty()) continue;
    ObjectID id = ObjectID::FromBinary(arg->object_id());
    auto it = objects_.find(id);
    if (it == objects_.end()) continue;
    auto &e = *it->second;
    if (e.payload.error() != proto::NO_ERROR) {
      // A failed dependency fails the task with the same error.
      if (spec.type() == proto::ACTOR_CREATION_TASK) {
        spec.mutable_actor_creation()->set_dependency_error(*e.data);
        spec.mutable_actor_creation()->set_dependency_error_type(e.payload.error());
        SendCreateActorLocked(*task, after);
        return;
      }
      FailTaskLocked(*task, e.payload.error(), *e.data, after);
      if (spec.type() == proto::ACTOR_TASK) {
        actor_submitter_.Pump(ActorID::FromBinary(spec.actor_id()), after);
      }
      return;
    }
    if (e.payload.in_plasma()) {
      arg->set_in_plasma(true);
    } else {
      arg->set_is_ref(false);
      arg->set_data(*e.data);
    }
  }
  if (spec.type() == proto::ACTOR_TASK) {
    // Already in the actor's queue, in submission order: now it may be sent.
    task->resolved = true;
    actor_submitter_.Pump(ActorID::FromBinary(spec.actor_id()), after);
    return;
  }
  if (spec.type() == proto::ACTOR_CREATION_TASK) {
    task_events_.Record(spec, proto::PENDING_NODE_ASSIGNMENT,
                        task->events_kept);  // the control service places it
    SendCreateActorLocked(*task, after);
    return;
  }
  auto qit = queues_.find(task->key);
  if (qit == queues_.end()) return;
  task_events_.Record(spec, proto::PENDING_NODE_ASSIGNMENT, task->events_kept);
  qit->second->tasks.push_back(task);
  FailQueuedIfLostLocked(*qit->second, after);
  PumpLocked(*qit->second);
}

void CoreWorker::FailQueuedIfLostLocked(SchedulingQueue &q, After *after) {
  if (!lost_.ok()) FailQueuedLocked(q, lost_.message(), after);
}

void CoreWorker::FailQueuedLocked(SchedulingQueue &q, const std::string &why, After *after) {
  auto tasks = std::move(q.tasks);
  q.tasks.clear();
  for (auto &t : tasks)
    FailTaskLocked(*t, proto::WORKER_DIED,
                   "Task '" + t->spec.function().function_name() + "' cannot run: " + why, after);
}

void CoreWorker::PumpLocked(SchedulingQueue &q) {
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
    PushLocked(q, *best, task);
  }
  while (lost_.ok() && q.pending_leases < std::min(q.tasks.size(), kMaxPendingLeases)) RequestLeaseLocked(q);
  if (q.tasks.empty() && q.pending_leases > 0 && !q.cancel_sent) {
    // Every task has a worker: the requests still pending at the node would
    // only bring idle workers and hold them from other submitters.
    q.cancel_sent = true;
    proto::WorkerLeaseRequest cancel;
    for (auto &[k, v] : q.resources) (*cancel.mutable_resources()->mutable_amounts())[k] = v;
    cancel.set_runtime_env(q.runtime_env);
    node_->Notify(proto::CANCEL_WORKER_LEASES, cancel);
    for (auto &[address, node] : q.spill_nodes)
      if (node->IsOpen()) node->Notify(proto::CANCEL_WORKER_LEASES, cancel);
  }
}

void CoreWorker::RequestLeaseLocked(SchedulingQueue &q) {
  q.pending_leases++;
  q.cancel_sent = false;
  SendLeaseRequestLocked(q, nullptr, 0);
}

void CoreWorker::SendLeaseRequestLocked(SchedulingQueue &q, const rpc::ConnectionPtr &node, int hops) {
  proto::WorkerLeaseRequest req;
  req.set_job_id(options_.job_id);
  for (auto &[k, v] : q.resources) (*req.mutable_resources()->mutable_amounts())[k] = v;
  req.set_requester_id(options_.worker_id.Binary());
  req.set_runtime_env(q.runtime_env);
  req.set_spill_hops(hops);
  std::string key = q.key;
  (node ? node : node_)
      ->Call(
          proto::REQUEST_WORKER_LEASE, req,
          [this, key, node, hops](Status st, std::string_view body) {
            OnLeaseGranted(key, node, hops, st, body);
          },
          kForever);
}

void CoreWorker::FollowSpillback(const std::string &key, const proto::WorkerLeaseReply &rep, int hops) {
  // Connected here, on the loop thread, without waiting for the handshake:
  // the request follows the hello.
  auto node = PeerConnection(rep.spillback_address(), /*pipelined=*/true);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = queues_.find(key);
  if (it == queues_.end()) return;
  auto &q = *it->second;
  if (q.tasks.empty() || shutdown_ || !lost_.ok()) {
    q.pending_leases--;  // no longer needed (or never will be)
    return;
  }
  if (!node) {
    // Unreachable: our own node decides again (the hop count bounds this).
    LUMEN_LOG_WARN("could not reach node {} at {} for a spilled lease; asking this node again",
                   ToHex(rep.spillback_node_id()), rep.spillback_address());
    SendLeaseRequestLocked(q, nullptr, hops + 1);
    return;
  }
  q.spill_nodes[rep.spillback_address()] = node;
  SendLeaseRequestLocked(q, node, hops + 1);
}

void CoreWorker::OnLeaseGranted(const std::string &key, const rpc::ConnectionPtr &node, int hops, Status st,
                                std::string_view body) {
  proto::WorkerLeaseReply rep;
  if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("bad lease reply");
  if (st.ok() && !rep.granted() && !rep.spillback_address().empty()) {
    FollowSpillback(key, rep, hops);
    return;
  }
  if (!st.ok() && node) {
    // The node a request was spilled to failed it (or died): our own node
    // decides again, without it once it is seen dead.
    LUMEN_LOG_WARN("a spilled lease request failed at {}: {}; asking this node again", node->PeerName(),
                   st.ToString());
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queues_.find(key);
    if (it == queues_.end()) return;
    auto &q = *it->second;
    if (q.tasks.empty() || shutdown_ || !lost_.ok()) {
      q.pending_leases--;
      PumpLocked(q);
      return;
    }
    SendLeaseRequestLocked(q, nullptr, hops + 1);
    return;
  }
  if (st.ok() && !rep.granted()) {
    // Canceled (we asked), or refused: the node can never grant it, so
    // asking again would be refused again.
    After after;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = queues_.find(key);
      if (it == queues_.end()) return;
      auto &q = *it->second;
      q.pending_leases--;
      if (rep.refusal() != proto::LEASE_CANCELED && !shutdown_) {
        LUMEN_LOG_WARN("worker lease refused: {}", rep.error());
        FailQueuedLocked(q, "the node refused a worker for it: " + rep.error(), &after);
      }
      PumpLocked(q);
    }
    RunAll(after);
    return;
  }
  if (st.ok()) {
    // Pipelined: the task follows the hello on the new connection, here on
    // the loop thread, with no thread hop and no round trip for the
    // handshake (a worker's first task went from ~1.3 to ~0.7 ms).
    auto conn = PeerConnection(RouteTo(rep.worker()), /*pipelined=*/true);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queues_.find(key);
    if (it == queues_.end()) return;
    auto &q = *it->second;
    q.pending_leases--;
    if (!conn) {
      ReturnLease(rep.lease_id(), /*worker_failed=*/true, node);
      PumpLocked(q);
      return;
    }
    if (q.tasks.empty()) {
      // Granted after its tasks found other workers: give it straight back.
      ReturnLease(rep.lease_id(), /*worker_failed=*/false, node);
      return;
    }
    auto w = std::make_unique<LeasedWorker>();
    w->lease_id = rep.lease_id();
    w->address = rep.worker();
    w->conn = conn;
    w->lease_node = node;
    w->gpu_ids.assign(rep.gpu_ids().begin(), rep.gpu_ids().end());
    w->idle_since = w->last_progress = clock_.Now();
    q.workers[w->lease_id] = std::move(w);
    PumpLocked(q);
    return;
  }
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queues_.find(key);
    if (it == queues_.end()) return;
    auto &q = *it->second;
    q.pending_leases--;
    if (shutdown_) return;
    LUMEN_LOG_WARN("worker lease failed: {}", st.ToString());
    if (node_->IsOpen()) {
      // The node answered with an error: a request it cannot handle, which
      // asking again would not change.
      FailQueuedLocked(q, "the worker lease request failed: " + st.ToString(), &after);
    }
    // Else the node is gone: its close handler (OnLost) fails the queue with
    // the reason, and later tasks with it.
    FailQueuedIfLostLocked(q, &after);
  }
  RunAll(after);
}

void CoreWorker::PushLocked(SchedulingQueue &q, LeasedWorker &w, std::shared_ptr<TaskEntry> task) {
  task->pushed_at = clock_.Now();
  if (w.in_flight == 0) w.last_progress = task->pushed_at;
  task->maybe_long = q.pipeline.MaybeLong(task->spec.function().function_name());
  w.maybe_long += task->maybe_long;
  w.in_flight++;
  w.running.push_back(task);
  task_events_.RecordAt(
      task->spec, proto::SUBMITTED_TO_WORKER,
      {NodeID::FromBinary(w.address.node_id()), WorkerID::FromBinary(w.address.worker_id()), 0},
      task->events_kept);
  proto::PushTaskRequest req;
  *req.mutable_spec() = task->spec;
  for (int id : w.gpu_ids) req.mutable_spec()->add_gpu_ids(id);
  std::string key = q.key;
  uint64_t lease_id = w.lease_id;
  // A lone task is latency-bound (its submitter likely waits for it next):
  // write it now. Pipelined bursts go through the loop and leave batched.
  std::optional<rpc::DirectSendScope> direct;
  if (w.in_flight == 1) direct.emplace();
  w.conn->Call(
      proto::PUSH_TASK, req,
      [this, key, lease_id, task](Status st, std::string_view body) {
        OnPushReply(key, lease_id, task, st, body);
      },
      kForever);
}

void CoreWorker::OnPushReply(const std::string &key, uint64_t lease_id, std::shared_ptr<TaskEntry> task,
                             Status st, std::string_view body) {
  proto::PushTaskReply rep;
  if (st.ok() && !rpc::ParseBody(body, &rep)) st = Status::Internal("malformed task reply");
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto qit = queues_.find(key);
    if (qit == queues_.end()) return;
    auto &q = *qit->second;
    auto wit = q.workers.find(lease_id);
    if (!st.ok()) {
      // The worker died (or its connection broke) with tasks in flight:
      // perhaps with the fork server, whose end of file may not have been
      // read yet. Its loss explains the worker's, and ends the retries.
      CheckForkServerLocked(&after);
      std::vector<std::shared_ptr<TaskEntry>> lost;
      std::string where;  // the worker's node, which may have died with it
      if (wit != q.workers.end()) {
        if (!wit->second->address.node_id().empty())
          where = " on node " + ToHex(wit->second->address.node_id());
        lost = std::move(wit->second->running);
        ReturnLease(lease_id, /*worker_failed=*/true, wit->second->lease_node);
        q.workers.erase(wit);
      } else {
        lost.push_back(task);
      }
      for (auto &t : lost) {
        if (!lost_.ok()) {
          q.tasks.push_front(t);  // failed below with the loss that killed the worker
        } else if (t->retries_left > 0) {
          t->retries_left--;
          // A retry is a new attempt: this one failed with its worker.
          task_events_.RecordEnd(t->spec, proto::WORKER_DIED,
                                 "The worker died while executing the task (" + st.ToString() + "); retried.",
                                 t->events_kept);
          t->spec.set_attempt(t->spec.attempt() + 1);
          t->events_kept = task_events_.RecordWithFacts(t->spec, proto::PENDING_NODE_ASSIGNMENT, t->parent);
          q.tasks.push_front(t);
        } else {
          FailTaskLocked(*t, proto::WORKER_DIED,
                         "The worker" + where + " died unexpectedly while executing task '" +
                             t->spec.function().function_name() + "' (" + st.ToString() +
                             "); retries exhausted (max_retries=" + std::to_string(t->spec.max_retries()) +
                             ").",
                         &after);
        }
      }
      FailQueuedIfLostLocked(q, &after);
      PumpLocked(q);
    } else {
      auto now = clock_.Now();
      // Queued behind others on its worker, the task started when the one
      // before it replied.
      auto started = task->pushed_at;
      if (wit != q.workers.end()) {
        auto &w = *wit->second;
        started = std::max(started, w.last_progress);
        w.last_progress = now;
        w.in_flight--;
        w.maybe_long -= task->maybe_long;
        auto rit = std::find(w.running.begin(), w.running.end(), task);
        if (rit != w.running.end()) w.running.erase(rit);
        if (w.in_flight == 0) w.idle_since = clock_.Now();
        if (rep.worker_exiting()) {
          ReturnLease(lease_id, /*worker_failed=*/true, w.lease_node);
          q.workers.erase(wit);
        } else if (w.in_flight == 0 && q.tasks.empty() && clock_.Now() < leases_wanted_until_) {
          // Others wait for workers: no idle grace period.
          ReturnLease(lease_id, /*worker_failed=*/false, w.lease_node);
          q.workers.erase(wit);
        }
      }
      q.pipeline.RecordTask(task->spec.function().function_name(),
                            std::chrono::duration<double, std::micro>(now - started).count());
      RecordReplyLocked(*task, rep);
      for (auto &ret : rep.returns())
        SetReadyLocked(ObjectID::FromBinary(ret.object_id()), ret.payload(), &after);
      KeepLineageLocked(*task, &after);
      FinishTaskLocked(*task, &after);
      PumpLocked(q);
    }
  }
  RunAll(after);
}

void CoreWorker::ReturnLease(uint64_t lease_id, bool worker_failed, const rpc::ConnectionPtr &node) {
  proto::ReturnWorkerRequest ret;
  ret.set_lease_id(lease_id);
  ret.set_worker_failed(worker_failed);
  (node ? node : node_)->Notify(proto::RETURN_WORKER, ret);
}

void CoreWorker::FailTaskLocked(TaskEntry &task, proto::ErrorType type, const std::string &message,
                                After *after) {
  task_events_.RecordEnd(task.spec, type, message, task.events_kept);
  proto::ObjectPayload p;
  p.set_error(type);
  p.set_data(message);
  SetReadyLocked(task.return_id, p, after);
  FinishTaskLocked(task, after);
}

void CoreWorker::FinishTaskLocked(TaskEntry &task, After *after) {
  task.done = true;
  for (auto &id : task.arg_refs) {
    refs_.RemoveSubmitted(id);
    MaybeFreeLocked(id, after);
  }
  task.arg_refs.clear();
}

void CoreWorker::ReturnIdleLeasesLocked(Clock::Duration min_idle) {
  auto now = clock_.Now();
  for (auto &[key, q] : queues_) {
    if (!q->tasks.empty()) continue;
    for (auto it = q->workers.begin(); it != q->workers.end();) {
      auto &w = *it->second;
      if (w.in_flight == 0 && now - w.idle_since >= min_idle) {
        ReturnLease(w.lease_id, /*worker_failed=*/false, w.lease_node);
        it = q->workers.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void CoreWorker::ReturnIdleLeases() {
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    ReturnIdleLeasesLocked(std::chrono::milliseconds(kLeaseIdleMs));
    actor_submitter_.ExpireDeathInfoWaits(&after);  // the same tick: nothing to do unless a call waits
  }
  RunAll(after);
  idle_timer_->expires_after(std::chrono::milliseconds(kLeaseIdleMs / 2));
  idle_timer_->async_wait([this](const boost::system::error_code &ec) {
    if (!ec) ReturnIdleLeases();
  });
}

}  // namespace lumen::worker
