#include "base/status.h"

namespace lumen {

const char *StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "InvalidArgument";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kAlreadyExists:
      return "AlreadyExists";
    case StatusCode::kTimedOut:
      return "TimedOut";
    case StatusCode::kIoError:
      return "IOError";
    case StatusCode::kDisconnected:
      return "Disconnected";
    case StatusCode::kUnauthenticated:
      return "Unauthenticated";
    case StatusCode::kObjectStoreFull:
      return "ObjectStoreFull";
    case StatusCode::kTaskError:
      return "TaskError";
    case StatusCode::kWorkerDied:
      return "WorkerDied";
    case StatusCode::kActorDied:
      return "ActorDied";
    case StatusCode::kObjectLost:
      return "ObjectLost";
    case StatusCode::kCancelled:
      return "Cancelled";
    case StatusCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

}  // namespace lumen
