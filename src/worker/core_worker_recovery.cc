// The core worker's part of objects lost with a node (the decisions are
// ObjectRecovery's, object_recovery.h): keeping lineage as normal tasks
// finish, forgetting a dead node's copies, re-running the tasks that made
// what was lost or failing it, and Get's way of finding out: a read whose
// every copy failed to pull asks the control service's node table whether
// their nodes died. An owner then recovers the object; a borrower tells the
// owner (NODES_DEAD) and asks it for the object again, which the owner
// answers once it is made again (GET_OBJECT_STATUS waits for pending objects).
#include <thread>

#include "base/logging.h"
#include "base/timeouts.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {

using State = ObjectRecovery::ObjectState;

void CoreWorker::KeepLineageLocked(const TaskEntry &task, After *after) {
  if (task.spec.max_retries() == 0) return;  // as Ray: a task that may not run again has no lineage
  auto it = objects_.find(task.return_id);
  if (it == objects_.end() || !it->second->owned || !it->second->ready) return;
  const proto::ObjectPayload &p = it->second->payload;
  if (!p.in_plasma() || p.error() != proto::NO_ERROR) return;  // inline values live here: never lost
  recovery_.AddLineage(task.return_id, task.spec, task.retries_left);
  // Made on a node that has died since (its reply came in after the news).
  if (dead_nodes_.count(p.node_id())) DropNodeLocked(p.node_id(), after);
}

void CoreWorker::OnNodeDead(const std::string &node_id) {
  After after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_ || node_id.empty()) return;
    DropNodeLocked(node_id, &after);
  }
  RunAll(after);
}

void CoreWorker::DropNodeLocked(const std::string &node_id, After *after) {
  if (dead_nodes_.insert(node_id).second)
    LUMEN_LOG_WARN("node {} died: objects whose only copies were there are made again or lost",
                   ToHex(node_id));
  std::vector<ObjectID> lost;
  for (auto &[id, e] : objects_) {
    proto::ObjectPayload &p = e->payload;
    if (!e->owned || !e->ready || !p.in_plasma() || p.error() != proto::NO_ERROR) continue;
    bool had = false;
    auto *copies = p.mutable_copy_node_ids();
    for (int i = 0; i < copies->size();) {
      if (copies->Get(i) == node_id) {
        copies->erase(copies->begin() + i);
        had = true;
      } else {
        ++i;
      }
    }
    if (p.node_id() == node_id) {
      had = true;
      p.clear_node_id();
      if (!copies->empty()) {  // another copy becomes the one readers try first
        p.set_node_id(copies->Get(0));
        copies->erase(copies->begin());
      }
    }
    if (had && p.node_id().empty()) lost.push_back(id);
  }
  for (auto &id : lost)
    RecoverLocked(id, "its only copies were on node " + ToHex(node_id) + ", which died", after);
}

State CoreWorker::RecoveryStateLocked(const ObjectID &id) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return id.Owner() == options_.worker_id ? State::kFreed : State::kAvailable;
  const ObjectEntry &e = *it->second;
  if (!e.owned) return State::kAvailable;  // its owner judges it
  if (!e.ready) return State::kPending;
  const proto::ObjectPayload &p = e.payload;
  if (p.in_plasma() && p.error() == proto::NO_ERROR && p.node_id().empty()) return State::kLost;
  return State::kAvailable;
}

void CoreWorker::RecoverLocked(const ObjectID &id, const std::string &why, After *after) {
  if (RecoveryStateLocked(id) != State::kLost) return;  // already being made again (an argument of another)
  auto plan = recovery_.PlanRecovery(id, why, [this](const ObjectID &x) { return RecoveryStateLocked(x); });
  for (auto &f : plan.fail) {
    LUMEN_LOG_WARN("{}", f.message);
    ResetObjectLocked(f.id, after);
    proto::ObjectPayload p;
    p.set_error(proto::OBJECT_LOST);
    p.set_data(f.message);
    SetReadyLocked(f.id, p, after);
  }
  for (auto &r : plan.resubmit) {
    LUMEN_LOG_INFO("object {} was lost ({}): running task '{}' again to make it", r.id.Hex(), why,
                   r.spec.function().function_name());
    ResubmitLocked(std::move(r), after);
  }
  // A failed object nobody holds (a freed argument kept for its lineage) goes again.
  for (auto &f : plan.fail) MaybeFreeLocked(f.id, after);
}

void CoreWorker::ResetObjectLocked(const ObjectID &id, After *after) {
  ObjectEntry &e = EntryLocked(id);  // made anew for a freed argument made again
  e.ready = false;
  e.payload.Clear();
  e.data.reset();
  for (auto &n : refs_.TakeNested(id)) {
    refs_.RemoveContained(n);
    MaybeFreeLocked(n, after);
  }
}

void CoreWorker::ResubmitLocked(ObjectRecovery::Resubmit r, After *after) {
  auto task = std::make_shared<TaskEntry>();
  task->spec = std::move(r.spec);
  task->spec.set_attempt(task->spec.attempt() + 1);
  task->return_id = r.id;
  task->retries_left = r.retries_left;
  std::map<std::string, double> resources(task->spec.resources().amounts().begin(),
                                          task->spec.resources().amounts().end());
  task->key = QueueKeyLocked(resources, task->spec.runtime_env());
  ResetObjectLocked(r.id, after);
  EntryLocked(r.id).pushed_result = true;
  // The kept spec has its arguments as resolved: small values inline (kept
  // as they are), large ones by reference, resolved again (they may have
  // been lost and made again meanwhile).
  for (auto &arg : *task->spec.mutable_args()) {
    for (auto &n : arg.nested_ids()) {
      ObjectID nid = ObjectID::FromBinary(n);
      EntryLocked(nid);
      refs_.AddSubmitted(nid);
      task->arg_refs.push_back(nid);
    }
    if (!arg.is_ref()) continue;
    arg.set_in_plasma(false);
    ObjectID aid = ObjectID::FromBinary(arg.object_id());
    EntryLocked(aid);
    refs_.AddSubmitted(aid);
    task->arg_refs.push_back(aid);
  }
  ResolveAndQueueLocked(task, after);
}

std::vector<std::string> CoreWorker::DeadNodesOf(const std::vector<std::string> &nodes) {
  auto control = Control();
  if (!control.ok()) return {};
  proto::GetAllNodesReply rep;
  if (!control.value()
           ->CallSync(proto::GET_ALL_NODES, proto::GetAllNodesRequest(), &rep, kDefaultCallTimeout)
           .ok())
    return {};
  std::set<std::string> alive;
  for (auto &n : rep.nodes())
    if (n.alive()) alive.insert(n.node_id());
  std::vector<std::string> dead;
  for (auto &n : nodes)
    if (!alive.count(n)) dead.push_back(n);
  return dead;
}

bool CoreWorker::RecoverFromFailedReadLocked(const ObjectID &id, bool unreachable,
                                             std::unique_lock<std::mutex> &lock, After *after) {
  auto it = objects_.find(id);
  if (it == objects_.end()) return false;
  if (!it->second->ready) return true;  // lost and being made again already
  if (!unreachable) return false;       // a node that answered no longer has it: not a node's death
  std::vector<std::string> holders;
  const proto::ObjectPayload &p = it->second->payload;
  if (!p.node_id().empty()) holders.push_back(p.node_id());
  holders.insert(holders.end(), p.copy_node_ids().begin(), p.copy_node_ids().end());
  lock.unlock();
  std::vector<std::string> dead;
  // Counted, not timed by clock_: a test's FakeClock must not make this wait forever.
  for (int tries = static_cast<int>(kLostCopyConfirm / kLostCopyRecheck);;) {
    dead = DeadNodesOf(holders);
    if (dead.size() == holders.size() || --tries <= 0) break;
    std::this_thread::sleep_for(kLostCopyRecheck);  // the control service may not have seen the death yet
  }
  lock.lock();
  if (dead.empty()) return false;
  it = objects_.find(id);
  if (it == objects_.end()) return false;
  ObjectEntry &e = *it->second;
  if (!e.ready) return true;
  if (e.owned) {
    for (auto &n : dead) DropNodeLocked(n, after);
    return true;
  }
  // A borrower: the owner learns of the deaths first (the same connection,
  // in order), so the object is pending there when it is asked again.
  proto::DeadNodes msg;
  for (auto &n : dead) msg.add_node_ids(n);
  std::string owner_path = OwnerPath(id.Owner());
  helper_.Post([this, owner_path, msg] {
    if (auto conn = PeerConnection(owner_path)) conn->Notify(proto::NODES_DEAD, msg);
  });
  ResetObjectLocked(id, after);
  e.requested = false;
  RequestFromOwnerLocked(id, e);
  return true;
}

void CoreWorker::RegisterRecoveryHandlers() {
  dispatcher_.Register(proto::NODES_DEAD,
                       [this](const rpc::ConnectionPtr &, uint64_t, const proto::DeadNodes &req) {
                         for (auto &n : req.node_ids())
                           if (n.size() == NodeID::kSize) OnNodeDead(n);
                       });
}

}  // namespace lumen::worker
