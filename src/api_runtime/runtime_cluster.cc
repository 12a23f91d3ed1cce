// The cluster-mode implementation of ray::internal::RayRuntime over the core
// worker, plus ray::Init / Shutdown / IsInitialized and the task executor that
// runs registered functions in workers. This is the public API edge: runtime
// Status values become the ray::internal exception types here.
//
// Threading: Init/Shutdown are serialised by a mutex; the runtime object is
// shared (shared_ptr) and its methods are thread-safe because the core
// worker's are.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <ray/api.h>
#include <ray/api/internal_api.h>

#include "base/heap_tuning.h"
#include "base/open_files.h"
#include "base/parallel_copy.h"
#include "api_runtime/runtime_checks.h"
#include "api_runtime/runtime_config.h"
#include "api_runtime/runtime_fork_server.h"
#include "api_runtime/runtime_daemons.h"
#include "api_runtime/runtime_head.h"
#include "api_runtime/runtime_invoke.h"
#include "api_runtime/runtime_join.h"
#include "api_runtime/runtime_local.h"
#include "api_runtime/runtime_nodes.h"
#include "base/encoding.h"
#include "base/logging.h"
#include "base/mutex.h"
#include "base/resource_names.h"
#include "base/settings.h"
#include "base/timeouts.h"
#include "protocol/control.pb.h"
#include "worker/core_worker.h"
#include "worker/metric_recorder.h"
#include "worker/program_upload.h"

namespace lumen::api {
namespace {

using ray::internal::RayException;

std::vector<ObjectID> ToIds(const std::vector<std::string> &ids) {
  std::vector<ObjectID> out;
  out.reserve(ids.size());
  for (auto &s : ids) out.push_back(ObjectID::FromBinary(s));
  return out;
}

[[noreturn]] void ThrowObjectError(proto::ErrorType type, const std::string &message) {
  switch (type) {
    case proto::TASK_EXECUTION_EXCEPTION:
    case proto::FUNCTION_NOT_FOUND:
      throw ray::internal::RayTaskException(message);
    case proto::WORKER_DIED:
      throw ray::internal::RayWorkerException(message);
    case proto::ACTOR_DIED:
      throw ray::internal::RayActorException(message);
    case proto::OBJECT_LOST:
      throw ray::internal::UnreconstructableException(message);
    case proto::RUNTIME_ENV_FAILED:
      throw ray::internal::RayRuntimeEnvException(message);
    default:
      throw RayException(message);
  }
}

[[noreturn]] void ThrowStatus(const Status &st, const std::string &what) {
  if (st.code() == StatusCode::kTimedOut)
    throw ray::internal::RayTimeoutException(what + ": " + st.message());
  if (st.code() == StatusCode::kObjectLost) throw ray::internal::UnreconstructableException(st.message());
  // A process the job depends on is gone (CoreWorker::OnLost): the message names it.
  if (st.code() == StatusCode::kWorkerDied)
    throw ray::internal::RayWorkerException(what + ": " + st.message());
  throw RayException(what + ": " + st.ToString());
}

class ObjectBuffer : public ray::internal::Buffer {
 public:
  explicit ObjectBuffer(worker::RayObjectPtr obj) : obj_(std::move(obj)) {}
  const char *Data() const override { return obj_->data; }
  size_t Size() const override { return obj_->size; }

 private:
  worker::RayObjectPtr obj_;
};

// The actor this worker hosts: the pointer its factory returned, what
// destroys it, and whether it ended through ray::ExitActor().
std::atomic<uint64_t> g_actor_instance{0};
std::atomic<ray::internal::ActorDeleter> g_actor_deleter{nullptr};
std::atomic<bool> g_actor_exited{false};
// What the actor this process hosts holds for its whole life: its resources
// and GPU devices (set by its creation task). CUDA_VISIBLE_DEVICES is never
// set here: the node starts a worker with the devices of the leases it serves
// in its environment (a worker serves only leases with those devices).
struct Holding {
  std::vector<int> gpu_ids;
  ResourceMap resources;
};
Mutex g_actor_holding_mu;
Holding g_actor_holding GUARDED_BY(g_actor_holding_mu);
// The task or actor method running on this executor thread (null: none),
// which outlives its run: the context reads it only when asked, so running a
// task costs no more than setting this.
thread_local const proto::TaskSpec *t_running = nullptr;

std::vector<int> CurrentGpuIds() {
  if (t_running && t_running->type() == proto::NORMAL_TASK && t_running->gpu_ids_size() > 0)
    return std::vector<int>(t_running->gpu_ids().begin(), t_running->gpu_ids().end());
  MutexLock lock(g_actor_holding_mu);
  return g_actor_holding.gpu_ids;
}

std::string CurrentTaskId() { return t_running ? ToHex(t_running->task_id()) : std::string(); }

ResourceMap CurrentAssignedResources(bool in_actor) {
  if (!t_running) return {};  // the driver, or a thread of the user's own
  if (!in_actor) {
    ResourceMap held;
    for (auto &[resource, amount] : t_running->resources().amounts()) held[resource] = amount;
    return held;
  }
  MutexLock lock(g_actor_holding_mu);
  return g_actor_holding.resources;
}

void ExecuteRegisteredFunction(const proto::TaskSpec &spec, const std::vector<worker::ArgBytes> &args,
                               worker::ExecResult *result) {
  const std::string &name = spec.function().function_name();
  const bool actor_task = spec.type() == proto::ACTOR_TASK;
  const bool creation = spec.type() == proto::ACTOR_CREATION_TASK;
  if (actor_task && g_actor_instance == 0) {
    result->error = proto::ACTOR_DIED;
    result->error_message = "This worker hosts no actor, so " + name + " cannot run.";
    return;
  }
  std::vector<ray::internal::ArgView> views;
  views.reserve(args.size());
  for (auto &a : args) views.push_back({a.data, a.size, a.object_id, a.owner});
  if (creation) {
    Holding holding;
    holding.gpu_ids.assign(spec.gpu_ids().begin(), spec.gpu_ids().end());
    for (auto &[resource, amount] : spec.resources().amounts()) holding.resources[resource] = amount;
    MutexLock lock(g_actor_holding_mu);
    g_actor_holding = std::move(holding);
  }
  t_running = &spec;
  struct ClearRunning {
    ~ClearRunning() { t_running = nullptr; }
  } clear_running;
  InvokeOutcome out;
  InvokeRegisteredFunction(actor_task ? InvokeKind::kActorMethod
                           : creation ? InvokeKind::kActorCreation
                                      : InvokeKind::kTask,
                           name, g_actor_instance.load(), views, &out);
  switch (out.code) {
    case InvokeOutcome::kOk:
      result->size = out.data.size();
      // Runs after the call, from the core worker (StoreValue): a deferred
      // writer serializes the value into the store's allocation.
      result->write =
          [data = std::make_shared<ray::internal::SerializedResult>(std::move(out.data))](char *dst) {
            try {
              data->WriteTo(dst);
              return true;
            } catch (...) {
              return false;
            }
          };
      for (auto &n : out.nested) result->nested.push_back(ObjectID::FromBinary(n));
      if (creation) {
        g_actor_deleter = out.actor_deleter;
        g_actor_instance = out.actor_instance;
      }
      break;
    case InvokeOutcome::kNotFound:
      result->error = proto::FUNCTION_NOT_FOUND;
      result->error_message = out.message;
      break;
    case InvokeOutcome::kActorExited:
      g_actor_exited = true;
      result->error = proto::ACTOR_DIED;
      result->error_message = out.message;
      result->exit_worker = true;
      break;
    case InvokeOutcome::kUserException:
      result->error = proto::TASK_EXECUTION_EXCEPTION;
      result->error_message = out.message;
      break;
  }
}

/// Local references to the values ToSubmitArgs stored, dropped when this goes.
struct StoredArgs {
  explicit StoredArgs(worker::CoreWorker &core) : core(core) {}
  ~StoredArgs() {
    for (auto &id : ids) core.RemoveLocalReference(id);
  }
  worker::CoreWorker &core;
  std::vector<ObjectID> ids;
};

class ClusterRuntime : public ray::internal::RayRuntime {
 public:
  explicit ClusterRuntime(std::unique_ptr<worker::CoreWorker> core) : core_(std::move(core)) {}

  worker::CoreWorker &core() { return *core_; }
  void Shutdown() { core_->Shutdown(); }

  std::string Put(std::shared_ptr<msgpack::sbuffer> data, const std::vector<std::string> &nested) override {
    return PutSerialized(
        data->size(), [&data](char *dst) { lumen::ParallelCopy(dst, data->data(), data->size()); }, nested);
  }

  std::string PutSerialized(size_t size, const SerializedWriter &write,
                            const std::vector<std::string> &nested) override {
    // The writer runs user adaptors that may throw: carry the exception
    // across the core worker (which does not throw) and rethrow it here.
    std::exception_ptr error;
    auto id = core_->Put(
        size,
        [&](char *dst) {
          try {
            write(dst);
            return true;
          } catch (...) {
            error = std::current_exception();
            return false;
          }
        },
        ToIds(nested));
    if (error) std::rethrow_exception(error);
    if (!id.ok()) {
      if (id.status().code() == StatusCode::kObjectStoreFull)
        throw RayException("Put failed: the object store is full: " + id.status().message());
      ThrowStatus(id.status(), "Put failed");
    }
    return id->Binary();
  }

  std::shared_ptr<ray::internal::Buffer> Get(const std::string &id, int timeout_ms) override {
    return Get(std::vector<std::string>{id}, timeout_ms)[0];
  }

  std::vector<std::shared_ptr<ray::internal::Buffer>> Get(const std::vector<std::string> &ids,
                                                          int timeout_ms) override {
    CheckObjectIds(ids, "Get");
    std::vector<worker::RayObjectPtr> objs;
    Status st = core_->Get(ToIds(ids), timeout_ms, &objs);
    if (!st.ok()) ThrowStatus(st, "Get object error");
    std::vector<std::shared_ptr<ray::internal::Buffer>> out;
    out.reserve(objs.size());
    for (auto &o : objs) {
      if (o->error != proto::NO_ERROR) ThrowObjectError(o->error, o->ErrorMessage());
      out.push_back(std::make_shared<ObjectBuffer>(o));
    }
    return out;
  }

  std::vector<bool> Wait(const std::vector<std::string> &ids, int num_objects, int timeout_ms) override {
    CheckWaitArgs(ids, num_objects);
    auto ready = core_->Wait(ToIds(ids), num_objects, timeout_ms);
    KeepFirstReady(num_objects, &ready);
    return ready;
  }

  void AddLocalReference(const std::string &id) override {
    core_->AddLocalReference(ObjectID::FromBinary(id));
  }
  void RemoveLocalReference(const std::string &id) override {
    core_->RemoveLocalReference(ObjectID::FromBinary(id));
  }

  std::string Call(const ray::internal::RemoteFunctionHolder &fn, std::vector<ray::internal::TaskArg> &args,
                   const ray::internal::CallOptions &options) override {
    CheckCppFunction(fn, "calls");
    CheckTaskCall(args, options);
    StoredArgs held(*core_);
    auto submit = ToSubmitArgs(args, &held);
    worker::TaskOptions opts;
    opts.name = options.name;
    for (auto &[k, v] : options.resources) opts.resources[k] = v;
    if (!options.group.Empty()) {
      if (opts.resources.empty()) opts.resources["CPU"] = 1;  // a task's default, taken from the bundle
      opts.resources = InGroup(opts.resources, options.group, options.bundle_index);
    }
    opts.runtime_env = options.serialized_runtime_env;
    opts.max_retries = 1;  // as Ray's C++ API: one retry when the worker dies
    return core_->SubmitTask(fn.function_name, std::move(submit), opts).Binary();
  }

  [[noreturn]] void NotYet(const char *what) {
    throw RayException(std::string(what) + " is not supported by this Lumen build yet");
  }
  std::string CreateActor(const ray::internal::RemoteFunctionHolder &fn,
                          std::vector<ray::internal::TaskArg> &args,
                          const ray::internal::ActorCreationOptions &options) override {
    CheckCppFunction(fn, "actors");
    CheckActorCreation(args, options);
    worker::ActorOptions opts;
    opts.name = options.name;
    opts.ray_namespace = options.ray_namespace.empty() ? core_->ray_namespace() : options.ray_namespace;
    for (auto &[k, v] : options.resources) opts.resources[k] = v;
    opts.max_restarts = options.max_restarts;
    opts.max_concurrency = options.max_concurrency;
    opts.detached = core_->job_default_detached();
    opts.runtime_env = options.serialized_runtime_env;
    if (!options.group.Empty()) {
      // Placed with the bundle's resources: 1 CPU of it by default (held
      // only while placing, as outside groups), else what it asked for.
      opts.placement =
          InGroup(opts.resources.empty() ? std::map<std::string, double>{{"CPU", 1}} : opts.resources,
                  options.group, options.bundle_index);
      opts.resources = InGroup(opts.resources, options.group, options.bundle_index);
      opts.placement_group_id = options.group.GetID();
    }
    StoredArgs held(*core_);
    auto id = core_->CreateActor(fn.function_name, fn.class_name, ToSubmitArgs(args, &held), opts);
    if (!id.ok()) {
      if (id.status().code() == StatusCode::kAlreadyExists)
        throw RayException("Failed to create actor: " + id.status().message());
      ThrowStatus(id.status(), "Failed to create actor " + fn.class_name);
    }
    return id->Binary();
  }

  std::string CallActor(const ray::internal::RemoteFunctionHolder &fn, const std::string &actor_id,
                        std::vector<ray::internal::TaskArg> &args,
                        const ray::internal::CallOptions &options) override {
    CheckCppFunction(fn, "actor calls");
    CheckActorId(actor_id, "Calling an actor");
    CheckTaskCall(args, options);
    worker::TaskOptions opts;
    opts.name = options.name;
    StoredArgs held(*core_);
    return core_
        ->SubmitActorTask(ActorID::FromBinary(actor_id), fn.function_name, ToSubmitArgs(args, &held), opts)
        .Binary();
  }

  std::string GetActorId(const std::string &name, const std::string &ray_namespace) override {
    auto id = core_->GetNamedActor(name, ray_namespace.empty() ? core_->ray_namespace() : ray_namespace);
    if (!id.ok()) ThrowStatus(id.status(), "GetActor failed");
    return id->IsNil() ? std::string() : id->Binary();
  }

  void KillActor(const std::string &actor_id, bool no_restart) override {
    CheckActorId(actor_id, "Kill");
    Status st = core_->KillActor(ActorID::FromBinary(actor_id), no_restart);
    if (!st.ok()) ThrowStatus(st, "Kill failed");
  }

  void ExitActor() override {
    if (core_->current_actor_id().IsNil())
      throw std::logic_error("ray::ExitActor() can only be called from an actor method");
    throw IntentionalActorExit{};
  }

  bool WasCurrentActorRestarted() override { return core_->actor_restarted(); }
  // A handle travels as its actor id: whoever holds it asks the control
  // service where the actor is on first use.
  std::string SerializeActorHandle(const std::string &actor_id) override { return actor_id; }
  std::string DeserializeAndRegisterActorHandle(const std::string &s) override { return s; }
  ray::PlacementGroup CreatePlacementGroup(const ray::PlacementGroupCreationOptions &options) override {
    CheckPlacementGroup(options);
    proto::PlacementGroupInfo info;
    info.set_group_id(NewPlacementGroupId());
    info.set_name(options.name);
    info.set_ray_namespace(core_->ray_namespace());
    info.set_strategy(static_cast<int>(options.strategy));
    info.set_job_id(core_->job_id());
    for (auto &bundle : options.bundles) {
      auto *b = info.add_bundles();
      for (auto &[k, v] : bundle) (*b->mutable_amounts())[k] = v;
    }
    proto::CreatePlacementGroupRequest req;
    *req.mutable_info() = info;
    proto::Empty rep;
    Status st = ControlCall(proto::CREATE_PLACEMENT_GROUP, req, &rep);
    if (st.code() == StatusCode::kAlreadyExists)
      throw RayException("Failed to create placement group: " + st.message());
    if (!st.ok()) ThrowStatus(st, "Failed to create placement group");
    return ray::PlacementGroup(info.group_id(), options, ray::PlacementGroupState::PENDING);
  }

  void RemovePlacementGroup(const std::string &group_id) override {
    proto::PlacementGroupIdRequest req;
    req.set_group_id(group_id);
    proto::Empty rep;
    Status st = ControlCall(proto::REMOVE_PLACEMENT_GROUP, req, &rep);
    if (!st.ok()) ThrowStatus(st, "Failed to remove placement group");
  }

  bool WaitPlacementGroupReady(const std::string &group_id, int64_t timeout_seconds) override {
    proto::WaitPlacementGroupRequest req;
    req.set_group_id(group_id);
    req.set_timeout_ms(std::max<int64_t>(0, timeout_seconds) * 1000);
    proto::WaitPlacementGroupReply rep;
    Status st = ControlCall(proto::WAIT_PLACEMENT_GROUP, req, &rep,
                            std::chrono::milliseconds(req.timeout_ms()) + kPlacementGroupWaitGrace);
    if (!st.ok()) ThrowStatus(st, "Failed to wait for placement group");
    return rep.ready();
  }

  std::vector<ray::PlacementGroup> GetAllPlacementGroups() override {
    proto::GetAllPlacementGroupsReply rep;
    Status st = ControlCall(proto::GET_ALL_PLACEMENT_GROUPS, proto::GetAllPlacementGroupsRequest(), &rep);
    if (!st.ok()) ThrowStatus(st, "Failed to list placement groups");
    std::vector<ray::PlacementGroup> out;
    for (auto &g : rep.groups()) out.push_back(FromInfo(g));
    return out;
  }

  ray::PlacementGroup GetPlacementGroupById(const std::string &id) override {
    proto::GetPlacementGroupRequest req;
    req.set_group_id(id);
    return GetGroup(req);
  }

  ray::PlacementGroup GetPlacementGroup(const std::string &name) override {
    proto::GetPlacementGroupRequest req;
    req.set_name(name);
    req.set_ray_namespace(core_->ray_namespace());
    return GetGroup(req);
  }

  std::vector<int> GetGpuIds() override { return CurrentGpuIds(); }

  ray::internal::ContextIds GetContextIds() override {
    ray::internal::ContextIds ids;
    ids.job_id = JobIdHex(core_->job_id());
    ids.node_id = ToHex(core_->node_info().node_id());
    ids.task_id = CurrentTaskId();
    if (!core_->current_actor_id().IsNil()) ids.actor_id = core_->current_actor_id().Hex();
    ids.worker_id = core_->worker_id().Hex();
    return ids;
  }
  ResourceMap GetAssignedResources() override {
    return CurrentAssignedResources(!core_->current_actor_id().IsNil());
  }
  std::vector<ray::NodeInfo> GetNodes() override { return ToPublicNodes(AllNodes(true)); }
  ResourceMap GetClusterResources() override { return SumTotals(AllNodes(true)); }
  ResourceMap GetAvailableResources() override { return SumAvailable(AllNodes(true)); }

  std::string GetNamespace() override { return core_->ray_namespace(); }
  bool IsLocalMode() override { return false; }

  bool KvPut(const std::string &ns, const std::string &key, const std::string &value,
             bool overwrite) override {
    proto::KvPutRequest req;
    req.set_ns(ns);
    req.set_key(key);
    req.set_value(value);
    req.set_overwrite(overwrite);
    proto::KvPutReply rep;
    Status st = ControlCall(proto::KV_PUT, req, &rep);
    if (!st.ok()) ThrowStatus(st, "Failed to put a key in the KV store");
    return rep.added();
  }
  std::optional<std::string> KvGet(const std::string &ns, const std::string &key) override {
    proto::KvGetRequest req;
    req.set_ns(ns);
    req.set_key(key);
    proto::KvGetReply rep;
    Status st = ControlCall(proto::KV_GET, req, &rep);
    if (!st.ok()) ThrowStatus(st, "Failed to get a key from the KV store");
    if (!rep.found()) return std::nullopt;
    return std::move(*rep.mutable_value());
  }
  int KvDel(const std::string &ns, const std::string &key) override {
    proto::KvDelRequest req;
    req.set_ns(ns);
    req.set_key(key);
    proto::KvDelReply rep;
    Status st = ControlCall(proto::KV_DEL, req, &rep);
    if (!st.ok()) ThrowStatus(st, "Failed to delete a key from the KV store");
    return rep.deleted();
  }
  std::vector<std::string> KvKeys(const std::string &ns, const std::string &prefix) override {
    proto::KvKeysRequest req;
    req.set_ns(ns);
    req.set_prefix(prefix);
    proto::KvKeysReply rep;
    Status st = ControlCall(proto::KV_KEYS, req, &rep);
    if (!st.ok()) ThrowStatus(st, "Failed to list keys of the KV store");
    return {rep.keys().begin(), rep.keys().end()};
  }

 private:
  Status ControlCall(uint16_t method, const google::protobuf::MessageLite &req,
                     google::protobuf::MessageLite *rep,
                     std::chrono::milliseconds timeout = kDefaultCallTimeout) {
    auto control = core_->Control();
    if (!control.ok()) return control.status();
    return control.value()->CallSync(method, req, rep, timeout);
  }

  /// The control service's node table; `with_usage`: each alive node's
  /// resources as it reports them now.
  proto::GetAllNodesReply AllNodes(bool with_usage) {
    proto::GetAllNodesRequest req;
    req.set_with_usage(with_usage);
    proto::GetAllNodesReply rep;
    // Nodes that do not answer are left out by the control service after
    // kNodeUsageTimeout: the call waits for that answer.
    Status st = ControlCall(proto::GET_ALL_NODES, req, &rep, kNodeUsageTimeout + kDefaultCallTimeout);
    if (!st.ok()) ThrowStatus(st, "Failed to list the cluster's nodes");
    return rep;
  }

  ray::PlacementGroup GetGroup(const proto::GetPlacementGroupRequest &req) {
    proto::GetPlacementGroupReply rep;
    Status st = ControlCall(proto::GET_PLACEMENT_GROUP, req, &rep);
    if (!st.ok()) ThrowStatus(st, "Failed to get placement group");
    return rep.found() ? FromInfo(rep.info()) : ray::PlacementGroup();
  }

  static ray::PlacementGroup FromInfo(const proto::PlacementGroupInfo &info) {
    ray::PlacementGroupCreationOptions options;
    options.name = info.name();
    options.strategy = static_cast<ray::PlacementStrategy>(info.strategy());
    for (auto &b : info.bundles()) {
      std::unordered_map<std::string, double> bundle(b.amounts().begin(), b.amounts().end());
      options.bundles.push_back(std::move(bundle));
    }
    auto state = info.state() == proto::PG_CREATED        ? ray::PlacementGroupState::CREATED
                 : info.state() == proto::PG_REMOVED      ? ray::PlacementGroupState::REMOVED
                 : info.state() == proto::PG_RESCHEDULING ? ray::PlacementGroupState::RESCHEDULING
                                                          : ray::PlacementGroupState::PENDING;
    return ray::PlacementGroup(info.group_id(), options, state);
  }

  /// Resources renamed into a bundle of the group (Ray's naming), so that
  /// only the group's reservation can satisfy them.
  static std::map<std::string, double> InGroup(const std::map<std::string, double> &resources,
                                               const ray::PlacementGroup &group, int bundle_index) {
    // The bundle index was checked with the call (CheckTaskCall, CheckActorCreation).
    std::map<std::string, double> out;
    for (auto &[k, v] : resources) out[GroupResourceName(k, bundle_index, group.GetID())] = v;
    return out;
  }

  /// By-value arguments at or above the inline threshold go into the object
  /// store first and travel as references, as Ray does: a task message stays
  /// small whatever the argument's size (a frame holds at most 128 MiB), and
  /// the worker reads the value in place. `held` keeps each stored value
  /// until the task that takes it is submitted; the task's reference is then
  /// the only one, so the value goes when the task is done.
  std::vector<worker::SubmitArg> ToSubmitArgs(std::vector<ray::internal::TaskArg> &args, StoredArgs *held) {
    std::vector<worker::SubmitArg> submit;
    submit.reserve(args.size());
    for (auto &a : args) {
      worker::SubmitArg s;
      if (!a.object_id.empty()) {
        s.ref = ObjectID::FromBinary(a.object_id);
      } else if (a.value->size() >= core_->inline_threshold()) {
        auto value = std::move(a.value);
        auto id = core_->Put(
            value->size(),
            [&value](char *dst) {
              lumen::ParallelCopy(dst, value->data(), value->size());
              return true;
            },
            ToIds(a.nested_ids));
        if (!id.ok()) {
          if (id.status().code() == StatusCode::kObjectStoreFull)
            throw RayException("Storing a large task argument failed: the object store is full: " +
                               id.status().message());
          ThrowStatus(id.status(), "Storing a large task argument failed");
        }
        core_->AddLocalReference(id.value());
        held->ids.push_back(id.value());
        s.ref = id.value();
      } else {
        s.value = std::move(a.value);
        s.nested = ToIds(a.nested_ids);
      }
      submit.push_back(std::move(s));
    }
    return submit;
  }

  std::unique_ptr<worker::CoreWorker> core_;
};

// ---- process-wide state ----
std::mutex g_init_mu;
std::mutex g_runtime_mu;
std::shared_ptr<ClusterRuntime> g_runtime;
std::shared_ptr<LocalModeRuntime> g_local_runtime;  // set instead of g_runtime in local mode
struct DriverState {
  bool started_head = false;  // the embedded head (no address)
  bool started_node = false;  // a node of the driver's in the cluster it joined (none on this machine)
  HeadProcesses head;         // either
  ForkServerHandle fork_server;
};
DriverState g_driver;

void SetRuntime(std::shared_ptr<ClusterRuntime> rt) {
  std::lock_guard<std::mutex> lock(g_runtime_mu);
  g_runtime = std::move(rt);
}

// The driver's core worker: attached to `node_socket`, with the fork server
// (when there is one) started for its job once the job has an id, and, when
// it joined a cluster, a copy of this program for other nodes to run.
worker::CoreWorkerOptions DriverOptions(const ResolvedConfig &rc, bool use_fork_server,
                                        const std::string &token, const std::string &node_socket,
                                        const std::string &session_dir) {
  worker::CoreWorkerOptions opts;
  opts.is_driver = true;
  opts.node_address = node_socket;
  opts.token = token;
  opts.ray_namespace = rc.ray_namespace;
  opts.code_search_path = rc.code_search_path;
  opts.job_runtime_env = rc.runtime_env_json;
  opts.has_fork_server = use_fork_server && g_driver.fork_server.pid > 0;
  opts.default_detached = rc.detached_actors;
  if (opts.has_fork_server && !g_driver.started_head) {
    // Joining a cluster: nodes other than this one may run the job's code
    // (its actors placed there), from a copy of this program.
    auto program = worker::DescribeOwnProgram();
    if (program.ok()) {
      opts.program = std::move(*program);
    } else {
      LUMEN_LOG_WARN(
          "cannot read this program to ship it to the cluster: {}; the job's code runs on this node only",
          program.status().ToString());
    }
  }
  if (g_driver.started_head) {
    opts.session_dir = session_dir;
    opts.control_address = "unix:" + g_driver.head.control_unix;
  }
  if (opts.has_fork_server) {
    // The core worker learns of the fork server's exit from its own copy of
    // the start socket, which reads end-of-file then.
    opts.fork_server_pid = g_driver.fork_server.pid;
    opts.fork_server_fd = fcntl(g_driver.fork_server.control_fd, F_DUPFD_CLOEXEC, 0);
    opts.on_job_id = [node_socket, token, session_dir, ns = rc.ray_namespace, env = rc.runtime_env_json,
                      detached = rc.detached_actors](uint32_t job_id) {
      StartForkServer(g_driver.fork_server, node_socket, token, session_dir, job_id, ns, env, detached);
    };
  }
  return opts;
}

// An actor that ended through ray::ExitActor() ends gracefully, as in Ray
// (which runs its atexit handlers then): once the calls still running on its
// other threads have finished, its instance is destroyed, on this thread,
// with no runtime lock held and the runtime still up, since the destructor
// is user code that may use the API. An actor killed (SIGKILL) or cut off
// from its node ends without it, as Ray's ray.kill does.
void DestroyExitedActor(worker::CoreWorker &core) {
  if (!g_actor_exited || g_actor_instance == 0) return;
  core.WaitForExecutors();
  const uint64_t instance = g_actor_instance.exchange(0);
  if (auto deleter = g_actor_deleter.load()) deleter(instance);
}

// Local mode's one node: what head_args would give a head started here,
// without probing for GPUs (local mode hands none out).
ResourceMap LocalModeResources(const HeadOptions &options) {
  ResourceMap resources;
  const double cpus =
      options.num_cpus >= 0 ? options.num_cpus : static_cast<double>(std::thread::hardware_concurrency());
  if (cpus > 0) resources["CPU"] = cpus;
  if (options.num_gpus > 0) resources["GPU"] = options.num_gpus;
  for (auto &[name, amount] : options.resources) resources[name] = amount;
  return resources;
}

std::string NewNamespace() {
  // A random UUIDv4, as Ray gives each driver by default.
  std::string h = RandomHex(16);
  h[12] = '4';
  h[16] = "89ab"[h[16] % 4];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" +
         h.substr(20);
}

void LoadCodeSearchPath(const std::vector<std::string> &paths) {
  namespace fs = std::filesystem;
  for (auto &p : paths) {
    std::vector<std::string> libs;
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (auto &entry : fs::directory_iterator(p, ec))
        if (entry.path().extension() == ".so") libs.push_back(entry.path().string());
    } else if (fs::exists(p, ec)) {
      libs.push_back(p);
    } else {
      LUMEN_LOG_ERROR("code search path entry {} does not exist", p);
      std::cerr << "lumen worker: code search path entry " << p << " does not exist\n";
      std::_Exit(1);
    }
    for (auto &lib : libs) {
      if (!dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL))
        LUMEN_LOG_WARN("could not load {}: {}", lib, dlerror());
    }
  }
}

}  // namespace

[[noreturn]] void RunWorkerProcess(const std::string &node_socket, const std::string &token,
                                   const std::string &session_dir, const std::string &worker_id_hex,
                                   uint32_t job_id, const std::string &ray_namespace,
                                   const std::string &runtime_env,
                                   const std::map<std::string, std::string> &env_vars,
                                   std::unique_ptr<object_store::Arena> store) {
  // Its environment is set now, before the process has a thread to race
  // with setenv: the job's env_vars, then those of the work it is dedicated
  // to (the node starts a worker per set of env_vars), which win, as in Ray.
  if (!runtime_env.empty()) {
    auto j = nlohmann::json::parse(runtime_env, nullptr, false);
    if (j.is_object() && j.contains("env_vars") && j["env_vars"].is_object())
      for (auto &[k, v] : j["env_vars"].items())
        if (v.is_string()) setenv(k.c_str(), v.get<std::string>().c_str(), 1);
  }
  for (auto &[k, v] : env_vars) setenv(k.c_str(), v.c_str(), 1);
  KeepFreedMemoryMapped(size_t{1} << 30);  // base/heap_tuning.h: tasks decoding large arguments in turn
  // What the parent (the fork server, or the driver before ray::Init)
  // recorded is its own: only this worker's changes leave from here.
  worker::MetricRegistry::Instance().DiscardChanges();
  InitProcessLogging("worker", session_dir + "/logs");
  worker::CoreWorkerOptions opts;
  opts.is_driver = false;
  opts.node_address = node_socket;
  opts.session_dir = session_dir;
  opts.token = token;
  opts.job_id = job_id;
  opts.ray_namespace = ray_namespace;
  opts.worker_id = WorkerID::FromBinary(FromHex(worker_id_hex).value_or(""));
  opts.arena = std::move(store);
  // Read now: a forked worker's variables were set just above.
  opts.tcp_host = Settings::FromEnvironment().worker_tcp_host;
  opts.executor = [](const proto::TaskSpec &spec, const std::vector<worker::ArgBytes> &args,
                     worker::ExecResult *result) { ExecuteRegisteredFunction(spec, args, result); };
  auto core = worker::CoreWorker::Create(std::move(opts));
  if (!core.ok()) {
    LUMEN_LOG_ERROR("worker failed to start: {}", core.status().ToString());
    ShutdownProcessLogging();
    std::_Exit(1);
  }
  auto rt = std::make_shared<ClusterRuntime>(std::move(core.value()));
  SetRuntime(rt);
  rt->core().RunTaskLoop();
  DestroyExitedActor(rt->core());
  SetRuntime(nullptr);
  std::fflush(nullptr);
  ShutdownProcessLogging();
  // No static destructors: this process is a copy of the user's program.
  std::_Exit(0);
}

}  // namespace lumen::api

// ------------------------------------------------------------------ public API

namespace ray {
namespace internal {

std::shared_ptr<RayRuntime> GetRayRuntime() {
  std::lock_guard<std::mutex> lock(lumen::api::g_runtime_mu);
  if (lumen::api::g_runtime) return lumen::api::g_runtime;
  return lumen::api::g_local_runtime;
}

namespace {
thread_local std::vector<std::vector<std::string>> t_capture;
}  // namespace
void BeginNestedRefCapture() { t_capture.emplace_back(); }
void NoteSerializedObjectRef(const std::string &id) {
  if (!t_capture.empty()) t_capture.back().push_back(id);
}
std::vector<std::string> EndNestedRefCapture() {
  if (t_capture.empty()) return {};
  auto ids = std::move(t_capture.back());
  t_capture.pop_back();
  return ids;
}

}  // namespace internal

void Init(RayConfig &config, int argc, char **argv) {
  using namespace lumen;
  using namespace lumen::api;
  std::lock_guard<std::mutex> lock(g_init_mu);
  if (internal::GetRayRuntime()) return;  // a second Init is a no-op, as in Ray
  ReloadSettings();  // the environment as it is now: a driver may have changed it since the last Init
  // A node other than the driver's started this program to be the job's
  // fork server there: what ran before this call ran once on that node; the
  // rest of the program never runs here.
  if (const auto &s = CurrentSettings(); !s.node_fork_server.empty())
    RunNodeForkServer(s.node_fork_server, s.cluster_token);
  auto resolved = ResolveConfig(config, argc, argv);
  if (!resolved.ok()) throw internal::RayException("Init: " + resolved.status().message());
  auto &rc = resolved.value();
  if (!rc.is_worker) ValidateRuntimeEnv(rc.runtime_env_json);  // the job's: RayRuntimeEnvException now
  // Checked in every mode, so that a program that starts in local mode or
  // joins a cluster does not fail only once it starts a head itself.
  auto head_opts = rc.is_worker ? StatusOr<HeadOptions>(HeadOptions()) : ParseHeadArgs(rc.head_args);
  if (!head_opts.ok()) throw internal::RayException("Init: " + head_opts.status().message());
  if (!rc.is_worker) {
    // A program that never calls ray::Shutdown() still shuts down before
    // static destructors run: otherwise the runtime's threads (local mode's
    // actors and pool, the core worker's loop) would outlive the globals
    // they use, such as the function registry.
    // The handler runs before the statics constructed ahead of it are
    // destroyed: Shutdown's logging must be among them, or a program that
    // returns from main without ray::Shutdown() crashes on exit.
    static std::once_flag at_exit_registered;
    std::call_once(at_exit_registered, [] {
      ConstructLoggingState();
      std::atexit([] { ray::Shutdown(); });
    });
  }
  if (rc.local_mode) {  // everything in this process, on threads (runtime_local.h)
    auto local = std::make_shared<LocalModeRuntime>(
        rc.ray_namespace.empty() ? NewNamespace() : rc.ray_namespace, LocalModeResources(*head_opts));
    std::lock_guard<std::mutex> l(g_runtime_mu);
    g_local_runtime = std::move(local);
    return;
  }

  // Before the services, fork server and workers are forked: they inherit it.
  // Should it fail, the limit stays, and an error it causes names it.
  (void)RaiseOpenFileLimit();

  if (rc.is_worker) {
    // Generic worker program: load the user's libraries, then serve tasks
    // from RunTaskExecutionLoop().
    LoadCodeSearchPath(rc.code_search_path);
    RunWorkerProcess(rc.node_socket, CurrentSettings().cluster_token, rc.session_dir, rc.worker_id_hex,
                     rc.job_id, rc.ray_namespace, rc.runtime_env_json);
  }

  // The fork server must be made before this process starts any thread.
  bool use_fork_server = rc.code_search_path.empty();
  if (use_fork_server) StopParallelCopyThreads();  // a previous session's large puts started them
  auto fork_fork_server = [&] {
    if (use_fork_server) g_driver.fork_server = ForkForkServer();
  };

  std::string token, node_socket, session_dir;
  if (rc.address.empty()) {
    // The fork server is forked while the services start (it is not on
    // their path, and they are forks too, of a process without threads).
    // It returns once the control service serves and the node listens: the
    // driver registers its job and starts its fork server while the node
    // registers with the control service, which takes a step off Init.
    auto head = StartHead(head_opts.value(), /*die_with_parent=*/true, fork_fork_server);
    if (!head.ok()) {
      StopForkServer(g_driver.fork_server);
      throw internal::RayException("Init: could not start a local cluster: " + head.status().message());
    }
    g_driver.started_head = true;
    g_driver.head = head.value();
    token = g_driver.head.token;
    node_socket = g_driver.head.node_socket;
    session_dir = g_driver.head.session_dir;
  } else {
    // Join a running cluster: ask its control service for this machine's node.
    fork_fork_server();
    auto joined = JoinCluster(rc.address);
    if (!joined.ok()) {
      StopForkServer(g_driver.fork_server);
      throw internal::RayException("Init: " + joined.status().message());
    }
    token = joined->token;
    node_socket = joined->node_socket;
    session_dir = joined->session_dir;
    if (node_socket.empty()) {
      // No node of the cluster on this machine: one for this driver, with
      // no resources (work goes to the others), holding the driver's
      // objects and serving them to the others over TCP, and gone with it.
      HeadOptions node_opts;
      node_opts.num_cpus = 0;
      node_opts.num_gpus = 0;
      node_opts.host = joined->local_ip;
      auto node = StartNode(node_opts, joined->control_address, token, /*die_with_parent=*/true);
      if (!node.ok()) {
        StopForkServer(g_driver.fork_server);
        throw internal::RayException("Init: this machine has no node of the cluster at " + rc.address +
                                     ", and one for this driver could not start: " + node.status().message());
      }
      g_driver.started_node = true;
      g_driver.head = node.value();
      node_socket = g_driver.head.node_socket;
      session_dir = g_driver.head.session_dir;
    }
  }
  InitProcessLogging("driver", session_dir + "/logs");

  if (rc.ray_namespace.empty()) rc.ray_namespace = NewNamespace();
  auto core = worker::CoreWorker::Create(DriverOptions(rc, use_fork_server, token, node_socket, session_dir));
  // A node that failed while starting explains a failed registration best.
  Status node = g_driver.started_head ? AwaitNodeReady(g_driver.head) : Status::OK();
  if (!core.ok() || !node.ok()) {
    if (core.ok()) core.value()->Shutdown();
    StopForkServer(g_driver.fork_server);
    if (g_driver.started_head || g_driver.started_node)
      StopHead(g_driver.head, /*keep_logs=*/true);  // the error points at them
    g_driver = DriverState();
    if (!node.ok()) throw internal::RayException("Init: could not start a local cluster: " + node.message());
    throw internal::RayException("Init: cannot connect to the local node: " + core.status().ToString());
  }
  auto rt = std::make_shared<ClusterRuntime>(std::move(core.value()));
  // Return once the job can run a task: its first prestarted worker is up
  // (~1.5 ms), instead of making the first task wait for it. Bounded: slow
  // machines and sanitizer builds just return later, not fail.
  if (rt->core().WaitForWorkers(kFirstWorkerWait) == 0)
    LUMEN_LOG_DEBUG("Init: no worker registered yet; the first tasks will wait for one");
  SetRuntime(rt);
}

void Init(RayConfig &config) { Init(config, 0, nullptr); }

void Init() {
  RayConfig config;
  Init(config, 0, nullptr);
}

bool IsInitialized() { return internal::GetRayRuntime() != nullptr; }

void Shutdown() {
  using namespace lumen::api;
  std::lock_guard<std::mutex> lock(g_init_mu);
  if (auto local = g_local_runtime) {  // written only under g_init_mu
    local->Shutdown();                 // joins its threads; they may use the API until then
    std::lock_guard<std::mutex> l(g_runtime_mu);
    g_local_runtime.reset();
    return;
  }
  std::shared_ptr<ClusterRuntime> rt;
  {
    std::lock_guard<std::mutex> l(g_runtime_mu);
    rt = std::move(g_runtime);
    g_runtime.reset();
  }
  if (!rt) return;  // Shutdown twice is harmless
  rt->Shutdown();
  StopForkServer(g_driver.fork_server);
  if (g_driver.started_head || g_driver.started_node) StopHead(g_driver.head);
  g_driver = DriverState();
  lumen::ShutdownProcessLogging();
}

void RunTaskExecutionLoop() {
  // Workers never return from Init (RunWorkerProcess serves and exits); a
  // driver calling this has nothing to serve.
}

}  // namespace ray
