// Out-of-line part of ray::internal::FunctionManager: the one registry per
// process. Living in libray_api.so makes the executable and every dlopen'ed
// user library share it.
#include <ray/api/function_manager.h>

#include <algorithm>

namespace ray {
namespace internal {

FunctionManager &FunctionManager::Instance() {
  // Leaked on purpose: registrations happen during static initialization and
  // lookups may happen during static destruction.
  static FunctionManager *instance = new FunctionManager();
  return *instance;
}

void FunctionManager::ThrowNotRegistered() {
  throw RayException(
      "Function not found: it is not registered. Register it with RAY_REMOTE (for example "
      "RAY_REMOTE(MyFunction, MyActor::FactoryCreate, &MyActor::Method)) at namespace scope.");
}

void FunctionManager::CheckNotRegisteredLocked(const std::string &name,
                                               const std::string &pointer_key) const {
  if (name.empty()) {
    throw RayException("RAY_REMOTE: empty function name.");
  }
  if (functions_.count(name) > 0 || member_functions_.count(name) > 0) {
    throw RayException("Duplicate RAY_REMOTE function name: '" + name + "'.");
  }
  if (!pointer_key.empty()) {
    auto it = names_by_pointer_.find(pointer_key);
    if (it != names_by_pointer_.end()) {
      throw RayException("Duplicate RAY_REMOTE function: '" + name + "' is already registered as '" +
                         it->second + "'.");
    }
  }
}

bool FunctionManager::RegisterFunction(const std::string &name, const std::string &pointer_key,
                                       RemoteFunction invoker, ActorDeleter deleter) {
  std::lock_guard<std::mutex> lock(mutex_);
  CheckNotRegisteredLocked(name, pointer_key);
  functions_.emplace(name, std::move(invoker));
  if (deleter != nullptr) {
    actor_deleters_.emplace(name, deleter);
  }
  if (!pointer_key.empty()) {
    names_by_pointer_.emplace(pointer_key, name);
  }
  return true;
}

bool FunctionManager::RegisterMemberFunction(const std::string &name, const std::string &pointer_key,
                                             RemoteMemberFunction invoker) {
  std::lock_guard<std::mutex> lock(mutex_);
  CheckNotRegisteredLocked(name, pointer_key);
  member_functions_.emplace(name, std::move(invoker));
  if (!pointer_key.empty()) {
    names_by_pointer_.emplace(pointer_key, name);
  }
  return true;
}

const RemoteFunction *FunctionManager::GetFunction(const std::string &name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = functions_.find(name);
  return it == functions_.end() ? nullptr : &it->second;
}

const RemoteMemberFunction *FunctionManager::GetMemberFunction(const std::string &name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = member_functions_.find(name);
  return it == member_functions_.end() ? nullptr : &it->second;
}

ActorDeleter FunctionManager::GetActorDeleter(const std::string &name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = actor_deleters_.find(name);
  return it == actor_deleters_.end() ? nullptr : it->second;
}

std::string FunctionManager::GetFunctionNameByPointerKey(const std::string &pointer_key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = names_by_pointer_.find(pointer_key);
  return it == names_by_pointer_.end() ? std::string() : it->second;
}

std::vector<std::string> FunctionManager::GetFunctionNames() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  names.reserve(functions_.size());
  for (const auto &entry : functions_) {
    names.push_back(entry.first);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> FunctionManager::GetMemberFunctionNames() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  names.reserve(member_functions_.size());
  for (const auto &entry : member_functions_) {
    names.push_back(entry.first);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string FunctionManager::GetClassNameByFuncName(const std::string &func_name) {
  std::string text = func_name;
  auto trim = [](std::string s) {
    size_t begin = s.find_first_not_of(" \t\n");
    if (begin == std::string::npos) {
      return std::string();
    }
    size_t end = s.find_last_not_of(" \t\n");
    return s.substr(begin, end - begin + 1);
  };
  text = trim(text);
  const std::string kRayFunc = "RAY_FUNC(";
  if (text.compare(0, kRayFunc.size(), kRayFunc) == 0) {
    text = text.substr(kRayFunc.size());
    size_t end = text.find_first_of(",)");
    text = trim(text.substr(0, end));
  }
  if (!text.empty() && text[0] == '&') {
    text = trim(text.substr(1));
  }
  size_t pos = text.rfind("::");
  if (pos == std::string::npos) {
    return "";
  }
  return text.substr(0, pos);
}

}  // namespace internal
}  // namespace ray
