// An in-process fake of ray::internal::RayRuntime for the public-API unit
// tests: objects live in a map, tasks and actor calls run synchronously in
// Call/CreateActor/CallActor through the FunctionManager invokers, and every
// reference-count call is counted. Thread-safe enough for single-threaded
// tests (one mutex around the maps).
#pragma once

#include <ray/api/function_manager.h>
#include <ray/api/ray_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace lumen_test {

class FakeRuntime : public ray::internal::RayRuntime {
 public:
  /// Destroys the actor instances it made.
  ~FakeRuntime() override;

  std::string Put(std::shared_ptr<msgpack::sbuffer> data,
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
  std::string SerializeActorHandle(const std::string &actor_id) override;
  std::string DeserializeAndRegisterActorHandle(const std::string &serialized) override;

  ray::PlacementGroup CreatePlacementGroup(const ray::PlacementGroupCreationOptions &create_options) override;
  void RemovePlacementGroup(const std::string &group_id) override;
  bool WaitPlacementGroupReady(const std::string &group_id, int64_t timeout_seconds) override;
  std::vector<ray::PlacementGroup> GetAllPlacementGroups() override;
  ray::PlacementGroup GetPlacementGroupById(const std::string &id) override;
  ray::PlacementGroup GetPlacementGroup(const std::string &name) override;

  std::string GetNamespace() override { return "fake_namespace"; }
  bool IsLocalMode() override { return local_mode; }

  // The runtime context and cluster views report what the test set below.
  ray::internal::ContextIds GetContextIds() override { return context_ids; }
  std::unordered_map<std::string, double> GetAssignedResources() override { return assigned; }
  std::vector<ray::NodeInfo> GetNodes() override { return nodes; }
  std::unordered_map<std::string, double> GetClusterResources() override { return cluster_resources; }
  std::unordered_map<std::string, double> GetAvailableResources() override { return available_resources; }

  // ---- observations for the tests ----
  bool local_mode = true;
  ray::internal::ContextIds context_ids;
  std::unordered_map<std::string, double> assigned;
  std::vector<ray::NodeInfo> nodes;
  std::unordered_map<std::string, double> cluster_resources;
  std::unordered_map<std::string, double> available_resources;
  std::map<std::string, int> ref_counts;  // net local references per id
  int add_ref_calls = 0;
  int remove_ref_calls = 0;
  std::map<std::string, std::vector<std::string>> put_nested_ids;
  std::vector<ray::internal::TaskArg> last_args;
  ray::internal::RemoteFunctionHolder last_function;
  ray::internal::CallOptions last_call_options;
  ray::internal::ActorCreationOptions last_actor_options;
  std::vector<std::pair<std::string, bool>> killed;
  int deserialized_handles = 0;
  int pg_wait_calls = 0;

 private:
  std::string NewId(const std::string &prefix);
  std::string Store(msgpack::sbuffer buffer);
  static msgpack::sbuffer Bytes(ray::internal::SerializedResult result);
  std::vector<ray::internal::ArgView> ArgViews(const std::vector<ray::internal::TaskArg> &args);

  std::recursive_mutex mutex_;
  int next_id_ = 0;
  std::map<std::string, std::shared_ptr<msgpack::sbuffer>> objects_;
  std::map<std::string, uint64_t> actors_;
  std::map<std::string, ray::internal::ActorDeleter> actor_deleters_;
  std::map<std::string, std::string> named_actors_;
  std::map<std::string, ray::PlacementGroup> groups_;
};

/// Installs `runtime` as the process runtime (nullptr clears it).
void SetRuntime(std::shared_ptr<ray::internal::RayRuntime> runtime);

}  // namespace lumen_test
