// <ray/api/internal_kv.h>: the public functions. The runtimes (cluster, local
// mode) hold the store itself.
#include <ray/api/internal_kv.h>
#include <ray/api/ray_exception.h>
#include <ray/api/ray_runtime.h>

namespace ray {
namespace experimental {
namespace {

// Users' namespaces never meet Lumen's own ("lumen", where the dashboard
// publishes its address): every one of theirs is kept under this prefix.
std::string UserNamespace(const std::string &ns) { return "user/" + ns; }

std::shared_ptr<internal::RayRuntime> Runtime() {
  auto runtime = internal::GetRayRuntime();
  if (!runtime) throw internal::RayException("ray::Init must be called before the internal KV store is used");
  return runtime;
}

}  // namespace

bool InternalKvPut(const std::string &key, const std::string &value, bool overwrite, const std::string &ns) {
  return Runtime()->KvPut(UserNamespace(ns), key, value, overwrite);
}
std::optional<std::string> InternalKvGet(const std::string &key, const std::string &ns) {
  return Runtime()->KvGet(UserNamespace(ns), key);
}
bool InternalKvExists(const std::string &key, const std::string &ns) {
  return InternalKvGet(key, ns).has_value();
}
int InternalKvDel(const std::string &key, const std::string &ns) {
  return Runtime()->KvDel(UserNamespace(ns), key);
}
std::vector<std::string> InternalKvList(const std::string &prefix, const std::string &ns) {
  return Runtime()->KvKeys(UserNamespace(ns), prefix);
}

}  // namespace experimental
}  // namespace ray
