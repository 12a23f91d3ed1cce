// Test-only definitions: FakeRuntime, GetRayRuntime(), the nested-ref capture
// functions and ray::Init/Shutdown/IsInitialized (normally provided by the
// runtime in libray_api.so).
#include "fake_runtime.h"

#include <ray/api.h>

#include <stdexcept>

namespace lumen_test {

namespace {

class FakeBuffer : public ray::internal::Buffer {
 public:
  explicit FakeBuffer(std::shared_ptr<msgpack::sbuffer> data) : data_(std::move(data)) {}
  const char *Data() const override { return data_->data(); }
  size_t Size() const override { return data_->size(); }

 private:
  std::shared_ptr<msgpack::sbuffer> data_;
};

std::mutex g_runtime_mutex;
std::shared_ptr<ray::internal::RayRuntime> g_runtime;

thread_local std::vector<std::vector<std::string>> t_capture_stack;

}  // namespace

void SetRuntime(std::shared_ptr<ray::internal::RayRuntime> runtime) {
  std::lock_guard<std::mutex> lock(g_runtime_mutex);
  g_runtime = std::move(runtime);
}

FakeRuntime::~FakeRuntime() {
  for (auto &[id, deleter] : actor_deleters_) {
    if (deleter != nullptr) deleter(actors_[id]);
  }
}

std::string FakeRuntime::NewId(const std::string &prefix) { return prefix + std::to_string(++next_id_); }

msgpack::sbuffer FakeRuntime::Bytes(ray::internal::SerializedResult result) {
  msgpack::sbuffer bytes;
  bytes.write(result.data(), result.size());
  return bytes;
}

std::string FakeRuntime::Store(msgpack::sbuffer buffer) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  std::string id = NewId("obj-");
  objects_[id] = std::make_shared<msgpack::sbuffer>(std::move(buffer));
  return id;
}

std::string FakeRuntime::Put(std::shared_ptr<msgpack::sbuffer> data,
                             const std::vector<std::string> &nested_ids) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  std::string id = NewId("obj-");
  objects_[id] = std::move(data);
  put_nested_ids[id] = nested_ids;
  return id;
}

std::shared_ptr<ray::internal::Buffer> FakeRuntime::Get(const std::string &id, int timeout_ms) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  auto it = objects_.find(id);
  if (it == objects_.end()) {
    if (timeout_ms >= 0) {
      throw ray::internal::RayTimeoutException("Get timed out: " + id);
    }
    throw ray::internal::RayException("Get object error: unknown object " + id);
  }
  return std::make_shared<FakeBuffer>(it->second);
}

std::vector<std::shared_ptr<ray::internal::Buffer>> FakeRuntime::Get(const std::vector<std::string> &ids,
                                                                     int timeout_ms) {
  std::vector<std::shared_ptr<ray::internal::Buffer>> result;
  for (const auto &id : ids) {
    result.push_back(Get(id, timeout_ms));
  }
  return result;
}

std::vector<bool> FakeRuntime::Wait(const std::vector<std::string> &ids, int num_objects, int timeout_ms) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  std::vector<bool> ready;
  for (const auto &id : ids) {
    ready.push_back(objects_.count(id) > 0);
  }
  return ready;
}

void FakeRuntime::AddLocalReference(const std::string &id) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  ++add_ref_calls;
  ++ref_counts[id];
}

void FakeRuntime::RemoveLocalReference(const std::string &id) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  ++remove_ref_calls;
  if (--ref_counts[id] == 0) {
    ref_counts.erase(id);
  }
}

std::vector<ray::internal::ArgView> FakeRuntime::ArgViews(const std::vector<ray::internal::TaskArg> &args) {
  std::vector<ray::internal::ArgView> views;
  for (const auto &arg : args) {
    if (!arg.object_id.empty()) {
      auto it = objects_.find(arg.object_id);
      if (it == objects_.end()) {
        throw std::runtime_error("fake: missing dependency " + arg.object_id);
      }
      views.push_back({it->second->data(), it->second->size(), {}, nullptr});
    } else {
      views.push_back({arg.value->data(), arg.value->size(), {}, nullptr});
    }
  }
  return views;
}

std::string FakeRuntime::Call(const ray::internal::RemoteFunctionHolder &fn,
                              std::vector<ray::internal::TaskArg> &args,
                              const ray::internal::CallOptions &options) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  last_args = args;
  last_function = fn;
  last_call_options = options;
  const auto *invoker = ray::internal::FunctionManager::Instance().GetFunction(fn.function_name);
  if (invoker == nullptr) {
    return Store(ray::internal::Serializer::SerializeError(1, "unknown function " + fn.function_name));
  }
  try {
    return Store(Bytes((*invoker)(ArgViews(args))));
  } catch (const std::exception &e) {
    return Store(ray::internal::Serializer::SerializeError(1, e.what()));
  }
}

std::string FakeRuntime::CreateActor(const ray::internal::RemoteFunctionHolder &fn,
                                     std::vector<ray::internal::TaskArg> &args,
                                     const ray::internal::ActorCreationOptions &options) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  last_args = args;
  last_function = fn;
  last_actor_options = options;
  const auto *invoker = ray::internal::FunctionManager::Instance().GetFunction(fn.function_name);
  if (invoker == nullptr) {
    throw std::runtime_error("fake: unknown factory " + fn.function_name);
  }
  msgpack::sbuffer result = Bytes((*invoker)(ArgViews(args)));
  uint64_t ptr = ray::internal::Serializer::Deserialize<uint64_t>(result.data(), result.size());
  std::string id = NewId("actor-");
  actors_[id] = ptr;
  actor_deleters_[id] = ray::internal::FunctionManager::Instance().GetActorDeleter(fn.function_name);
  if (!options.name.empty()) {
    named_actors_[options.ray_namespace + "/" + options.name] = id;
  }
  return id;
}

std::string FakeRuntime::CallActor(const ray::internal::RemoteFunctionHolder &fn, const std::string &actor_id,
                                   std::vector<ray::internal::TaskArg> &args,
                                   const ray::internal::CallOptions &options) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  last_args = args;
  last_function = fn;
  last_call_options = options;
  auto actor = actors_.find(actor_id);
  if (actor == actors_.end()) {
    return Store(ray::internal::Serializer::SerializeError(2, "dead actor"));
  }
  const auto *invoker = ray::internal::FunctionManager::Instance().GetMemberFunction(fn.function_name);
  if (invoker == nullptr) {
    return Store(ray::internal::Serializer::SerializeError(1, "unknown method " + fn.function_name));
  }
  try {
    return Store(Bytes((*invoker)(actor->second, ArgViews(args))));
  } catch (const std::exception &e) {
    return Store(ray::internal::Serializer::SerializeError(1, e.what()));
  }
}

std::string FakeRuntime::GetActorId(const std::string &actor_name, const std::string &ray_namespace) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  auto it = named_actors_.find(ray_namespace + "/" + actor_name);
  return it == named_actors_.end() ? std::string() : it->second;
}

void FakeRuntime::KillActor(const std::string &actor_id, bool no_restart) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  killed.emplace_back(actor_id, no_restart);
}

void FakeRuntime::ExitActor() { throw std::logic_error("ExitActor outside an actor"); }

std::string FakeRuntime::SerializeActorHandle(const std::string &actor_id) { return "handle:" + actor_id; }

std::string FakeRuntime::DeserializeAndRegisterActorHandle(const std::string &serialized) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  ++deserialized_handles;
  const std::string prefix = "handle:";
  if (serialized.compare(0, prefix.size(), prefix) != 0) {
    throw ray::internal::RayException("fake: bad handle");
  }
  return serialized.substr(prefix.size());
}

ray::PlacementGroup FakeRuntime::CreatePlacementGroup(
    const ray::PlacementGroupCreationOptions &create_options) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  std::string id = NewId("pg-");
  ray::PlacementGroup group(id, create_options, ray::PlacementGroupState::CREATED);
  groups_[id] = group;
  return group;
}

void FakeRuntime::RemovePlacementGroup(const std::string &group_id) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  groups_.erase(group_id);
}

bool FakeRuntime::WaitPlacementGroupReady(const std::string &group_id, int64_t timeout_seconds) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  ++pg_wait_calls;
  return groups_.count(group_id) > 0;
}

std::vector<ray::PlacementGroup> FakeRuntime::GetAllPlacementGroups() {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  std::vector<ray::PlacementGroup> result;
  for (const auto &entry : groups_) {
    result.push_back(entry.second);
  }
  return result;
}

ray::PlacementGroup FakeRuntime::GetPlacementGroupById(const std::string &id) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  auto it = groups_.find(id);
  return it == groups_.end() ? ray::PlacementGroup() : it->second;
}

ray::PlacementGroup FakeRuntime::GetPlacementGroup(const std::string &name) {
  std::lock_guard<std::recursive_mutex> lock(mutex_);
  for (const auto &entry : groups_) {
    if (entry.second.GetName() == name) {
      return entry.second;
    }
  }
  return ray::PlacementGroup();
}

}  // namespace lumen_test

namespace ray {
namespace internal {

std::shared_ptr<RayRuntime> GetRayRuntime() {
  std::lock_guard<std::mutex> lock(lumen_test::g_runtime_mutex);
  return lumen_test::g_runtime;
}

void BeginNestedRefCapture() { lumen_test::t_capture_stack.emplace_back(); }

void NoteSerializedObjectRef(const std::string &id) {
  if (!lumen_test::t_capture_stack.empty()) {
    lumen_test::t_capture_stack.back().push_back(id);
  }
}

std::vector<std::string> EndNestedRefCapture() {
  if (lumen_test::t_capture_stack.empty()) {
    return {};
  }
  std::vector<std::string> ids = std::move(lumen_test::t_capture_stack.back());
  lumen_test::t_capture_stack.pop_back();
  return ids;
}

}  // namespace internal

void Init(RayConfig &config) {
  if (!IsInitialized()) {
    auto runtime = std::make_shared<lumen_test::FakeRuntime>();
    runtime->local_mode = config.local_mode;
    lumen_test::SetRuntime(runtime);
  }
}
void Init() {
  RayConfig config;
  Init(config);
}
void Init(RayConfig &config, int argc, char **argv) { Init(config); }
bool IsInitialized() { return internal::GetRayRuntime() != nullptr; }
void Shutdown() { lumen_test::SetRuntime(nullptr); }

}  // namespace ray
