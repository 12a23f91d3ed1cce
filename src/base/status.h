// Status and StatusOr: how the runtime reports failure without throwing.
//
// Exceptions are reserved for the public API edge (src/api_runtime), which
// turns a Status into the matching ray::internal exception. Value types; no
// threading concerns.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace lumen {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kTimedOut,
  kIoError,          // socket or file failure
  kDisconnected,     // peer went away
  kUnauthenticated,  // wrong or missing cluster token
  kObjectStoreFull,
  kTaskError,   // user code threw
  kWorkerDied,  // a process the caller depends on died (worker, node, fork server)
  kActorDied,
  kObjectLost,
  kCancelled,
  kInternal,
};

const char *StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status TimedOut(std::string m) { return {StatusCode::kTimedOut, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Disconnected(std::string m) { return {StatusCode::kDisconnected, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status ObjectStoreFull(std::string m) { return {StatusCode::kObjectStoreFull, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string &message() const { return message_; }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }
  StatusOr(T value) : v_(std::move(value)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }
  T &value() & { return std::get<T>(v_); }
  const T &value() const & { return std::get<T>(v_); }
  T &&value() && { return std::get<T>(std::move(v_)); }
  T &operator*() & { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace lumen

#define LUMEN_RETURN_IF_ERROR(expr) \
  do {                              \
    ::lumen::Status _st = (expr);   \
    if (!_st.ok()) return _st;      \
  } while (0)

#define LUMEN_CONCAT_INNER(a, b) a##b
#define LUMEN_CONCAT(a, b) LUMEN_CONCAT_INNER(a, b)
#define LUMEN_ASSIGN_OR_RETURN(lhs, expr)                                               \
  auto LUMEN_CONCAT(_so_, __LINE__) = (expr);                                           \
  if (!LUMEN_CONCAT(_so_, __LINE__).ok()) return LUMEN_CONCAT(_so_, __LINE__).status(); \
  lhs = std::move(LUMEN_CONCAT(_so_, __LINE__)).value()
