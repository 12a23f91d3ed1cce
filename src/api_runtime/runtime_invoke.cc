// See runtime_invoke.h.
#include "api_runtime/runtime_invoke.h"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <typeinfo>

#include <ray/api/ray_runtime.h>

namespace lumen::api {
namespace {

std::string Demangle(const char *name) {
  int status = 0;
  char *d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = (status == 0 && d) ? d : name;
  std::free(d);
  return out;
}

}  // namespace

void InvokeRegisteredFunction(InvokeKind kind, const std::string &name, uint64_t actor_instance,
                              const std::vector<ray::internal::ArgView> &args, InvokeOutcome *out) {
  auto &fm = ray::internal::FunctionManager::Instance();
  const bool method = kind == InvokeKind::kActorMethod;
  const ray::internal::RemoteFunction *fn = method ? nullptr : fm.GetFunction(name);
  const ray::internal::RemoteMemberFunction *member = method ? fm.GetMemberFunction(name) : nullptr;
  if (!fn && !member) {
    out->code = InvokeOutcome::kNotFound;
    out->message = std::string(method ? "Actor method '" : "Function '") + name +
                   "' was not found in the worker process: register it with RAY_REMOTE(" + name +
                   ") in the program (or in a library on the code search path).";
    return;
  }
  ray::internal::BeginNestedRefCapture();
  try {
    if (method) {
      out->data = (*member)(actor_instance, args);
    } else {
      out->data = (*fn)(args);
    }
    if (kind == InvokeKind::kActorCreation) {
      auto handle = msgpack::unpack(out->data.data(), out->data.size());  // a small uint64
      out->actor_instance = handle.get().as<uint64_t>();
      out->actor_deleter = fm.GetActorDeleter(name);
    }
    out->nested = ray::internal::EndNestedRefCapture();
    out->code = InvokeOutcome::kOk;
  } catch (const IntentionalActorExit &) {
    ray::internal::EndNestedRefCapture();
    out->code = InvokeOutcome::kActorExited;
    out->message = "The actor exited: ray::ExitActor() was called in " + name + ".";
  } catch (const std::exception &e) {
    ray::internal::EndNestedRefCapture();
    out->code = InvokeOutcome::kUserException;
    out->message = "An exception was thrown while executing function(" + name +
                   "): " + Demangle(typeid(e).name()) + ": " + e.what();
  } catch (...) {
    ray::internal::EndNestedRefCapture();
    out->code = InvokeOutcome::kUserException;
    auto *type = abi::__cxa_current_exception_type();
    out->message = "An exception was thrown while executing function(" + name + "): unknown exception" +
                   (type ? " of type " + Demangle(type->name()) : "");
  }
}

}  // namespace lumen::api
