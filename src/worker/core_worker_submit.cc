// Task submission: a task's spec and argument refs, dependency resolution,
// and the normal-task submitter's link to this core worker (leases, pushes
// and retries are NormalTaskSubmitter's).
#include <algorithm>
#include <iostream>
#include <optional>

#include "base/logging.h"
#include "base/timeouts.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {
namespace {

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

// ---------------------------------------------------------------- normal-task link

void CoreWorker::NormalTaskLink::RequestLease(const Peer &node, proto::WorkerLeaseRequest request,
                                              rpc::ResponseCallback cb) {
  request.set_job_id(cw_.options_.job_id);
  request.set_requester_id(cw_.options_.worker_id.Binary());
  NodeOf(node).Call(proto::REQUEST_WORKER_LEASE, request, std::move(cb), kForever);
}

void CoreWorker::NormalTaskLink::CancelLeases(const Peer &node, const proto::WorkerLeaseRequest &request) {
  auto &conn = NodeOf(node);
  if (conn.IsOpen()) conn.Notify(proto::CANCEL_WORKER_LEASES, request);
}

void CoreWorker::NormalTaskLink::ReturnWorker(const Peer &node, uint64_t lease_id, bool worker_failed) {
  proto::ReturnWorkerRequest ret;
  ret.set_lease_id(lease_id);
  ret.set_worker_failed(worker_failed);
  NodeOf(node).Notify(proto::RETURN_WORKER, ret);
}

LeaseTransport::Peer CoreWorker::NormalTaskLink::ConnectNode(const std::string &address) {
  return cw_.PeerConnection(address, /*pipelined=*/true);
}

LeaseTransport::Peer CoreWorker::NormalTaskLink::ConnectWorker(const proto::Address &worker) {
  return cw_.PeerConnection(cw_.RouteTo(worker), /*pipelined=*/true);
}

void CoreWorker::NormalTaskLink::PushTask(const Peer &worker, const proto::PushTaskRequest &request,
                                          bool write_now, rpc::ResponseCallback cb) {
  std::optional<rpc::DirectSendScope> direct;
  if (write_now) direct.emplace();
  static_cast<rpc::Connection *>(worker.get())->Call(proto::PUSH_TASK, request, std::move(cb), kForever);
}

bool CoreWorker::NormalTaskLink::NodeConnected() { return cw_.node_->IsOpen(); }

std::string CoreWorker::NormalTaskLink::NodeName(const Peer &node) { return NodeOf(node).PeerName(); }

rpc::Connection &CoreWorker::NormalTaskLink::NodeOf(const Peer &node) {
  return node ? *static_cast<rpc::Connection *>(node.get()) : *cw_.node_;
}

void CoreWorker::NormalTaskLink::CheckForLoss(After *after) { cw_.CheckForkServerLocked(after); }

void CoreWorker::NormalTaskLink::FailTask(TaskEntry &task, proto::ErrorType type, const std::string &message,
                                          After *after) {
  cw_.FailTaskLocked(task, type, message, after);
}

void CoreWorker::NormalTaskLink::CompleteTask(TaskEntry &task, const proto::PushTaskReply &reply,
                                              After *after) {
  cw_.CompleteTaskLocked(task, reply, after);
}

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
  task->key = QueueKeyLocked(resources, options.runtime_env);
  EntryLocked(task->return_id).pushed_result = true;  // owned, pending
  AddArgsLocked(args, *task);
  task->events_kept = task_events_.RecordWithFacts(spec, proto::PENDING_ARGS_AVAIL, task->parent);
  ResolveAndQueueLocked(task, &after);
  lock.unlock();
  RunAll(after);
  return task->return_id;
}

std::string CoreWorker::QueueKeyLocked(const std::map<std::string, double> &resources,
                                       const std::string &runtime_env) {
  bool created = false;
  std::string key = normal_submitter_->QueueKey(resources, runtime_env, &created);
  if (created) WarnIfInfeasibleLocked("task", resources);
  return key;
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
  if (!short_here || !warned_infeasible_.insert(NormalTaskSubmitter::ResourceKey(resources)).second) return;
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
        actor_submitter_->Pump(ActorID::FromBinary(spec.actor_id()), after);
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
    actor_submitter_->Pump(ActorID::FromBinary(spec.actor_id()), after);
    return;
  }
  if (spec.type() == proto::ACTOR_CREATION_TASK) {
    task_events_.Record(spec, proto::PENDING_NODE_ASSIGNMENT,
                        task->events_kept);  // the control service places it
    SendCreateActorLocked(*task, after);
    return;
  }
  normal_submitter_->Submit(std::move(task), after);
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

void CoreWorker::CompleteTaskLocked(TaskEntry &task, const proto::PushTaskReply &reply, After *after) {
  RecordReplyLocked(task, reply);
  for (auto &ret : reply.returns())
    SetReadyLocked(ObjectID::FromBinary(ret.object_id()), ret.payload(), after);
  if (task.spec.type() == proto::NORMAL_TASK) KeepLineageLocked(task, after);
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

void CoreWorker::ReturnIdleLeases() {
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    normal_submitter_->ReturnIdleLeases();
    actor_submitter_->ExpireDeathInfoWaits(&after);  // the same tick: nothing to do unless a call waits
  }
  RunAll(after);
  idle_timer_->expires_after(NormalTaskSubmitter::kLeaseIdle / 2);
  idle_timer_->async_wait([this](const boost::system::error_code &ec) {
    if (!ec) ReturnIdleLeases();
  });
}

}  // namespace lumen::worker
