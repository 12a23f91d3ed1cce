// The runtime interface behind the public API (Ray's ray::internal::RayRuntime).
//
// Every template in <ray/api.h> ends in a call on this interface; the runtime
// library (libray_api.so) implements it for cluster mode and local mode.
// Errors are reported by throwing the ray::internal exception types: this is
// the public API edge. All methods are thread-safe.
//
// Public header: must stay valid C++17.
#pragma once

#include <msgpack.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <ray/api/common_types.h>
#include <ray/api/ray_exception.h>
#include <ray/api/runtime_context.h>
#include <ray/api/task_options.h>

namespace ray {
namespace internal {

/// A read-only view of a stored object's bytes. For large objects this points
/// straight into the node's shared-memory store (zero-copy); the object stays
/// pinned for as long as the Buffer lives.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual const char *Data() const = 0;
  virtual size_t Size() const = 0;
};

/// One argument as passed to Remote(): either a serialized value or a
/// reference to an object (an ObjectRef passed where the parameter is a T).
struct TaskArg {
  std::shared_ptr<msgpack::sbuffer> value;  // set for a by-value argument
  std::string object_id;                    // set for a by-reference argument
  /// ObjectRefs serialized inside `value` (nested refs), in any order.
  std::vector<std::string> nested_ids;
};

enum class TaskType { NORMAL_TASK, ACTOR_CREATION_TASK, ACTOR_TASK };

/// Names a remote function: the RAY_REMOTE registration key, and for actor
/// methods the class name (as Ray's FunctionDescriptor).
struct RemoteFunctionHolder {
  RemoteFunctionHolder() = default;
  RemoteFunctionHolder(std::string function_name, std::string class_name = "", LangType lang = LangType::CPP)
      : function_name(std::move(function_name)), class_name(std::move(class_name)), lang_type(lang) {}
  std::string function_name;
  std::string class_name;
  LangType lang_type = LangType::CPP;
};

struct CallOptions {
  std::string name;
  std::unordered_map<std::string, double> resources;
  PlacementGroup group;
  int bundle_index = -1;
  std::string serialized_runtime_env;  // RuntimeEnv::Serialize(), or empty
};

struct ActorCreationOptions {
  std::string name;
  std::string ray_namespace;
  std::unordered_map<std::string, double> resources;
  int max_restarts = 0;
  int max_concurrency = 1;
  PlacementGroup group;
  int bundle_index = -1;
  std::string serialized_runtime_env;
};

class RayRuntime {
 public:
  virtual ~RayRuntime() = default;

  // ---- objects ----
  /// Stores a serialized value; returns the new object's binary id.
  virtual std::string Put(std::shared_ptr<msgpack::sbuffer> data,
                          const std::vector<std::string> &nested_ids) = 0;
  /// Writes a value's serialized bytes to `dst`; may throw (the value's own
  /// msgpack adaptors run inside).
  using SerializedWriter = std::function<void(char *dst)>;
  /// Stores a value of `size` serialized bytes that `write` produces straight
  /// into the storage the runtime provides (shared memory for large values),
  /// so a large Put copies its value once. The default goes through Put.
  virtual std::string PutSerialized(size_t size, const SerializedWriter &write,
                                    const std::vector<std::string> &nested_ids) {
    auto buffer = std::make_shared<msgpack::sbuffer>(size > 0 ? size : 1);
    std::string bytes(size, '\0');
    write(&bytes[0]);
    buffer->write(bytes.data(), bytes.size());
    return Put(buffer, nested_ids);
  }
  /// Blocks until the object is available. timeout_ms < 0 waits forever.
  /// Throws RayTimeoutException, RayTaskException, RayWorkerException, ...
  virtual std::shared_ptr<Buffer> Get(const std::string &id, int timeout_ms) = 0;
  virtual std::vector<std::shared_ptr<Buffer>> Get(const std::vector<std::string> &ids, int timeout_ms) = 0;
  /// Returns one flag per id, true for the ready ones.
  virtual std::vector<bool> Wait(const std::vector<std::string> &ids, int num_objects, int timeout_ms) = 0;
  virtual void AddLocalReference(const std::string &id) = 0;
  virtual void RemoveLocalReference(const std::string &id) = 0;

  // ---- tasks and actors ----
  /// Submits a normal task; returns the id of its return object.
  virtual std::string Call(const RemoteFunctionHolder &fn, std::vector<TaskArg> &args,
                           const CallOptions &options) = 0;
  /// Creates an actor; returns its binary actor id.
  virtual std::string CreateActor(const RemoteFunctionHolder &fn, std::vector<TaskArg> &args,
                                  const ActorCreationOptions &options) = 0;
  /// Calls an actor method; returns the id of its return object.
  virtual std::string CallActor(const RemoteFunctionHolder &fn, const std::string &actor_id,
                                std::vector<TaskArg> &args, const CallOptions &options) = 0;
  /// Empty string when no actor has that name.
  virtual std::string GetActorId(const std::string &actor_name, const std::string &ray_namespace) = 0;
  virtual void KillActor(const std::string &actor_id, bool no_restart) = 0;
  virtual void ExitActor() = 0;
  virtual bool WasCurrentActorRestarted() = 0;
  /// Actor handles travel as opaque bytes (the id plus what a holder needs to
  /// reach the actor); deserializing registers the holder.
  virtual std::string SerializeActorHandle(const std::string &actor_id) = 0;
  virtual std::string DeserializeAndRegisterActorHandle(const std::string &serialized) = 0;

  // ---- placement groups ----
  virtual PlacementGroup CreatePlacementGroup(const PlacementGroupCreationOptions &create_options) = 0;
  virtual void RemovePlacementGroup(const std::string &group_id) = 0;
  virtual bool WaitPlacementGroupReady(const std::string &group_id, int64_t timeout_seconds) = 0;
  virtual std::vector<PlacementGroup> GetAllPlacementGroups() = 0;
  virtual PlacementGroup GetPlacementGroupById(const std::string &id) = 0;
  virtual PlacementGroup GetPlacementGroup(const std::string &name) = 0;

  // ---- context ----
  virtual std::string GetNamespace() = 0;
  virtual bool IsLocalMode() = 0;
  /// GPU device ids granted to the calling task or actor (empty elsewhere).
  virtual std::vector<int> GetGpuIds() { return {}; }

  // ---- Lumen extensions (<ray/api/runtime_context.h>) ----
  /// The calling process's ids and the calling thread's task, in hex.
  virtual ContextIds GetContextIds() = 0;
  /// What the task running on the calling thread holds (empty elsewhere).
  virtual std::unordered_map<std::string, double> GetAssignedResources() = 0;
  virtual std::vector<NodeInfo> GetNodes() = 0;
  /// Summed over the alive nodes: their totals, or what is free on them now.
  virtual std::unordered_map<std::string, double> GetClusterResources() = 0;
  virtual std::unordered_map<std::string, double> GetAvailableResources() = 0;

  // ---- Lumen extension (<ray/api/internal_kv.h>) ----
  // Not pure, and defined here (the class keeps no key function, as before):
  // a runtime without a store (a test's fake) throws.
  virtual bool KvPut(const std::string &, const std::string &, const std::string &, bool) { NoKvStore(); }
  virtual std::optional<std::string> KvGet(const std::string &, const std::string &) { NoKvStore(); }
  virtual int KvDel(const std::string &, const std::string &) { NoKvStore(); }
  virtual std::vector<std::string> KvKeys(const std::string &, const std::string &) { NoKvStore(); }

 private:
  [[noreturn]] static void NoKvStore() {
    throw RayException("this runtime has no key-value store (ray::experimental::InternalKv*)");
  }
};

/// The process-wide runtime, set by ray::Init and cleared by ray::Shutdown.
/// Null before Init (calling the API then is a programming error, as in Ray).
std::shared_ptr<RayRuntime> GetRayRuntime();

/// Nested-reference capture: ObjectRef's msgpack packer reports every id it
/// writes, so the runtime knows which refs an object or argument contains and
/// keeps them alive while the containing object lives. Captures nest per thread.
void BeginNestedRefCapture();
void NoteSerializedObjectRef(const std::string &id);
std::vector<std::string> EndNestedRefCapture();

}  // namespace internal
}  // namespace ray
