// Private to the core worker: the state types shared by its source
// files (core_worker.cc: lifecycle, peers, handlers; core_worker_objects.cc:
// references and values; core_worker_get.cc: Get and Wait;
// core_worker_submit.cc: leases and task submission; core_worker_exec.cc:
// running pushed tasks). All fields are guarded by CoreWorker::mu_.
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
#include "worker/pipeline_policy.h"
#include "base/timeouts.h"

namespace lumen::worker {

/// Long-lived calls (lease requests, pushed tasks, owner long-polls) have no deadline in practice.

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

struct CoreWorker::LeasedWorker {
  uint64_t lease_id = 0;
  proto::Address address;
  rpc::ConnectionPtr conn;
  rpc::ConnectionPtr lease_node;  // the node that granted it, when another node spilled it there
  std::vector<int> gpu_ids;       // devices the lease holds
  int in_flight = 0;
  Clock::TimePoint idle_since;
  // Its last sign of progress: the last reply, or the push that ended an
  // idle spell. A worker silent for much longer than tasks take is running
  // a long task (or is stopped): nothing more is pipelined onto it.
  Clock::TimePoint last_progress;
  int maybe_long = 0;  // tasks in flight of functions not known to be short when pushed
  std::vector<std::shared_ptr<TaskEntry>> running;
};

struct CoreWorker::SchedulingQueue {
  std::string key;
  std::map<std::string, double> resources;
  std::string runtime_env;  // its tasks' (serialized ray::RuntimeEnv), which their workers start with
  std::deque<std::shared_ptr<TaskEntry>> tasks;
  std::map<uint64_t, std::unique_ptr<LeasedWorker>> workers;  // by lease id
  size_t pending_leases = 0;
  bool cancel_sent = false;  // pending requests were canceled since the last request
  // Other nodes this queue's lease requests were spilled to (SPILLBACK), by
  // address: a cancel goes to them too.
  std::map<std::string, rpc::ConnectionPtr> spill_nodes;
  PipelinePolicy pipeline;  // how many tasks each of `workers` takes at once
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
