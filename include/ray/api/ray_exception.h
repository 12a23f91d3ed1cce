// Exception types thrown by the public API (all in ray::internal, as in Ray).
//
// RayException derives from std::exception and exposes its message as the
// public member msg_; the more specific types below derive from it so that
// `catch (const ray::internal::RayException &)` sees every API error.
//
// Public header: must stay valid C++17.
#pragma once

#include <exception>
#include <string>

namespace ray {
namespace internal {

class RayException : public std::exception {
 public:
  RayException() = default;
  explicit RayException(const std::string &msg) : msg_(msg) {}
  const char *what() const noexcept override { return msg_.c_str(); }

  std::string msg_;
};

/// Get on the result of a task or actor method whose user code threw.
class RayTaskException : public RayException {
 public:
  using RayException::RayException;
};

/// Get on a call to a dead actor (killed, exited, crashed, failed creation).
class RayActorException : public RayException {
 public:
  using RayException::RayException;
};

/// The worker process died while running a normal task.
class RayWorkerException : public RayException {
 public:
  using RayException::RayException;
};

/// The object was lost, deleted, or its owner died.
class UnreconstructableException : public RayException {
 public:
  using RayException::RayException;
};

/// Worker side: the function name is not among the loaded functions.
class RayFunctionNotFound : public RayException {
 public:
  using RayException::RayException;
};

/// Bad RuntimeEnv Get/Set/Deserialize.
class RayRuntimeEnvException : public RayException {
 public:
  using RayException::RayException;
};

/// Get with a timeout that expired.
class RayTimeoutException : public RayException {
 public:
  using RayException::RayException;
};

}  // namespace internal
}  // namespace ray
