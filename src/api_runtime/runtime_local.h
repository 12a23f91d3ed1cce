// Local mode (RayConfig::local_mode = true): the whole ray::internal::RayRuntime
// in one process, for debugging under a plain debugger. No control service,
// node service, fork server or worker process is started; every task, actor
// and object lives in the driver's memory, and RAY_REMOTE functions come from
// the driver binary's own FunctionManager.
//
// Threading model:
// - Remote() never runs user code on the caller's thread: it records the call
//   and returns at once.
// - Normal tasks run on an in-process pool of kTaskThreads (10, as in Ray),
//   started on demand. A pool thread that blocks in Get/Wait on an object that
//   is not ready lends out its slot: while work is queued the pool starts
//   another thread, so tasks that wait on tasks they submitted cannot exhaust
//   it; surplus threads exit when idle.
// - Each actor has its own threads: max_concurrency of them (default 1) take
//   calls from one FIFO queue, so with the default the calls run one at a time
//   in submission order. The constructor runs first, on the actor's first
//   thread. ObjectRef arguments are resolved on the executing thread just
//   before the call runs.
// - Objects live in an in-memory table behind one mutex; Get and Wait sleep on
//   a condition variable. Objects are freed when their last reference goes
//   (ObjectRef copies, pending calls that take them, objects that contain them).
// - Shutdown() marks every actor dead, fails every unfinished object (so
//   blocked Gets return), drops queued tasks and joins every thread. Threads
//   stuck in user code keep Shutdown waiting.
// - The runtime context (runtime_context.h) describes one node, this process,
//   with the resources given at construction; its ids are the driver's, and
//   a task's or actor method's own id on the thread that runs it.
// All public methods are thread-safe. Errors become the ray::internal exception
// types at this API edge; the parts below it report Status.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <ray/api/ray_runtime.h>

#include "api_runtime/runtime_invoke.h"
#include "api_runtime/runtime_nodes.h"
#include "base/id.h"

namespace lumen::api {

class LocalObjectTable;
class LocalTaskPool;
struct LocalActor;
struct LocalCall;

class LocalModeRuntime : public ray::internal::RayRuntime {
 public:
  static constexpr size_t kTaskThreads = 10;
  /// The job id the context reports: there is no control service to give one.
  static constexpr uint32_t kLocalJobId = 1;

  /// `ray_namespace` is the job namespace (never empty); `resources` what
  /// the one node has.
  LocalModeRuntime(std::string ray_namespace, ResourceMap resources);
  ~LocalModeRuntime() override;
  LocalModeRuntime(const LocalModeRuntime &) = delete;
  LocalModeRuntime &operator=(const LocalModeRuntime &) = delete;

  /// Stops everything and joins every thread; later submissions throw.
  /// Idempotent.
  void Shutdown();

  std::string Put(std::shared_ptr<msgpack::sbuffer> data,
                  const std::vector<std::string> &nested_ids) override;
  std::string PutSerialized(size_t size, const SerializedWriter &write,
                            const std::vector<std::string> &nested_ids) override;
  std::shared_ptr<ray::internal::Buffer> Get(const std::string &id, int timeout_ms) override;
  std::vector<std::shared_ptr<ray::internal::Buffer>> Get(const std::vector<std::string> &ids,
                                                          int timeout_ms) override;
  std::vector<bool> Wait(const std::vector<std::string> &ids, int num_objects, int timeout_ms) override;
  void AddLocalReference(const std::string &id) override;
  void RemoveLocalReference(const std::string &id) override;

  std::string Call(const ray::internal::RemoteFunctionHolder &fn, std::vector<ray::internal::TaskArg> &args,
                   const ray::internal::CallOptions &options) override;
  std::string CreateActor(const ray::internal::RemoteFunctionHolder &fn,
                          std::vector<ray::internal::TaskArg> &args,
                          const ray::internal::ActorCreationOptions &options) override;
  std::string CallActor(const ray::internal::RemoteFunctionHolder &fn, const std::string &actor_id,
                        std::vector<ray::internal::TaskArg> &args,
                        const ray::internal::CallOptions &options) override;
  std::string GetActorId(const std::string &actor_name, const std::string &ray_namespace) override;
  void KillActor(const std::string &actor_id, bool no_restart) override;
  void ExitActor() override;
  bool WasCurrentActorRestarted() override { return false; }
  std::string SerializeActorHandle(const std::string &actor_id) override { return actor_id; }
  std::string DeserializeAndRegisterActorHandle(const std::string &serialized) override { return serialized; }

  ray::PlacementGroup CreatePlacementGroup(const ray::PlacementGroupCreationOptions &create_options) override;
  void RemovePlacementGroup(const std::string &group_id) override;
  bool WaitPlacementGroupReady(const std::string &group_id, int64_t timeout_seconds) override;
  std::vector<ray::PlacementGroup> GetAllPlacementGroups() override;
  ray::PlacementGroup GetPlacementGroupById(const std::string &id) override;
  ray::PlacementGroup GetPlacementGroup(const std::string &name) override;

  std::string GetNamespace() override { return namespace_; }
  bool IsLocalMode() override { return true; }

  ray::internal::ContextIds GetContextIds() override;
  ResourceMap GetAssignedResources() override;
  std::vector<ray::NodeInfo> GetNodes() override;
  bool KvPut(const std::string &ns, const std::string &key, const std::string &value,
             bool overwrite) override;
  std::optional<std::string> KvGet(const std::string &ns, const std::string &key) override;
  int KvDel(const std::string &ns, const std::string &key) override;
  std::vector<std::string> KvKeys(const std::string &ns, const std::string &prefix) override;
  ResourceMap GetClusterResources() override { return resources_; }
  ResourceMap GetAvailableResources() override;

 private:
  /// Builds a call: takes the arguments, pins the objects they refer to and,
  /// unless it is a constructor, creates its pending return object.
  std::shared_ptr<LocalCall> MakeCall(InvokeKind kind, const ray::internal::RemoteFunctionHolder &fn,
                                      std::vector<ray::internal::TaskArg> &args);
  /// Runs a call on this thread: resolves its arguments, invokes the function
  /// and stores the result (or error) under its return id.
  void RunCall(LocalCall &call, uint64_t actor_instance, InvokeOutcome *out);
  /// An actor thread: the first one (`creation` set) runs the constructor,
  /// then every thread runs queued calls until the actor dies.
  void RunActor(const std::shared_ptr<LocalActor> &actor, const std::shared_ptr<LocalCall> &creation);
  /// Marks an actor dead, frees its name and fails its queued and running calls.
  void MarkActorDeadLocked(LocalActor &actor, const std::string &cause);
  TaskID NewTaskId();
  std::string NewObjectId();
  void CheckRunning() const;

  const std::string namespace_;
  const ResourceMap resources_;
  const WorkerID driver_id_ = WorkerID::FromRandom();
  const NodeID node_id_ = NodeID::FromRandom();
  std::unique_ptr<LocalObjectTable> objects_;
  std::unique_ptr<LocalTaskPool> pool_;

  mutable std::mutex mu_;  // guards everything below
  bool shut_down_ = false;
  uint64_t next_seq_ = 0;
  std::unordered_map<std::string, std::shared_ptr<LocalActor>> actors_;     // dead ones stay as tombstones
  std::map<std::pair<std::string, std::string>, std::string> actor_names_;  // (namespace, name) -> id
  std::map<std::string, ray::PlacementGroup> groups_;                       // by id, removed ones too
  std::map<std::pair<std::string, std::string>, std::string> kv_;           // (ns, key) -> value
};

}  // namespace lumen::api
