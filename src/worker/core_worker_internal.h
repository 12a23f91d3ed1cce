// Private to the core worker: the state types shared by its source
// files (core_worker.cc: lifecycle, peers, handlers; core_worker_objects.cc:
// references and values; core_worker_get.cc: Get and Wait;
// core_worker_submit.cc: specs, argument resolution and the normal-task
// submitter's link; core_worker_actor.cc: actor creation and the actor-task
// submitter's link; core_worker_exec.cc: running pushed tasks). All fields
// are guarded by CoreWorker::mu_.
#pragma once

#include <cstdint>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "worker/core_worker.h"
#include "base/timeouts.h"

namespace lumen::worker {

/// An object tracked here: its value once known, and who waits for it. Its
/// references are counted in CoreWorker::refs_ (ReferenceCounter), which
/// tracks exactly the objects that have an entry.
struct CoreWorker::ObjectEntry {
  bool owned = false;
  bool ready = false;
  proto::ObjectPayload payload;             // valid once ready (data moved to `data`)
  std::shared_ptr<const std::string> data;  // inline bytes or error message
  bool requested = false;                   // non-owner: status request in flight
  std::vector<std::pair<rpc::ConnectionPtr, uint64_t>> status_waiters;
  std::vector<std::function<void()>> on_ready;
  int blocked_waiters = 0;     // Get/Wait callers sleeping until this one is ready
  bool pushed_result = false;  // a task or actor call pushed from here: Get reads its reply itself
};

/// The actor-task submitter's transport (this process's connections) and
/// owner (what ends a call here, mu_ held); core_worker_actor.cc.
class CoreWorker::ActorTaskLink final : public ActorTransport, public ActorTaskSubmitter::Owner {
 public:
  explicit ActorTaskLink(CoreWorker &cw) : cw_(cw) {}

  void ListenForActorUpdates(std::function<void(const proto::ActorInfo &info)> on_update) override;
  void SubscribeActor(const Peer &control, const ActorID &id, rpc::ResponseCallback cb) override;
  void ConnectToActor(const proto::Address &address, std::function<void(Peer peer)> done) override;
  void PushActorTask(const Peer &peer, const proto::TaskSpec &spec, bool write_now,
                     rpc::ResponseCallback cb) override;

  void FailTask(TaskEntry &task, proto::ErrorType type, const std::string &message, After *after) override;
  void CompleteTask(TaskEntry &task, const proto::PushTaskReply &reply, After *after) override;
  void FinishTask(TaskEntry &task, After *after) override;

 private:
  CoreWorker &cw_;
};

// Connects the normal-task submitter to this core worker
// (core_worker_submit.cc): what it sends goes over this process's
// connections (a Peer is an rpc::Connection), and what it decides lands in
// the core worker's objects. Called as the submitter's interfaces say.
class CoreWorker::NormalTaskLink final : public LeaseTransport, public NormalTaskSubmitter::Owner {
 public:
  explicit NormalTaskLink(CoreWorker &cw) : cw_(cw) {}

  void RequestLease(const Peer &node, proto::WorkerLeaseRequest request, rpc::ResponseCallback cb) override;
  void CancelLeases(const Peer &node, const proto::WorkerLeaseRequest &request) override;
  void ReturnWorker(const Peer &node, uint64_t lease_id, bool worker_failed) override;
  Peer ConnectNode(const std::string &address) override;
  Peer ConnectWorker(const proto::Address &worker) override;
  void PushTask(const Peer &worker, const proto::PushTaskRequest &request, bool write_now,
                rpc::ResponseCallback cb) override;
  bool NodeConnected() override;
  std::string NodeName(const Peer &node) override;

  void CheckForLoss(After *after) override;
  void FailTask(TaskEntry &task, proto::ErrorType type, const std::string &message, After *after) override;
  void CompleteTask(TaskEntry &task, const proto::PushTaskReply &reply, After *after) override;

 private:
  rpc::Connection &NodeOf(const Peer &node);  // null: this process's node

  CoreWorker &cw_;
};

/// How a task's caller sees a result that could not be stored: a full
/// store as such, a value that cannot be stored at all as the task's own
/// error, anything else (the node unreachable) as a lost object.
inline proto::ErrorType StoreFailureType(const Status &st) {
  switch (st.code()) {
    case StatusCode::kObjectStoreFull:
      return proto::OBJECT_STORE_FULL;
    case StatusCode::kInvalidArgument:
      return proto::TASK_EXECUTION_EXCEPTION;
    case StatusCode::kWorkerDied:
      return proto::WORKER_DIED;
    default:
      return proto::OBJECT_LOST;
  }
}

// Whether waiting threads run the event loop themselves (EventLoop::Lead):
// the executor while idle, a caller blocked in Get. LUMEN_LEND_LOOP=0 turns
// it off, to compare.
bool LendLoopEnabled();

class CoreWorker::PlasmaPin {
 public:
  PlasmaPin(CoreWorker *cw, ObjectID id, const char *data, size_t size)
      : cw_(cw), id_(id), data_(data), size_(size) {}
  ~PlasmaPin() {
    proto::ObjectIdList release;
    release.add_object_ids(id_.Binary());
    if (cw_->node_ && cw_->node_->IsOpen()) cw_->node_->Notify(proto::RELEASE_OBJECTS, release);
  }
  const char *data() const { return data_; }
  size_t size() const { return size_; }

 private:
  CoreWorker *cw_;
  ObjectID id_;
  const char *data_;
  size_t size_;
};

}  // namespace lumen::worker
