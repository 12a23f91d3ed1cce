// Calling a RAY_REMOTE function, actor factory or actor method by its
// registration key, shared by the cluster-mode worker executor
// (runtime_cluster.cc) and local mode (runtime_local.cc).
//
// InvokeRegisteredFunction looks the key up in ray::internal::FunctionManager,
// runs the invoker with nested-reference capture around it, and turns every
// outcome (a result, an unknown key, a user exception, ray::ExitActor()) into
// an InvokeOutcome instead of an exception. It runs on the calling thread and
// keeps no state, so any thread may call it.
#pragma once

#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <ray/api/function_manager.h>

namespace lumen::api {

/// Thrown by ray::ExitActor() inside an actor method. Not a std::exception,
/// so a user's catch (std::exception &) does not stop the exit.
struct IntentionalActorExit {};

enum class InvokeKind { kTask, kActorCreation, kActorMethod };

struct InvokeOutcome {
  enum Code {
    kOk,             // data holds the serialized result
    kNotFound,       // no function registered under the key
    kUserException,  // the user code threw; message says what
    kActorExited,    // ray::ExitActor() was called
  };
  Code code = kOk;
  ray::internal::SerializedResult data;
  /// ObjectRef ids serialized inside data (nested references).
  std::vector<std::string> nested;
  /// kActorCreation and kOk: the instance pointer the factory returned, and
  /// what destroys it (nullptr: it cannot be, see ray::internal::ActorDeleterFor).
  /// Whoever hosts the actor calls it once no method of it runs any more.
  uint64_t actor_instance = 0;
  ray::internal::ActorDeleter actor_deleter = nullptr;
  std::string message;  // set unless kOk
};

/// Runs the function registered under `name`. `actor_instance` is the actor
/// pointer for kActorMethod (ignored otherwise).
void InvokeRegisteredFunction(InvokeKind kind, const std::string &name, uint64_t actor_instance,
                              const std::vector<ray::internal::ArgView> &args, InvokeOutcome *out);

}  // namespace lumen::api
